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
    assert (tmp_path / "index.html").read_text(encoding="utf-8").count("<li>") == 1
