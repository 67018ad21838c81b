"""publish.charts: PNGs are written and valid, and the HTML pages are offline and reference every PNG."""

from __future__ import annotations

import re
import struct
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from publish.charts import GROUP_COLOURS, draw_run_chart, group_colour, write_site_pages
from publish.run_charts import build_run_chart_points

START = date(2023, 1, 1)
GROUPS = ["White", "Asian or Asian British", "Black or Black British", "Mixed"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _points(sites=("BARTS", "ELFT"), measures=("PPH1500", "MHBOOK")) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    months = pd.date_range("2021-01-01", periods=36, freq="MS").date
    rows = []
    for site in sites:
        for measure in measures:
            for i, g in enumerate(GROUPS):
                v = rng.normal(5 + i, 0.7, months.size)
                v[30:] += 3  # a shift after the programme start
                v[3] = np.nan  # a month without data
                for stype in ("group_rate", "gap_vs_reference"):
                    vals = v if stype == "group_rate" else v - 5
                    rows += [
                        ("site", site, measure, stype, g, m, float(x), measure != "PPH1500")
                        for m, x in zip(months, vals)
                    ]
    # a national series without a site code
    rows += [
        ("national", None, "PPH1500", "group_rate", "White", m, float(x), False)
        for m, x in zip(months, rng.normal(4, 0.5, months.size))
    ]
    df = pd.DataFrame(
        rows,
        columns=[
            "geography_level",
            "site_code",
            "measure_code",
            "series_type",
            "ethnic_group",
            "month_start_date",
            "value",
            "higher_is_better",
        ],
    )
    return build_run_chart_points(df, START)


def _measures() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "measure_code": ["PPH1500", "MHBOOK"],
            "measure_name": ["PPH of 1500 ml or more", "Mental health enquiry at booking"],
            "unit": ["per 1000 maternities", "percent"],
        }
    )


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_draw_run_chart_writes_a_valid_png(tmp_path):
    pts = _points(sites=("BARTS",), measures=("PPH1500",))
    pts = pts[pts["site_code"] == "BARTS"]
    assert pts["ihi_shift"].any()
    out = draw_run_chart(pts, "BARTS: PPH", START, tmp_path / "sub" / "c.png", unit="per 1000 maternities")
    assert out == tmp_path / "sub" / "c.png"
    assert out.stat().st_size > 10_000
    w, h = _png_size(out)
    assert w >= 800 and h >= 400
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert img.shape[0] == h and img.shape[1] == w
    assert img[..., :3].std() > 0.05  # not a blank image


def test_group_colours_are_fixed_and_distinct():
    assert len(set(GROUP_COLOURS.values())) == len(GROUP_COLOURS)
    assert group_colour("White") == GROUP_COLOURS["White"]
    assert group_colour("Some new group") == group_colour("Some new group")


def test_write_site_pages(tmp_path):
    pts = _points()
    written = write_site_pages(pts, _measures(), tmp_path, START)
    pngs = sorted(p for p in written if p.suffix == ".png")
    pages = sorted(p for p in written if p.suffix == ".html" and p.name != "index.html")
    assert {p.relative_to(tmp_path).as_posix() for p in pngs} == {
        "BARTS/MHBOOK.png",
        "BARTS/PPH1500.png",
        "ELFT/MHBOOK.png",
        "ELFT/PPH1500.png",
        "national/PPH1500.png",
    }
    assert [p.name for p in pages] == ["BARTS.html", "ELFT.html", "national.html"]
    assert (tmp_path / "index.html") in written
    for p in pngs:
        assert p.exists() and p.stat().st_size > 10_000
        _png_size(p)
    referenced = set()
    for page in pages:
        text = page.read_text(encoding="utf-8")
        srcs = re.findall(r'<img src="([^"]+)"', text)
        for s in srcs:
            assert not s.startswith(("http:", "https:", "//", "/")), s
            assert (tmp_path / s).exists(), s
        referenced |= {(tmp_path / s).resolve() for s in srcs}
        assert "<script" not in text and "http://" not in text and "https://" not in text
        assert 'href="index.html"' in text
        assert "per 1000 maternities" in text or page.name == "national.html"
    assert referenced == {p.resolve() for p in pngs}
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    for page in pages:
        assert f'href="{page.name}"' in index
    assert "http" not in index
    assert "Jan 2021 to Dec 2023" in index  # the data period


def test_write_site_pages_unknown_measure_metadata(tmp_path):
    pts = _points(sites=("BARTS",), measures=("GDMDIAG",))
    pts = pts[pts["site_code"] == "BARTS"]
    written = write_site_pages(pts, _measures(), tmp_path, START)
    assert (tmp_path / "BARTS" / "GDMDIAG.png") in written
    assert "GDMDIAG" in (tmp_path / "BARTS.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("bad", ["a/b", "x y", "..", "", "index", "../../etc"])
def test_page_names_are_safe(tmp_path, bad):
    pts = _points(sites=("BARTS",), measures=("PPH1500",))
    pts = pts[pts["site_code"] == "BARTS"].copy()
    pts["site_code"] = bad or None
    pts["geography_level"] = "site"
    written = write_site_pages(pts, _measures(), tmp_path, START)
    for p in written:
        assert tmp_path.resolve() in p.resolve().parents
    assert (tmp_path / "index.html").read_text(encoding="utf-8").count("<tr><td>") == 1


def _ratios(pts: pd.DataFrame) -> pd.DataFrame:
    gaps = pts[pts["series_type"] == "gap_vs_reference"].copy()
    rng = np.random.default_rng(4)
    gaps["rate_ratio"] = np.exp(rng.normal(0.3, 0.2, len(gaps)))
    gaps["rate_ratio_lower_95"] = gaps["rate_ratio"] / 1.8
    gaps["rate_ratio_upper_95"] = gaps["rate_ratio"] * 1.8
    return gaps[
        [
            "geography_level",
            "site_code",
            "measure_code",
            "ethnic_group",
            "month_start_date",
            "rate_ratio",
            "rate_ratio_lower_95",
            "rate_ratio_upper_95",
        ]
    ]


def _reports() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site_code": ["BARTS", "BARTS", "BARTS"],
            "month_start_date": [date(2023, 3, 1), date(2023, 6, 1), date(2023, 6, 1)],
            "measure_code": [None, "PPH1500", "MHBOOK"],
            "change_idea": ["Safety huddle every shift", "Quantified blood loss", "Interpreter at booking"],
            "pdsa_stage": ["Do", "study", "plan"],
            "narrative": ["Huddles started on both units.", "Weighed swabs in every birth.", ""],
            "submission_id": ["a", "b", "c"],
        }
    )


def _status() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site_code": ["BARTS", "BARTS"],
            "month_start_date": [date(2023, 11, 1), date(2023, 12, 1)],
            "status": ["loaded", "missing"],
            "submission_id": ["x", None],
            "file_name": ["BARTS_2023-11.csv", None],
            "received_at": [None, None],
            "problems": ["", ""],
            "due_date": [date(2023, 12, 15), date(2024, 1, 15)],
            "is_overdue": [False, True],
            "report_received": [True, False],
        }
    )


def test_small_multiples_with_gap_panel_and_changes(tmp_path):
    pts = _points(sites=("BARTS",), measures=("PPH1500",))
    pts = pts[pts["site_code"] == "BARTS"]
    plain = draw_run_chart(pts, "BARTS: PPH", START, tmp_path / "plain.png")
    from publish.charts import _annotations

    full = draw_run_chart(
        pts, "BARTS: PPH", START, tmp_path / "full.png", ratios=_ratios(pts), changes=_annotations(_reports())
    )
    w0, h0 = _png_size(plain)
    w1, h1 = _png_size(full)
    assert w1 >= w0 and h1 > h0  # a panel more for the gap and the key of changes under the panels


def test_site_page_has_reports_status_changes_and_prints(tmp_path):
    pts = _points(sites=("BARTS",), measures=("PPH1500", "MHBOOK"))
    lan = pts[pts["site_code"] == "BARTS"].assign(geography_level="lan", site_code="LAN")
    pts = pd.concat([pts[pts["site_code"] == "BARTS"], lan], ignore_index=True)
    sites = pd.DataFrame({"site_code": ["BARTS"], "team_name": ["Barts Health NHS Trust"]})
    (tmp_path / "did-the-gap-narrow.html").write_text("<html></html>", encoding="utf-8")
    stats: dict = {}
    kwargs = dict(sites=sites, ratios=_ratios(pts), status=_status(), workers=1, stats=stats)
    write_site_pages(pts, _measures(), tmp_path, START, reports=_reports(), **kwargs)
    page = (tmp_path / "BARTS.html").read_text(encoding="utf-8")
    assert "Barts Health NHS Trust" in page and "@media print" in page
    assert 'href="did-the-gap-narrow.html"' in page
    assert page.index('id="reports"') < page.index('id="status"')
    assert "Weighed swabs in every birth." in page and "Huddles started on both units." in page
    assert "June 2023" in page and "March 2023" in page and "BARTS_2023-11.csv" in page
    # the site-wide change is on both measures' charts; the measure's change on its own chart only
    pph = page[page.index('id="PPH1500"') :]
    pph = pph[: pph.index("</section>")]
    mh = page[page.index('id="MHBOOK"') :]
    mh = mh[: mh.index("</section>")]
    assert "Safety huddle every shift" in pph and "Safety huddle every shift" in mh
    assert "Quantified blood loss" in pph and "Quantified blood loss" not in mh
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert index.index('href="LAN.html"') < index.index('href="BARTS.html"')  # the LAN first
    assert "Barts Health NHS Trust" in index and "Learning and Action Network" in index
    assert stats["charts_drawn"] == 4

    # redrawn only when the data or the reports change: a new report redraws that site's charts only
    before = (tmp_path / "index.html").stat().st_mtime_ns
    write_site_pages(pts, _measures(), tmp_path, START, reports=_reports(), **kwargs)
    assert stats["charts_drawn"] == 0 and (tmp_path / "index.html").stat().st_mtime_ns == before
    more = pd.concat([_reports(), _reports().iloc[[1]].assign(month_start_date=date(2023, 9, 1))], ignore_index=True)
    write_site_pages(pts, _measures(), tmp_path, START, reports=more, **kwargs)
    assert stats["charts_drawn"] == 1  # BARTS PPH1500 only

    # no reports table in the warehouse: no annotations, and the page says so
    write_site_pages(pts, _measures(), tmp_path, START, reports=None, **kwargs)
    assert "No monthly reports are published" in (tmp_path / "BARTS.html").read_text(encoding="utf-8")


def test_index_signals_name_each_pages_latest_month(tmp_path):
    """The index's data period and latest signals per page: point signals of the latest month (at most six named),
    the count of series with a runs signal, "no data" for a page without values, and a page with only gap series
    judged on those."""
    months = [date(2024, m, 1) for m in (1, 2, 3)]

    def rows(page, series_type, group, measure, values, flags=()):
        return [
            {
                "_page": page,
                "site_code": page,
                "geography_level": "site",
                "measure_code": measure,
                "series_type": series_type,
                "ethnic_group": group,
                "month_start_date": month,
                "value": value,
                "ihi_shift": (i == 2 and "shift" in flags) or None,
                "sigma_signal": i == 2 and "outside" in flags,
                "ihi_trend": i == 1 and "trend" in flags,  # not the latest month: not named
                "ihi_astronomical": False,
                "runs_signal": "runs" in flags,
            }
            for i, (month, value) in enumerate(zip(months, values))
        ]

    pts = pd.DataFrame(
        rows("A", "group_rate", "White", "M1", [1.0, 2.0, 3.0], ("shift", "outside", "trend", "runs"))
        + rows("A", "group_rate", "Asian", "M1", [1.0, 2.0, None], ("shift",))  # its last value is missing
        + rows("A", "gap_vs_reference", "Asian", "M1", [1.0, 2.0, 3.0], ("outside",))  # a gap: not a rate
        + rows("B", "group_rate", "White", "M1", [None, None, None], ("runs",))
        + rows("C", "gap_vs_reference", "Black", "M2", [0.5, None, None], ("runs",))
        + [r for g in "GHIJKLM" for r in rows("D", "group_rate", g, "M1", [1.0, 1.0, 1.0], ("shift",))]
    )
    from publish.charts import _latest_signals

    found = _latest_signals(pts)

    assert found["A"] == (
        "Jan 2024 to Mar 2024",
        "<strong>Mar 2024</strong>: M1 &middot; White: outside limits, shift"
        '<br><span class="muted">Anh&oslash;j runs signal in 1 series</span>',
    )
    assert found["B"] == ("no data", "")
    assert found["C"] == (
        "Jan 2024 to Jan 2024",
        '<strong>Jan 2024</strong>: no point signal<br><span class="muted">Anh&oslash;j runs signal in 1 series</span>',
    )
    shown = "; ".join(f"M1 &middot; {g}: shift" for g in "GHIJKL")
    assert found["D"] == ("Jan 2024 to Mar 2024", f"<strong>Mar 2024</strong>: {shown}; and 1 more")
