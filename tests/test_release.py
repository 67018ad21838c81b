"""Evaluation releases (publish/release.py): structure, manifest, disclosure, determinism, all-or-nothing.

Under both rules a count from 1 to 7 is `*` in CSV and null in Parquet, so every release passes the
acceptance check (shared/acceptance/check_interface.py); under msds the statistics of such a row are
computed as if the count were 5.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import re
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish import release as release_module
from publish.disclosure import DisclosureRule, count_value_problem
from publish.release import (
    RELEASE_TABLES,
    ReleaseError,
    TableSpec,
    build_release,
    check_release,
    latest_release,
    read_manifest,
    same_as_latest,
)

HERE = Path(__file__).resolve().parent
ACCEPTANCE = Path(__file__).resolve().parent / "acceptance" / "check_interface.py"
MSDS, HES = DisclosureRule("msds"), DisclosureRule("hes")
T1 = datetime(2026, 11, 22, 10, 30, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 22, 11, 0, 0, tzinfo=UTC)
EXTRACT = re.compile(r".+\.(parquet|csv)$")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


try:
    from publish.gap_metrics import add_statistics
except ImportError:  # not written yet: the release mechanics are tested with a plain stand-in
    add_statistics = _load("_lan_test_disclosure", HERE / "test_disclosure.py").stub_add_statistics


# --- a small warehouse ---------------------------------------------------------------------------

TABLES = {
    name: RELEASE_TABLES[name]
    for name in (
        "dim_measure",
        "fct_measure_monthly",
        "fct_ethnicity_completeness",
        "fct_submission_status",
        "gap_metrics",
    )
}
GROUPS = {"A": "White", "B": "White", "H": "Asian or Asian British", "N": "Black or Black British"}
CODES = ["A", "B", "H", "N", "Z", "99"]
SITES = ["BARTS", "BSOL"]
MONTHS = [date(2024, 2, 1), date(2024, 3, 1)]
MEASURES = ["PPH1500", "MHBOOK"]


def _facts(small: bool) -> pd.DataFrame:
    rng = np.random.default_rng(20241122)
    rows = []
    for site in SITES:
        for month in MONTHS:
            for measure in MEASURES:
                for code in CODES:
                    denominator = int(rng.integers(0, 60))
                    numerator = int(rng.integers(0, denominator + 1))
                    if not small:  # every count 0 or at least 8
                        if denominator < 8:
                            denominator = 0
                        numerator = 0 if numerator < 8 else numerator
                    rows.append((site, month, measure, code, numerator, denominator, f"{site}-{month:%Y-%m}-1", True))
    facts = pd.DataFrame(
        rows,
        columns=[
            "site_code",
            "month_start_date",
            "measure_code",
            "ethnic_code",
            "numerator",
            "denominator",
            "submission_id",
            "meets_completeness_threshold",
        ],
    )
    if small:  # make sure there are counts of 1..7 and the docstring's 1 + 8 + 8 case
        facts.loc[0, ["numerator", "denominator"]] = [1, 3]
        facts.loc[1, ["numerator", "denominator"]] = [8, 30]
        # BARTS, 2024-02, PPH1500, H: gap_metrics' Asian or Asian British row there is 3 of 40
        facts.loc[2, ["numerator", "denominator"]] = [3, 40]
    return facts


def _gap(facts: pd.DataFrame) -> pd.DataFrame:
    known = facts[facts["ethnic_code"].isin(GROUPS)].assign(ethnic_group=lambda f: f["ethnic_code"].map(GROUPS))
    site = (
        known.groupby(["site_code", "month_start_date", "measure_code", "ethnic_group"], as_index=False)[
            ["numerator", "denominator"]
        ]
        .sum()
        .assign(geography_level="site")
    )
    lan = (
        known.groupby(["month_start_date", "measure_code", "ethnic_group"], as_index=False)[
            ["numerator", "denominator"]
        ]
        .sum()
        .assign(geography_level="lan", site_code="LAN")
    )
    gap = pd.concat([site, lan], ignore_index=True)
    gap["period_type"] = "month"
    gap["period_label"] = gap["month_start_date"].map(lambda d: f"{d:%Y-%m}")
    gap["period_start"] = gap["period_end"] = gap["month_start_date"]
    gap["reference_group"] = "White"
    keys = ["geography_level", "site_code", "measure_code", "period_label"]
    reference = gap[gap["ethnic_group"] == "White"].set_index(keys)[["numerator", "denominator"]]
    joined = gap.join(reference, on=keys, rsuffix="_ref")
    gap["reference_numerator"], gap["reference_denominator"] = joined["numerator_ref"], joined["denominator_ref"]
    gap["multiplier"] = gap["measure_code"].map({"PPH1500": 1000, "MHBOOK": 100})
    gap["higher_is_better"] = gap["measure_code"].map({"PPH1500": False, "MHBOOK": True})
    gap["is_reference"] = gap["ethnic_group"] == "White"
    gap = add_statistics(gap)  # from the TRUE counts, as the warehouse holds them
    gap["meets_completeness_threshold"] = True
    gap["months_flagged"], gap["n_months"] = 0, 1
    columns = [
        "geography_level",
        "site_code",
        "measure_code",
        "period_type",
        "period_label",
        "period_start",
        "period_end",
        "ethnic_group",
        "numerator",
        "denominator",
        "rate",
        "rate_lower_95",
        "rate_upper_95",
        "reference_group",
        "reference_numerator",
        "reference_denominator",
        "reference_rate",
        "rate_ratio",
        "rate_ratio_lower_95",
        "rate_ratio_upper_95",
        "rate_difference",
        "rate_difference_lower_95",
        "rate_difference_upper_95",
        "excess_events",
        "gap_assessment",
        "meets_completeness_threshold",
        "months_flagged",
        "n_months",
        "multiplier",
        "higher_is_better",
        "is_reference",
    ]
    return gap[columns]


def make_warehouse(path: Path, small: bool = True, facts: pd.DataFrame | None = None) -> Path:
    facts = _facts(small) if facts is None else facts
    completeness = (
        facts.assign(known=facts["ethnic_code"].isin(GROUPS))
        .groupby(["site_code", "month_start_date", "measure_code", "submission_id"], as_index=False)
        .apply(
            lambda g: pd.Series(
                {
                    "denominator_total": g["denominator"].sum(),
                    "denominator_known": g.loc[g["known"], "denominator"].sum(),
                }
            ),
            include_groups=False,
        )
    )
    completeness["completeness"] = completeness["denominator_known"] / completeness["denominator_total"]
    completeness["completeness_threshold"] = 0.9
    completeness["meets_completeness_threshold"] = completeness["completeness"] >= 0.9
    status = pd.DataFrame(
        [
            (
                s,
                m,
                "loaded",
                f"{s}-{m:%Y-%m}-1",
                f"{s}_{m:%Y-%m}.csv",
                datetime(2024, m.month + 1, 5, 9, 30),
                "row 7, column 'numerator', value '3': ...",
            )
            for s in SITES
            for m in MONTHS
        ],
        columns=["site_code", "month_start_date", "status", "submission_id", "file_name", "received_at", "problems"],
    )
    measures = pd.read_csv(
        Path(__file__).resolve().parents[1] / "dbt_project" / "reference" / "measures.csv",
        dtype={"higher_is_better": "boolean"},
    ).drop(columns=["condition_name", "basis"])
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        for name, frame in (
            ("dim_measure", measures),
            ("fct_measure_monthly", facts),
            ("fct_ethnicity_completeness", completeness),
            ("fct_submission_status", status),
            ("gap_metrics", _gap(facts)),
        ):
            con.register("frame", frame)
            con.execute(f"create table marts.{name} as select * from frame")
            con.unregister("frame")
        for table, column in (
            ("fct_measure_monthly", "month_start_date"),
            ("fct_ethnicity_completeness", "month_start_date"),
            ("fct_submission_status", "month_start_date"),
            ("gap_metrics", "period_start"),
            ("gap_metrics", "period_end"),
        ):
            con.execute(f"alter table marts.{table} alter {column} type date")
    finally:
        con.close()
    return path


def make_dictionary(db: Path) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' order by table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    rows = [(t, "", "table", f"What {t} holds.") for t in sorted({c[0] for c in columns})]
    rows += [(t, c, kind, f"The {c} of {t}.") for t, c, kind in columns]
    return pd.DataFrame(rows, columns=["table", "column", "type", "meaning"])


SUBMISSIONS = pd.DataFrame(
    [
        (
            f"{s}-{m:%Y-%m}-1",
            s,
            m,
            f"{s}_{m:%Y-%m}.csv",
            hashlib.sha256(f"{s}{m}".encode()).hexdigest(),
            pd.Timestamp(2024, m.month + 1, 5, 9, 30),
        )
        for s in SITES
        for m in MONTHS
    ],
    columns=["submission_id", "site_code", "month_start_date", "file_name", "checksum", "received_at"],
)


@pytest.fixture
def warehouse(tmp_path) -> Path:
    return make_warehouse(tmp_path / "warehouse.duckdb")


def build(db: Path, dest: Path, rule=MSDS, created_at=T1, tables=None, dictionary=None, **kwargs) -> Path:
    return build_release(
        db,
        dest,
        TABLES if tables is None else tables,
        make_dictionary(db) if dictionary is None else dictionary,
        SUBMISSIONS,
        rule,
        "abc123def456",
        created_at,
        statistics=add_statistics,
        **kwargs,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def acceptance_problems(release: Path) -> list[str]:
    """check_release of shared/acceptance/check_interface.py (the definition of done) on one release."""
    checker = _load("_lan_check_interface", ACCEPTANCE)
    checker.problems.clear()
    checker.check_release(release)
    return list(checker.problems)


COUNTS = (
    "numerator",
    "denominator",
    "denominator_total",
    "denominator_known",
    "reference_numerator",
    "reference_denominator",
)


def small_counts_in_files(release: Path) -> list[str]:
    """Every count from 1 to 7 (5 included) in a count column of any CSV or Parquet file of the release."""
    found = []
    for path in sorted(release.glob("*.csv")):
        for line, row in enumerate(read_csv(path), start=2):
            for column in COUNTS:
                value = row.get(column, "")
                if value not in ("", "*") and 1 <= float(value) <= 7:
                    found.append(f"{path.name}:{line}:{column}={value}")
    for path in sorted(release.glob("*.parquet")):
        table = pq.read_table(path)
        for column in COUNTS:
            if column in table.column_names:
                found += [
                    f"{path.name}:{column}={v}"
                    for v in table.column(column).to_pylist()
                    if v is not None and 1 <= v <= 7
                ]
    return found


# --- structure and manifest ----------------------------------------------------------------------


def test_release_structure(warehouse, tmp_path):
    dest = tmp_path / "evaluation"
    release = build(warehouse, dest)
    assert release.parent == dest and release.name == "2026-11-22T10-30-00Z"
    assert sorted(p.name for p in dest.iterdir()) == [release.name]  # no staging folder left behind
    expected = {f"{t}.{ext}" for t in TABLES for ext in ("parquet", "csv")}
    assert {p.name for p in release.iterdir()} == expected | {"data_dictionary.csv", "README.md", "manifest.json"}
    assert check_release(release) == []
    readme = (release / "README.md").read_text(encoding="utf-8")
    for text in (
        "2026-11-22T10-30-00Z",
        "abc123def456",
        "1 to 7",
        "How to cite",
        "imprecise",
        "gap_metrics",
        "`problems`",
    ):
        assert text in readme
    assert "SYNTHETIC" not in readme


def test_manifest_lists_everything(warehouse, tmp_path):
    release = build(warehouse, tmp_path / "evaluation")
    manifest = read_manifest(release)
    assert manifest["release_id"] == release.name and manifest["created_at"] == "2026-11-22T10:30:00Z"
    assert manifest["code_version"] == "abc123def456" and manifest["synthetic"] is False
    assert manifest["disclosure_rule"] == {"name": "msds", "description": MSDS.description}
    others = sorted(p.name for p in release.iterdir() if p.name != "manifest.json")
    assert sorted(manifest["files"]) == others
    for name, entry in manifest["files"].items():
        data = (release / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    for table, entry in manifest["tables"].items():
        assert (
            entry["rows"]
            == len(read_csv(release / f"{table}.csv"))
            == pq.read_table(release / f"{table}.parquet").num_rows
        )
        assert entry["key"] == list(TABLES[table].sort_keys)
    assert manifest["tables"]["gap_metrics"]["count_columns"] == [
        "numerator",
        "denominator",
        "reference_numerator",
        "reference_denominator",
    ]
    assert len(manifest["submissions"]) == len(SUBMISSIONS)
    first = manifest["submissions"][0]
    assert first == {
        "submission_id": "BARTS-2024-02-1",
        "site_code": "BARTS",
        "month_start_date": "2024-02-01",
        "file_name": "BARTS_2024-02.csv",
        "checksum": hashlib.sha256(b"BARTS2024-02-01").hexdigest(),
        "received_at": "2024-03-05T09:30:00",
    }


def test_data_dictionary_describes_every_released_column(warehouse, tmp_path):
    release = build(warehouse, tmp_path / "evaluation")
    rows = read_csv(release / "data_dictionary.csv")
    assert list(rows[0]) == ["table", "column", "type", "meaning"]
    described = {(r["table"], r["column"]) for r in rows if r["meaning"]}
    for table in TABLES:
        header = next(csv.reader((release / f"{table}.csv").open(encoding="utf-8")))
        assert {(table, c) for c in header} | {(table, "")} <= described
    assert ("fct_submission_status", "problems") not in described  # withheld, so not described either


# --- disclosure ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [MSDS, HES])
def test_no_file_holds_a_count_from_1_to_7(warehouse, tmp_path, rule):
    release = build(warehouse, tmp_path / "evaluation", rule=rule)
    seen_small_mark = False
    for path in release.glob("*.csv"):
        for row in read_csv(path):
            for column in (*COUNTS, "excess_events"):
                if column in row:
                    value = row[column]
                    assert count_value_problem(value, rule, derived=column == "excess_events") is None, (path, row)
                    if value not in ("", "*"):
                        number = float(value)
                        assert number == int(number) and int(number) % 5 == 0
                        # excess_events (derived, not a count) may be +-5; a count column never holds a 5
                        assert not 1 <= abs(number) <= 7 or (abs(number) == 5 and column == "excess_events")
                    seen_small_mark |= value == "*"
    assert seen_small_mark  # the test data has small counts, and they were caught
    assert small_counts_in_files(release) == []


@st.composite
def fact_tables(draw) -> pd.DataFrame:
    """fct_measure_monthly for one month and measure at both sites, counts weighted towards 0..20."""
    rows = []
    for site in SITES:
        for code in CODES:
            denominator = draw(st.one_of(st.integers(0, 20), st.integers(0, 2000)))
            numerator = draw(st.integers(0, denominator))
            rows.append((site, MONTHS[0], "PPH1500", code, numerator, denominator, f"{site}-{MONTHS[0]:%Y-%m}-1", True))
    return pd.DataFrame(
        rows,
        columns=[
            "site_code",
            "month_start_date",
            "measure_code",
            "ethnic_code",
            "numerator",
            "denominator",
            "submission_id",
            "meets_completeness_threshold",
        ],
    )


@given(fact_tables(), st.sampled_from([MSDS, HES]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_no_file_of_any_release_holds_a_count_from_1_to_7(facts, rule):
    with tempfile.TemporaryDirectory() as folder:
        db = make_warehouse(Path(folder) / "warehouse.duckdb", facts=facts)
        release = build(db, Path(folder) / "evaluation", rule=rule)
        assert small_counts_in_files(release) == []
        assert acceptance_problems(release) == []
        assert check_release(release) == []
        gap = pq.read_table(release / "gap_metrics.parquet").to_pandas()
        hidden = gap["numerator"].isna() | gap["denominator"].isna()  # no count is missing: null = hidden
        assert (gap.loc[hidden, "rate"].isna() == rule.suppresses).all()


@pytest.mark.parametrize("rule", [MSDS, HES])
def test_small_counts_show_star_in_csv_and_null_in_parquet(warehouse, tmp_path, rule):
    release = build(warehouse, tmp_path / "evaluation", rule=rule)
    rows = read_csv(release / "fct_measure_monthly.csv")
    parquet = pq.read_table(release / "fct_measure_monthly.parquet").to_pylist()
    at = next(
        i
        for i, r in enumerate(rows)
        if (r["site_code"], r["month_start_date"], r["measure_code"], r["ethnic_code"])
        == ("BARTS", "2024-02-01", "PPH1500", "A")
    )
    assert rows[at]["numerator"] == "*" and rows[at]["denominator"] == "*"  # 1 of 3
    assert parquet[at]["numerator"] is None and parquet[at]["denominator"] is None
    gap = read_csv(release / "gap_metrics.csv")
    starred = [row for row in gap if row["numerator"] == "*" or row["denominator"] == "*"]
    assert starred
    for row in starred:
        if rule.suppresses:  # hes: the statistics that need a hidden count are withheld
            assert row["rate"] == row["rate_lower_95"] == row["rate_ratio"] == row["excess_events"] == ""
            assert row["gap_assessment"] in ("not calculable", "reference")
        else:  # msds: they are computed as if the count were 5
            assert row["rate"] != "" and row["rate_lower_95"] != "" and row["rate_upper_95"] != ""
    readme = (release / "README.md").read_text(encoding="utf-8")
    assert "A `*` in a CSV file (null in Parquet) is a count from 1 to 7" in readme
    assert ("as if it were 5" in readme) != rule.suppresses


def test_msds_hides_a_numerator_of_3_but_computes_its_rate_from_5(warehouse, tmp_path):
    release = build(warehouse, tmp_path / "evaluation", rule=MSDS)
    key = ("site", "BARTS", "PPH1500", "month", "2024-02", "Asian or Asian British")  # 3 of 40 in the warehouse
    fields = ("geography_level", "site_code", "measure_code", "period_type", "period_label", "ethnic_group")
    rows = read_csv(release / "gap_metrics.csv")
    parquet = pq.read_table(release / "gap_metrics.parquet").to_pylist()
    at = next(i for i, r in enumerate(rows) if tuple(r[f] for f in fields) == key)
    assert tuple(parquet[at][f] for f in fields) == key
    assert rows[at]["numerator"] == "*" and parquet[at]["numerator"] is None
    assert rows[at]["denominator"] == "40" and parquet[at]["denominator"] == 40
    assert float(rows[at]["rate"]) == parquet[at]["rate"] == pytest.approx(5 / 40 * 1000)  # multiplier 1000
    assert parquet[at]["rate_lower_95"] < parquet[at]["rate"] < parquet[at]["rate_upper_95"]
    reference = next(r for r in parquet if tuple(r[f] for f in fields[:5]) == key[:5] and r["is_reference"])
    assert parquet[at]["reference_rate"] == pytest.approx(reference["numerator"] / reference["denominator"] * 1000)
    assert parquet[at]["rate_ratio"] == pytest.approx(parquet[at]["rate"] / parquet[at]["reference_rate"])
    assert parquet[at]["gap_assessment"] != "not calculable"
    hes = pq.read_table(build(warehouse, tmp_path / "hes", rule=HES) / "gap_metrics.parquet").to_pylist()[at]
    assert hes["numerator"] is None and hes["denominator"] == 40 and hes["rate"] is None


def test_gap_statistics_come_from_the_rounded_counts(warehouse, tmp_path):
    release = build(warehouse, tmp_path / "evaluation")
    gap = pd.read_parquet(release / "gap_metrics.parquet")
    con = duckdb.connect(str(warehouse), read_only=True)
    true = con.sql("select * from marts.gap_metrics").df()
    con.close()
    assert set(gap.columns) == set(true.columns)
    # no count is missing in this warehouse, so a null count is a hidden one: computed with as 5 (msds)
    numerator, denominator = (gap[c].astype("Float64").fillna(5).astype(float) for c in ("numerator", "denominator"))
    expected = numerator / denominator.where(denominator > 0) * gap["multiplier"]
    assert gap["numerator"].isna().any() and gap["rate"].notna().all()
    assert np.allclose(gap["rate"], expected, equal_nan=True)
    assert (gap["rate"].isna() | (gap["rate"] >= gap["rate_lower_95"] - 1e-9)).all()
    assert (gap.loc[gap["gap_assessment"] == "reference", "rate_ratio"].dropna() == 1).all()
    assert (gap["excess_events"].dropna() % 5 == 0).all()
    merged = gap.merge(true, on=list(TABLES["gap_metrics"].sort_keys), suffixes=("", "_true"))
    assert (merged["rate"] != merged["rate_true"]).any()  # the true rates did not travel
    reference = gap[gap["is_reference"]].set_index(["site_code", "measure_code", "period_label"])
    joined = gap.join(
        reference[["numerator", "denominator"]],
        on=["site_code", "measure_code", "period_label"],
        rsuffix="_of_reference",
    )
    for column in ("numerator", "denominator"):  # consistent rounding and hiding
        assert joined[f"reference_{column}"].fillna(-1).equals(joined[f"{column}_of_reference"].fillna(-1))


def test_free_text_problems_are_withheld(warehouse, tmp_path):
    release = build(warehouse, tmp_path / "evaluation")
    assert "problems" not in read_csv(release / "fct_submission_status.csv")[0]
    assert "value '3'" not in "".join(
        p.read_text(encoding="utf-8", errors="ignore")
        for p in release.iterdir()
        if p.suffix in (".csv", ".md", ".json")
    )


def test_a_count_column_is_protected_even_if_the_spec_forgets_it(warehouse, tmp_path):
    tables = {"fct_measure_monthly": TableSpec(("site_code", "month_start_date", "measure_code", "ethnic_code"))}
    release = build(warehouse, tmp_path / "evaluation", tables=tables)
    shown = {r["numerator"] for r in read_csv(release / "fct_measure_monthly.csv")}
    assert "*" in shown and shown <= {"*", "0", *(str(5 * k) for k in range(2, 100))}


# --- the acceptance check ------------------------------------------------------------------------


def test_acceptance_check_passes_an_hes_release(warehouse, tmp_path):
    assert acceptance_problems(build(warehouse, tmp_path / "evaluation", rule=HES)) == []


def test_acceptance_check_passes_an_msds_release_without_small_counts(tmp_path):
    db = make_warehouse(tmp_path / "large.duckdb", small=False)
    assert acceptance_problems(build(db, tmp_path / "evaluation")) == []


def test_acceptance_check_passes_an_msds_release_with_small_counts(warehouse, tmp_path):
    release = build(warehouse, tmp_path / "evaluation")  # msds, the default
    assert read_manifest(release)["disclosure_rule"]["name"] == "msds"
    assert "*" in {r["numerator"] for r in read_csv(release / "gap_metrics.csv")}  # it does hold small counts
    assert acceptance_problems(release) == []


def test_acceptance_check_would_catch_a_5(warehouse, tmp_path):
    """The check is live: a count of 5 written into an extract fails it (and the release's own check)."""
    release = build(warehouse, tmp_path / "evaluation")
    path = release / "fct_measure_monthly.csv"
    text = path.read_text(encoding="utf-8").replace(",*,", ",5,", 1)
    path.write_text(text, encoding="utf-8")
    assert any(re.search(r"=5 breaks disclosure control$", p) for p in acceptance_problems(release))
    assert any("'5' is a count from 1 to 7" in p for p in check_release(release))


# --- determinism and repeated releases -----------------------------------------------------------


def test_two_releases_from_the_same_inputs_have_identical_extracts(warehouse, tmp_path):
    dest = tmp_path / "evaluation"
    first = build(warehouse, dest, created_at=T1, skip_if_unchanged=False)
    second = build(warehouse, dest, created_at=T2, skip_if_unchanged=False)
    assert first != second and latest_release(dest) == second and first.name < second.name
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        same = (first / name).read_bytes() == (second / name).read_bytes()
        if EXTRACT.match(name):
            assert same, name
        else:
            assert name in ("manifest.json", "README.md")
    assert read_manifest(first)["content_fingerprint"] == read_manifest(second)["content_fingerprint"]


def test_unchanged_content_is_not_released_again(warehouse, tmp_path):
    dest = tmp_path / "evaluation"
    first = build(warehouse, dest, created_at=T1)
    assert same_as_latest(dest, read_manifest(first)["content_fingerprint"])
    assert build(warehouse, dest, created_at=T2) == first
    assert [p.name for p in dest.iterdir()] == [first.name]
    changed = build_release(
        warehouse,
        dest,
        TABLES,
        make_dictionary(warehouse),
        SUBMISSIONS.iloc[:3],
        MSDS,
        "abc123def456",
        T2,
        statistics=add_statistics,
    )
    assert changed != first and latest_release(dest) == changed
    assert not same_as_latest(dest, read_manifest(first)["content_fingerprint"])


def test_same_second_gets_a_suffix_that_sorts_last(warehouse, tmp_path):
    dest = tmp_path / "evaluation"
    first = build(warehouse, dest, skip_if_unchanged=False)
    second = build(warehouse, dest, skip_if_unchanged=False)
    assert second.name == f"{first.name}-02" and latest_release(dest) == second
    assert read_manifest(second)["release_id"] == second.name


def test_by_default_the_release_holds_the_spec_tables(warehouse, tmp_path):
    assert set(RELEASE_TABLES) == {
        "dim_site",
        "dim_ethnic_category",
        "dim_condition",
        "dim_measure",
        "dim_month",
        "fct_measure_monthly",
        "fct_ethnicity_completeness",
        "fct_submission_status",
        "gap_metrics",
    }
    with pytest.raises(ReleaseError, match="marts.dim_site does not exist"):
        build_release(
            warehouse,
            tmp_path / "evaluation",
            dictionary=make_dictionary(warehouse),
            submissions=SUBMISSIONS,
            rule="msds",
            code_version="v1",
            statistics=add_statistics,
        )
    assert not (tmp_path / "evaluation").exists()


def test_latest_release_ignores_staging_and_other_folders(tmp_path):
    assert latest_release(tmp_path / "none") is None
    for name in ("2026-01-01T00-00-00Z", "2026-02-01T00-00-00Z", ".2026-03-01T00-00-00Z.tmp", "zzz"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
    (tmp_path / "2026-04-01T00-00-00Z").mkdir()  # no manifest: not a release
    assert latest_release(tmp_path) == tmp_path / "2026-02-01T00-00-00Z"


# --- failures publish nothing --------------------------------------------------------------------


def test_a_dictionary_missing_a_column_fails_and_leaves_nothing(warehouse, tmp_path):
    dest = tmp_path / "evaluation"
    dictionary = make_dictionary(warehouse)
    dictionary = dictionary[~((dictionary["table"] == "gap_metrics") & (dictionary["column"] == "excess_events"))]
    with pytest.raises(ReleaseError, match="gap_metrics.excess_events"):
        build(warehouse, dest, dictionary=dictionary)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_a_release_failing_its_checks_is_not_published(warehouse, tmp_path, monkeypatch):
    dest = tmp_path / "evaluation"
    monkeypatch.setattr(release_module, "check_release", lambda folder: ["gap_metrics.csv:2: numerator '3' ..."])
    with pytest.raises(ReleaseError, match="failed its checks: gap_metrics.csv:2"):
        build(warehouse, dest)
    assert list(dest.iterdir()) == []


def test_an_error_while_writing_removes_the_staging_folder(warehouse, tmp_path, monkeypatch):
    dest = tmp_path / "evaluation"

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(release_module, "_parquet_bytes", broken)
    with pytest.raises(ReleaseError, match="disk full"):
        build(warehouse, dest)
    assert list(dest.iterdir()) == []


def test_duplicate_keys_and_unknown_numbers_fail(warehouse, tmp_path):
    con = duckdb.connect(str(warehouse))
    con.execute("insert into marts.fct_submission_status select * from marts.fct_submission_status limit 1")
    con.execute("alter table marts.fct_measure_monthly add column mean_age double default 31.5")
    con.close()
    with pytest.raises(ReleaseError) as failure:
        build(warehouse, tmp_path / "evaluation")
    assert "repeat the key" in str(failure.value) and "mean_age" in str(failure.value)
    assert not (tmp_path / "evaluation").exists()


def test_check_release_finds_tampering(warehouse, tmp_path):
    release = build(warehouse, tmp_path / "evaluation")
    path = release / "fct_measure_monthly.csv"
    text = path.read_text(encoding="utf-8").splitlines()
    fields = text[1].split(",")
    fields[4] = "3"  # numerator
    path.write_text("\n".join([text[0], ",".join(fields), *text[2:]]) + "\n", encoding="utf-8")
    problems = check_release(release)
    assert any("sha256 differs" in p for p in problems)
    assert any("numerator '3' is a count from 1 to 7" in p for p in problems)
    assert any("differ from the Parquet file" in p for p in problems)


@pytest.mark.parametrize("rule", [MSDS, HES])
def test_a_rate_not_from_the_published_counts_fails_the_release(warehouse, tmp_path, rule):
    """The build's self-check: a rate the shown counts (a * taken as 5 under msds) do not give fails it."""

    def off_where_hidden(frame, confidence=0.95):
        out = add_statistics(frame, confidence=confidence)
        hidden = frame["numerator"].between(1, 7)  # working values: 5 under msds, a stand-in 1 under hes
        out["rate"] = out["rate"].where(~hidden, out["rate"] * 1.01)
        return out

    def from_true_counts(frame, confidence=0.95):
        return add_statistics(
            frame.assign(numerator=frame["numerator"].where(frame["numerator"] != 40, 41)), confidence=confidence
        )

    dest = tmp_path / "evaluation"
    with pytest.raises(ReleaseError, match="rate\\(s\\) that the published counts do not give"):
        build_release(
            warehouse,
            dest,
            TABLES,
            make_dictionary(warehouse),
            SUBMISSIONS,
            rule,
            "v1",
            T1,
            statistics=from_true_counts,
        )
    if not rule.suppresses:  # under hes the rows it changes are masked anyway
        with pytest.raises(ReleaseError, match="rate\\(s\\) that the published counts do not give"):
            build_release(
                warehouse,
                dest,
                TABLES,
                make_dictionary(warehouse),
                SUBMISSIONS,
                rule,
                "v1",
                T1,
                statistics=off_where_hidden,
            )
    assert not dest.exists() or list(dest.iterdir()) == []


def test_csv_formatting_is_fixed():
    assert release_module.format_value(0.1) == "0.1" and release_module.format_value(-0.0) == "0.0"
    assert release_module.format_value(np.float64(1 / 3)) == "0.3333333333333333"
    assert release_module.format_value(date(2024, 3, 1)) == "2024-03-01"
    assert release_module.format_value(pd.Timestamp("2024-03-05 09:30")) == "2024-03-05T09:30:00"
    assert release_module.format_value(True) == "true" and release_module.format_value(None) == ""
    assert release_module.format_value(float("nan")) == "" and release_module.format_value(pd.NA) == ""
    import pyarrow as pa

    for values in (
        [1, None, -5, 10**15],
        [0.1, None, -0.0, 1e-05, 1e16, 35.0],
        [True, False, None],
        [date(2024, 3, 1), None],
        ["a,b", None, ""],
        [datetime(2024, 3, 5, 9, 30, tzinfo=UTC), None],
    ):
        column = pa.chunked_array([pa.array(values)])
        assert release_module.column_texts(column) == [release_module.format_value(v) for v in values]


def test_synthetic_flag_reaches_the_readme_and_manifest(warehouse, tmp_path):
    release = build(warehouse, tmp_path / "evaluation", synthetic=True)
    assert "SYNTHETIC DATA" in (release / "README.md").read_text(encoding="utf-8")
    assert json.loads((release / "manifest.json").read_text())["synthetic"] is True


def test_release_of_a_gap_metrics_table_built_by_publish_gap_metrics(tmp_path):
    """The real gap_metrics shape (quarters, rolling periods, phases, months_flagged, n_months ...)."""
    from tests.test_gap_metrics import add_calendar_and_completeness, build_gap_metrics

    seeds = Path(__file__).resolve().parents[1] / "dbt_project" / "reference"
    ethnic = pd.read_csv(seeds / "ethnic_category.csv", dtype={"ethnic_code": str, "is_known": bool})
    measures = pd.read_csv(seeds / "measures.csv", dtype={"higher_is_better": "boolean"}).drop(
        columns=["condition_name", "basis"]
    )
    rng = np.random.default_rng(7)
    months = pd.date_range("2023-04-01", "2024-06-01", freq="MS").date
    rows = []
    for site in SITES:
        for month in months:
            for measure in ("PPH1500", "GDMDIAG"):
                for code in ethnic["ethnic_code"]:
                    d = int(rng.integers(0, 40))
                    rows.append(
                        (site, month, measure, code, int(rng.integers(0, d + 1)), d, "s", bool(rng.random() > 0.1))
                    )
    facts = pd.DataFrame(
        rows,
        columns=[
            "site_code",
            "month_start_date",
            "measure_code",
            "ethnic_code",
            "numerator",
            "denominator",
            "submission_id",
            "meets_completeness_threshold",
        ],
    )
    db = tmp_path / "real.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema marts")
    for name, frame in (("dim_ethnic_category", ethnic), ("dim_measure", measures), ("fct_measure_monthly", facts)):
        con.register("frame", frame)
        con.execute(f"create table marts.{name} as select * from frame")
        con.unregister("frame")
    con.execute("alter table marts.fct_measure_monthly alter month_start_date type date")
    add_calendar_and_completeness(con)
    gap = build_gap_metrics(con)  # the dbt gap models' compiled SQL, run in `con` (tests/test_gap_metrics.py)
    con.register("frame", gap)
    con.execute("create or replace table marts.gap_metrics as select * from frame")
    con.close()
    assert set(gap["period_type"]) == {"month", "quarter", "rolling_12_months", "programme_phase"}
    tables = {name: RELEASE_TABLES[name] for name in ("gap_metrics", "fct_measure_monthly")}
    for rule in (HES, MSDS):
        release = build_release(db, tmp_path / rule.name, tables, make_dictionary(db), SUBMISSIONS, rule, "v1", T1)
        assert check_release(release) == []
        assert acceptance_problems(release) == []
        assert small_counts_in_files(release) == []
        published = pd.read_parquet(release / "gap_metrics.parquet")
        withheld = list(RELEASE_TABLES["gap_metrics"].withheld_columns)
        assert list(published.columns) == list(gap.columns.drop(withheld)) and len(published) == len(gap)
        key = list(RELEASE_TABLES["gap_metrics"].sort_keys)
        merged = published.merge(gap, on=key, suffixes=("", "_true"), validate="one_to_one")
        assert len(merged) == len(gap) and (merged["months_flagged"] == merged["months_flagged_true"]).all()
        assert (merged["n_months"] == merged["n_months_true"]).all()
        shown = published["numerator"].notna()
        assert (published.loc[shown, "numerator"] % 5 == 0).all() and (published.loc[shown, "numerator"] != 5).all()
        stand_in = np.nan if rule.suppresses else 5.0  # the gap models never leave a count null
        numerator, denominator = (
            published[c].astype("Float64").fillna(stand_in).astype(float) for c in ("numerator", "denominator")
        )
        assert (
            (published["rate"] - numerator / denominator.where(denominator > 0) * published["multiplier"])
            .abs()
            .fillna(0)
            < 1e-9
        ).all()
        if not rule.suppresses:
            assert published.loc[~shown & (denominator > 0), "rate"].notna().all()
