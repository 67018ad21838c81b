"""ingest.sample_data: deterministic, realistic sample returns that keep the data contract.

The files are read back here with a small reader written from shared/spec/data-contract.md
(header spellings, labels, period formats, BOM, title rows, `data` sheet), not with the project's
parser, so these tests do not depend on it.
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingest import sample_data as sd
from ingest.reference import load_reference, squash

MONTHS = sd.month_range(date(2023, 1, 1), date(2024, 12, 1))
LONDON = ("BARTS", "ELFT", "IMPKHP", "NCL")
SOUTH_ASIAN = ("H", "J", "K", "L")
BLACK = ("M", "N", "P")
WHITE = ("A", "B", "C")

# The header spellings the data contract accepts, per canonical column.
HEADER_ALIASES = {
    "site_code": ("site_code", "site", "org_code", "provider_code"),
    "period": ("period", "month", "reporting_period", "period_start"),
    "measure_code": ("measure_code", "measure", "indicator"),
    "ethnic_category": ("ethnic_category", "ethnicity", "ethnic_code", "ethnic_group"),
    "numerator": ("numerator", "num", "events", "count"),
    "denominator": ("denominator", "denom", "population", "total"),
}
ALIAS = {squash(a): canon for canon, names in HEADER_ALIASES.items() for a in names}
TEXT_PERIOD_FORMATS = {
    "%Y-%m": "iso_month",
    "%Y-%m-%d": "iso_date",
    "%d/%m/%Y": "dmy",
    "%b-%Y": "mon_yyyy",
    "%B %Y": "month_yyyy",
}


# ---------------------------------------------------------------------------------------------
# A contract reader for the tests
# ---------------------------------------------------------------------------------------------


def _cells(path: Path) -> tuple[list[list], dict]:
    """The file's grid of cells (CSV text, or the contract's sheet of a workbook) and what was seen."""
    seen: dict = {"format": path.suffix.lstrip(".")}
    if path.suffix == ".csv":
        raw = path.read_bytes()
        seen["bom"] = raw.startswith(b"\xef\xbb\xbf")
        seen["crlf"] = b"\r\n" in raw
        return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))), seen
    sheets = pd.read_excel(path, sheet_name=None, header=None, engine="calamine")
    names = list(sheets)
    name = next((n for n in names if squash(n) == "data"), names[0])
    seen.update(sheets=names, sheet=name)
    grid = [
        [None if not isinstance(v, (datetime, date)) and pd.isna(v) else v for v in row]
        for row in sheets[name].itertuples(index=False)
    ]
    return grid, seen


def _month(value, seen: dict) -> date:
    if isinstance(value, (datetime, date)):
        seen.setdefault("periods", set()).add("excel_date")
        return date(value.year, value.month, 1)
    text = str(value).strip()
    for fmt, kind in TEXT_PERIOD_FORMATS.items():
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        seen.setdefault("periods", set()).add(kind)
        return date(parsed.year, parsed.month, 1)
    raise AssertionError(f"period {value!r} is not a format the contract accepts")


def _count(value) -> int:
    if isinstance(value, str):
        assert re.fullmatch(r"\d{1,3}(,\d{3})*|\d+", value.strip()), f"count {value!r}"
        return int(value.strip().replace(",", ""))
    assert float(value) == int(value) and value >= 0, f"count {value!r}"
    return int(value)


def read_return(path: Path, ref, site_codes) -> tuple[pd.DataFrame, dict]:
    """Rows of a site file in canonical codes, reading it as the contract describes."""
    grid, seen = _cells(path)
    lookup = ref.ethnic_lookup()
    for h, row in enumerate(grid):  # noqa: B007 (h is the header row, used after the loop)
        mapped = [ALIAS.get(squash(c)) if c is not None else None for c in row]
        if set(HEADER_ALIASES) <= set(mapped):
            break
    else:
        raise AssertionError(f"{path.name}: no header row with the six contract columns")
    seen["title_rows"] = h
    seen["headers"] = tuple(str(c) for c in grid[h] if c is not None)
    position = {canon: mapped.index(canon) for canon in HEADER_ALIASES}
    out = []
    for row in grid[h + 1 :]:
        if all(c is None or str(c).strip() == "" for c in row):
            continue
        site = str(row[position["site_code"]]).strip().upper()
        measure = str(row[position["measure_code"]]).strip()
        ethnic = row[position["ethnic_category"]]
        ethnic_text = "" if ethnic is None else str(ethnic)
        assert site in site_codes, f"{path.name}: site {site!r}"
        assert measure.upper() in ref.measure_codes, f"{path.name}: measure {measure!r}"
        assert squash(ethnic_text) in lookup, f"{path.name}: ethnic category {ethnic!r}"
        if ethnic_text.strip() == "":
            seen["blank_ethnic"] = True
        elif squash(ethnic_text) != squash(lookup[squash(ethnic_text)]):
            seen["labels"] = True
        if measure != measure.upper():
            seen["lower_measure"] = True
        out.append(
            (
                site,
                _month(row[position["period"]], seen),
                measure.upper(),
                lookup[squash(ethnic_text)],
                _count(row[position["numerator"]]),
                _count(row[position["denominator"]]),
            )
        )
    seen["extra"] = [str(c) for i, c in enumerate(grid[h]) if c is not None and i not in position.values()]
    frame = pd.DataFrame(out, columns=list(HEADER_ALIASES))
    return frame, seen


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ref():
    return load_reference()


@pytest.fixture(scope="module")
def rows():
    return sd.generate_rows(sd.default_profiles(), MONTHS)


@pytest.fixture(scope="module")
def returns(tmp_path_factory):
    dest = tmp_path_factory.mktemp("returns")
    paths = sd.write_returns(dest)
    return dest, paths


@pytest.fixture(scope="module")
def loaded(returns, ref):
    _, paths = returns
    return {p.name: read_return(p, ref, ref.site_codes) for p in paths}


def _pooled(df: pd.DataFrame) -> float:
    return df.numerator.sum() / df.denominator.sum()


# ---------------------------------------------------------------------------------------------
# Determinism and coverage
# ---------------------------------------------------------------------------------------------


def test_same_seed_writes_byte_identical_files(returns, tmp_path):
    dest, paths = returns
    again = sd.write_returns(tmp_path / "again")
    assert [p.name for p in again] == [p.name for p in paths]
    for first, second in zip(paths, again):
        assert first.read_bytes() == second.read_bytes(), first.name  # xlsx too


def test_another_seed_gives_other_numbers(rows):
    other = sd.generate_rows(sd.default_profiles(), MONTHS, seed=1)
    assert (other.denominator.to_numpy() != rows.denominator.to_numpy()).mean() > 0.5


def test_a_site_month_does_not_depend_on_the_other_sites_or_months(rows):
    profiles = {p.site_code: p for p in sd.default_profiles()}
    alone = sd.generate_rows([profiles["UHL"], profiles["BNSSG"]], [date(2024, 6, 1)])
    expected = rows[rows.site_code.isin(["UHL", "BNSSG"]) & (rows.period == "2024-06-01")]
    expected = expected.set_index(["site_code", "measure_code", "ethnic_category"]).sort_index()
    got = alone.set_index(["site_code", "measure_code", "ethnic_category"]).sort_index()
    pd.testing.assert_frame_equal(got, expected)


def test_ten_sites_by_24_months_one_file_each(returns, ref):
    dest, paths = returns
    assert len(paths) == 240
    stems = {p.stem for p in dest.iterdir()}
    assert stems == {f"{s}_{m:%Y-%m}" for s in ref.site_codes for m in MONTHS}
    assert {p.suffix for p in dest.iterdir()} == {".csv", ".xlsx"}


def test_every_measure_by_every_ethnic_code_in_each_site_month(rows, ref):
    assert set(rows.site_code) == set(ref.site_codes)
    assert set(rows.period) == {pd.Timestamp(m) for m in MONTHS}
    assert not rows.duplicated(["site_code", "period", "measure_code", "ethnic_category"]).any()
    cells = rows.groupby(["site_code", "period"])[["measure_code", "ethnic_category"]].apply(
        lambda g: set(zip(g.measure_code, g.ethnic_category))
    )
    wanted = {(m, e) for m in ref.measure_codes for e in ref.ethnic_codes}
    assert len(wanted) == 7 * 18
    assert len(cells) == 240 and all(c == wanted for c in cells)


def test_counts_are_whole_and_numerator_within_denominator(rows):
    assert rows.numerator.dtype == np.int64 and rows.denominator.dtype == np.int64
    assert (rows.numerator >= 0).all()
    assert (rows.numerator <= rows.denominator).all()
    assert rows.denominator.sum() > 0


def test_ptb34_never_exceeds_ptb37(rows):
    key = ["site_code", "period", "ethnic_category"]
    ptb = rows[rows.measure_code.isin(["PTB37", "PTB34"])].pivot_table(
        index=key, columns="measure_code", values=["numerator", "denominator"]
    )
    assert len(ptb) == 240 * 18
    assert (ptb[("numerator", "PTB34")] <= ptb[("numerator", "PTB37")]).all()
    assert (ptb[("denominator", "PTB34")] == ptb[("denominator", "PTB37")]).all()
    assert ptb[("numerator", "PTB34")].sum() > 0


def test_denominators_follow_their_definitions(rows):
    den = rows.pivot_table(
        index=["site_code", "period", "ethnic_category"], columns="measure_code", values="denominator"
    )
    assert (den.PPH1500 == den.GDMDIAG).all() and (den.PPH1500 == den.MHREFER).all()  # maternities
    per_site = den.groupby(level="site_code").sum()
    live_share = per_site.PTB37 / per_site.PPH1500
    booking_ratio = per_site.MHBOOK / per_site.PPH1500
    ng3_share = per_site.GDMOGTT / per_site.MHBOOK
    assert live_share.between(0.95, 0.985).all(), live_share
    assert booking_ratio.between(1.0, 1.1).all(), booking_ratio
    assert ng3_share.between(0.33, 0.55).all(), ng3_share


def test_only_the_designated_site_month_is_below_90_percent_complete(rows, ref):
    known = rows.ethnic_category.isin(ref.known_ethnic_codes)
    by = (
        rows.assign(known=rows.denominator.where(known, 0))
        .groupby(["site_code", "period", "measure_code"])[["known", "denominator"]]
        .sum()
    )
    completeness = by.known / by.denominator
    site, month = sd.LOW_COMPLETENESS_SITE_MONTH
    low = completeness.xs((site, pd.Timestamp(month)), level=["site_code", "period"])
    assert len(low) == 7 and (low < 0.85).all(), low
    others = completeness.drop(index=(site, pd.Timestamp(month)))
    assert len(others) == 239 * 7 and (others >= 0.9).all(), others.nsmallest(3)
    unknown_share = 1 - others.mean()
    assert 0.015 < unknown_share < 0.06  # unknown ethnicity is "a few per cent"


def test_low_completeness_site_month_is_documented():
    assert ("UHL", date(2024, 6, 1)) == sd.LOW_COMPLETENESS_SITE_MONTH
    assert "UHL 2024-06" in sd.__doc__


# ---------------------------------------------------------------------------------------------
# Realism
# ---------------------------------------------------------------------------------------------


def test_site_sizes_are_plausible(rows):
    profiles = sd.default_profiles()
    assert all(3000 <= p.births_per_year <= 9000 for p in profiles)
    maternities = rows[(rows.measure_code == "PPH1500")].groupby(["site_code", rows.period.dt.year]).denominator.sum()
    assert maternities.between(2800, 9500).all(), maternities
    monthly = rows[rows.measure_code == "PPH1500"].groupby(["site_code", "period"]).denominator.sum()
    spread = monthly.groupby(level="site_code").agg(lambda s: s.std() / s.mean())
    assert spread.between(0.02, 0.12).all(), spread  # small seasonal and random variation


def test_rates_are_near_england_levels(rows):
    rate = {m: _pooled(g) for m, g in rows.groupby("measure_code")}
    assert 0.025 <= rate["PPH1500"] <= 0.036, rate
    assert 0.058 <= rate["PTB37"] <= 0.072, rate
    assert 0.016 <= rate["PTB34"] <= 0.025, rate
    assert 0.86 <= rate["MHBOOK"] <= 0.94, rate
    assert 0.05 <= rate["MHREFER"] <= 0.08, rate
    assert 0.75 <= rate["GDMOGTT"] <= 0.85, rate
    assert 0.05 <= rate["GDMDIAG"] <= 0.09, rate


def test_gaps_between_ethnic_groups(rows):
    def rate(measure, codes):
        return _pooled(rows[(rows.measure_code == measure) & rows.ethnic_category.isin(codes)])

    assert rate("PPH1500", BLACK) / rate("PPH1500", WHITE) > 1.2
    assert rate("PTB37", BLACK) / rate("PTB37", WHITE) > 1.2
    assert rate("GDMDIAG", SOUTH_ASIAN) / rate("GDMDIAG", WHITE) > 2.0
    for measure in ("MHREFER", "GDMOGTT", "MHBOOK"):
        assert rate(measure, BLACK) < rate(measure, WHITE), measure
        assert rate(measure, SOUTH_ASIAN) < rate(measure, WHITE), measure


def test_ethnic_mix_differs_by_site(rows):
    mat = rows[rows.measure_code == "PPH1500"].pivot_table(
        index="site_code", columns="ethnic_category", values="denominator", aggfunc="sum"
    )
    share = mat.div(mat.sum(axis=1), axis=0)
    white = share[list(WHITE)].sum(axis=1)
    black = share[list(BLACK)].sum(axis=1)
    south_asian = share[list(SOUTH_ASIAN)].sum(axis=1)
    assert white["BNSSG"] > 0.75
    for site in LONDON:
        assert white[site] < 0.5 and white[site] < white["BNSSG"] - 0.3, site
        assert black[site] > 0.12, site
    assert share.K[["ELFT", "BARTS"]].min() > share.K.drop(["ELFT", "BARTS"]).max()  # Bangladeshi
    assert south_asian[["BSOL", "UHL"]].min() > 0.2
    assert share.J["BSOL"] > share.H["BSOL"] and share.H["UHL"] > share.J["UHL"]  # Pakistani / Indian
    for site in ("NCA", "LTH", "MFT"):
        assert white[site] > 0.5 and share.J[site] > 0.04, site


def test_programme_effect_is_modest_and_phased_in():
    assert sd._programme_weight("BARTS", date(2023, 12, 1)) == 0
    assert sd._programme_weight("BNSSG", date(2024, 6, 1)) == 0
    assert 0 < sd._programme_weight("BARTS", date(2024, 1, 1)) < sd._programme_weight("BARTS", date(2024, 3, 1))
    assert sd._programme_weight("BARTS", date(2024, 6, 1)) == sd._programme_weight("BARTS", date(2024, 12, 1)) == 0.25


# ---------------------------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------------------------


def test_every_file_reads_as_the_contract_says_and_matches_the_rows(returns, loaded, rows):
    _, paths = returns
    expected = rows.assign(period=rows.period.dt.date).set_index(["site_code", "period"]).sort_index()
    for path in paths:
        frame, _ = loaded[path.name]
        site, month = path.stem.split("_")
        month_start = date(int(month[:4]), int(month[5:]), 1)
        assert set(frame.site_code) == {site} and set(frame.period) == {month_start}, path.name
        want = expected.loc[(site, month_start)].reset_index(drop=True)
        got = frame.drop(columns=["site_code", "period"])
        key = ["measure_code", "ethnic_category"]
        got = got.sort_values(key).reset_index(drop=True)
        want = want.sort_values(key).reset_index(drop=True)
        assert len(got) == 126, path.name
        assert got[key].astype(str).equals(want[key].astype(str)), path.name
        assert got.numerator.tolist() == want.numerator.tolist(), path.name
        assert got.denominator.tolist() == want.denominator.tolist(), path.name


def test_every_variant_turns_up(returns, loaded):
    _, paths = returns
    seen = [loaded[p.name][1] for p in paths]
    csvs = [s for s in seen if s["format"] == "csv"]
    xlsxs = [s for s in seen if s["format"] == "xlsx"]
    canonical = [s for s in csvs if s["headers"] == sd.CANONICAL_HEADERS and not s["bom"] and not s["extra"]]
    assert len(canonical) > len(paths) / 2  # most files are canonical CSV
    assert 0.1 < len(xlsxs) / len(paths) < 0.35
    assert any(s["bom"] for s in csvs) and any(s["crlf"] for s in csvs)
    assert any(s["extra"] == ["notes"] for s in csvs)
    assert any(s.get("labels") for s in csvs) and any(s.get("labels") for s in xlsxs)
    assert any(s.get("blank_ethnic") for s in seen) and any(s.get("lower_measure") for s in seen)
    periods = set().union(*(s["periods"] for s in seen))
    assert periods == {"iso_month", "iso_date", "dmy", "mon_yyyy", "month_yyyy", "excel_date"}
    headers = {h for s in seen for h in s["headers"]}
    assert {"Site", "Reporting Period", "Indicator", "Ethnic Group", "Events", "Population", "org_code"} <= headers
    assert {s["title_rows"] for s in xlsxs} == {0, 1, 2} and {s["title_rows"] for s in csvs} == {0}
    assert any(s["sheet"] == "data" and s["sheets"][0] != "data" for s in xlsxs)  # data sheet not first
    assert any("data" not in s["sheets"] and len(s["sheets"]) > 1 for s in xlsxs)  # first sheet of several
    # every style of the rotation is used by every site (24 months > 20 slots)
    by_site: dict[str, set[str]] = {}
    for p in paths:
        site, month = p.stem.split("_")
        by_site.setdefault(site, set()).add(sd.style_for(site, date(int(month[:4]), int(month[5:]), 1)).name)
    assert all(styles == set(sd.STYLES) for styles in by_site.values())


def test_xlsx_files_hold_data_when_read_with_calamine(returns):
    _, paths = returns
    workbooks = [p for p in paths if p.suffix == ".xlsx"]
    assert workbooks
    for path in workbooks:
        sheets = pd.read_excel(path, sheet_name=None, header=None, engine="calamine")
        data = sheets.get("data", next(iter(sheets.values())))
        numbers = data.iloc[:, 4:6].apply(pd.to_numeric, errors="coerce").dropna()
        assert len(numbers) == 126, path.name
        assert (numbers.iloc[:, 0] <= numbers.iloc[:, 1]).all(), path.name


def test_excel_period_cells_are_real_dates(returns):
    _, paths = returns
    dated = []
    for path in paths:
        if sd.style_for(*_site_month(path)).period != "excel_date":
            continue
        data = pd.read_excel(path, sheet_name="data", header=None, engine="calamine")
        dated.append(path)
        assert any(isinstance(v, datetime) for v in data.iloc[:, 1]), path.name
    assert dated


def _site_month(path: Path) -> tuple[str, date]:
    site, month = path.stem.split("_")
    return site, date(int(month[:4]), int(month[5:]), 1)


def test_big_counts_are_written_with_thousands_separators(tmp_path, ref):
    big = sd.SiteProfile("BNSSG", 15000, {c: (0.96 if c == "A" else 0.04 / 17) for c in ref.ethnic_codes})
    month = next(m for m in sd.month_range(date(2023, 1, 1), date(2024, 12, 1)) if sd.style_for("BNSSG", m).thousands)
    (path,) = sd.write_returns(tmp_path, [big], month, month, set_mtime=False)
    text = path.read_text(encoding="utf-8-sig")
    assert re.search(r'"\d,\d{3}"', text), text[:400]
    frame, _ = read_return(path, ref, ref.site_codes)
    want = sd.generate_rows([big], [month])
    assert frame.denominator.sum() == want.denominator.sum() and frame.denominator.max() >= 1000


def test_plain_mode_writes_canonical_csv_only(tmp_path, rows):
    profiles = sd.default_profiles()[:2]
    paths = sd.write_returns(tmp_path, profiles, date(2024, 1, 1), date(2024, 3, 1), variants=False, set_mtime=False)
    assert len(paths) == 6 and all(p.suffix == ".csv" for p in paths)
    for path in paths:
        raw = path.read_bytes()
        assert raw.startswith(b"site_code,period,measure_code,ethnic_category,numerator,denominator\n")
        assert b"\r" not in raw and not raw.startswith(b"\xef\xbb\xbf")
        got = pd.read_csv(path, dtype={"ethnic_category": str}, keep_default_na=False)
        site, month = _site_month(path)
        want = rows[(rows.site_code == site) & (rows.period == pd.Timestamp(month))]
        assert got.ethnic_category.tolist() == want.ethnic_category.tolist()
        assert got.numerator.tolist() == want.numerator.tolist()
        assert got.denominator.tolist() == want.denominator.tolist()


def test_modification_times_follow_month_order(returns):
    _, paths = returns
    arrived = pd.DataFrame([(*_site_month(p), p.stat().st_mtime) for p in paths], columns=["site", "month", "mtime"])
    by_month = arrived.groupby("month").mtime.agg(["min", "max"]).sort_index()
    assert (by_month["min"].to_numpy()[1:] > by_month["max"].to_numpy()[:-1]).all()
    for row in arrived.itertuples():
        month_end = date(row.month.year + row.month.month // 12, row.month.month % 12 + 1, 1)
        delay = datetime.fromtimestamp(row.mtime, UTC) - datetime(
            month_end.year, month_end.month, month_end.day, tzinfo=UTC
        )
        assert timedelta(days=6) < delay < timedelta(days=14), (row.site, row.month, delay)


def test_set_mtime_false_leaves_times_alone(tmp_path):
    before = time.time() - 5
    (path,) = sd.write_returns(tmp_path, sd.default_profiles()[:1], date(2023, 1, 1), date(2023, 1, 1), set_mtime=False)
    assert path.stat().st_mtime >= before


# ---------------------------------------------------------------------------------------------
# Profiles, command line, speed
# ---------------------------------------------------------------------------------------------


def test_default_profiles_are_the_ten_sites_in_reference_order(ref):
    profiles = sd.default_profiles(ref)
    assert [p.site_code for p in profiles] == [
        "BARTS",
        "BSOL",
        "BNSSG",
        "ELFT",
        "IMPKHP",
        "LTH",
        "NCL",
        "NCA",
        "MFT",
        "UHL",
    ]
    for p in profiles:
        assert set(p.ethnic_mix) == set(ref.ethnic_codes)
        assert sum(p.ethnic_mix.values()) == pytest.approx(1.0)
        unknown = p.ethnic_mix["Z"] + p.ethnic_mix["99"]
        assert 0.015 <= unknown <= 0.05, p.site_code


def test_synthetic_profiles(ref):
    profiles = sd.synthetic_profiles(130)
    codes = [p.site_code for p in profiles]
    assert len(set(codes)) == 130 and codes[0] == "S001" and codes[-1] == "S130"
    assert sd.synthetic_profiles(130) == profiles  # deterministic
    assert sd.synthetic_profiles(130, seed=8) != profiles
    assert all(1500 <= p.births_per_year <= 15000 for p in profiles)
    assert all(set(p.ethnic_mix) == set(ref.ethnic_codes) for p in profiles)
    assert 3500 < np.mean([p.births_per_year for p in profiles]) < 6500
    assert [p.site_code for p in sd.synthetic_profiles(1000)][-1] == "S1000"


def test_profile_shares_must_sum_to_one():
    with pytest.raises(ValueError):
        sd.SiteProfile("X", 4000, {"A": 0.5})
    with pytest.raises(ValueError):
        sd.SiteProfile("X", 0, {"A": 1.0})


def test_command_line_writes_synthetic_sites(tmp_path, capsys):
    assert (
        sd.main(
            [str(tmp_path / "out"), "--sites", "3", "--start", "2024-01", "--end", "2024-02", "--plain", "--no-mtime"]
        )
        == 0
    )
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"S00{i}_2024-0{m}.csv" for i in (1, 2, 3) for m in (1, 2)]
    assert "wrote 6 files" in capsys.readouterr().out
    folder = sd.write_reference(tmp_path / "reference", sd.synthetic_profiles(3))
    synthetic_ref = load_reference(folder)
    assert synthetic_ref.site_codes == {"S001", "S002", "S003"}
    frame, _ = read_return(tmp_path / "out" / "S002_2024-02.csv", synthetic_ref, synthetic_ref.site_codes)
    assert len(frame) == 126


def test_national_scale_plain_csv_is_quick(tmp_path):
    started = time.perf_counter()
    paths = sd.write_returns(tmp_path, sd.synthetic_profiles(130), date(2020, 1, 1), date(2024, 12, 1), variants=False)
    took = time.perf_counter() - started
    assert len(paths) == 7800 and len(set(paths)) == 7800
    assert took < 30, f"{took:.1f} s for 7,800 files"
