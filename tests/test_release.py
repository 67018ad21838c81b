"""Evaluation releases: the release models (real dbt, both disclosure rules) and the DuckDB writer
(publish/release.py): files, manifest, dictionary, checks, LATEST, unchanged inputs, all-or-nothing.

A small working warehouse is made by hand: every marts table the release models read, created with the column
types of its dbt model (from the manifest), holding chosen counts (0 to 60, a missing one, small ones); then
`dbt build --select tag:release` runs on it as the pipeline runs it, once per rule."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from statsmodels.stats.proportion import proportion_confint

from publish import release as release_module
from publish.disclosure import DisclosureRule
from publish.release import (
    LATEST,
    ReleaseError,
    build_release,
    check_release,
    latest_release,
    read_manifest,
    release_tables,
)
from tests.conftest import CHECK_INTERFACE, REPO_ROOT

DBT = str(Path(os.sys.executable).with_name("dbt"))
PROJECT = REPO_ROOT / "dbt_project"
T1 = datetime(2026, 11, 22, 10, 30, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 22, 11, 0, 0, tzinfo=UTC)
SITES = ["BARTS", "BSOL"]
MONTHS = [date(2024, 2, 1), date(2024, 3, 1)]
CODES = ["A", "B", "H", "N", "Z", "99"]
COUNTS = list(range(0, 61))  # every numerator from 0 to 60 appears once


def dbt(home: Path, *args: str, rule: str = "msds") -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAN_")}
    env.update(LAN_HOME=str(home), LAN_DISCLOSURE_RULE=rule, DO_NOT_TRACK="1", DBT_SEND_ANONYMOUS_USAGE_STATS="False")
    done = subprocess.run(
        [DBT, *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT), "--target-path", str(home / "t")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


# site, group, numerator, denominator, reference numerator, reference denominator (reference group White)
GAP_ROWS = [
    ("BARTS", "White", 9, 412, 9, 412),
    ("BARTS", "Asian or Asian British", 3, 88, 9, 412),
    ("BARTS", "Black or Black British", 0, 57, 9, 412),
    ("BARTS", "Mixed", 13, 301, 9, 412),
    ("BSOL", "White", 2, 9, 2, 9),
    ("BSOL", "Asian or Asian British", 13, 301, 2, 9),
    ("LAN", "White", 11, 421, 11, 421),
    ("LAN", "Asian or Asian British", 16, 389, 11, 421),
]


def _marts_facts() -> dict[str, list[dict]]:
    """Rows of the marts tables the release models read (columns not named here are null)."""
    facts, n = [], 0
    for site in SITES:
        for month in MONTHS:
            for measure in ("PPH1500", "MHBOOK"):
                for code in CODES:
                    numerator = COUNTS[n % len(COUNTS)]
                    facts.append(
                        dict(
                            site_code=site,
                            month_start_date=month,
                            measure_code=measure,
                            ethnic_code=code,
                            numerator=numerator,
                            denominator=numerator + (n * 7) % 50,
                            submission_id=f"{site}-{month:%Y-%m}",
                            meets_completeness_threshold=True,
                        )
                    )
                    n += 1
    while n < len(COUNTS):  # the rest of 0..60 at another site-month
        facts.append({**facts[n % 48], "month_start_date": date(2024, 4, 1), "ethnic_code": f"X{n}"})
        facts[-1].update(numerator=COUNTS[n], denominator=COUNTS[n] + 3)
        n += 1
    # not submitted: an empty field, not `*`
    facts.append({**facts[0], "ethnic_code": "XNULL", "numerator": None})
    completeness = [
        dict(
            site_code="BARTS",
            month_start_date=MONTHS[0],
            measure_code=m,
            submission_id="BARTS-2024-02",
            denominator_total=total,
            denominator_known=known,
            completeness=known / total if total else None,
            completeness_threshold=0.9,
            meets_completeness_threshold=total > 0 and known / total >= 0.9,
        )
        for m, (total, known) in {"PPH1500": (40, 37), "MHBOOK": (3, 3), "PPH500": (0, 0), "PTB": (12, 6)}.items()
    ]
    status = [
        dict(
            site_code=s,
            month_start_date=m,
            status="loaded",
            submission_id=f"{s}-{m:%Y-%m}",
            file_name=f"{s}_{m:%Y-%m}.csv",
            received_at=datetime(2024, m.month + 1, 5, 9, 30),
            problems="row 7, column 'numerator', value '3': ...",
            meets_completeness_threshold=True,
        )
        for s in SITES
        for m in MONTHS
    ]
    submissions = [
        dict(
            submission_id=f"{s}-{m:%Y-%m}",
            site_code=s,
            month_start_date=m,
            file_name=f"{s}_{m:%Y-%m}.csv",
            checksum=f"{i:064x}",
            received_at=datetime(2024, m.month + 1, 5, 9, 30),
            is_current=True,
        )
        for i, (s, m) in enumerate((s, m) for s in SITES for m in MONTHS)
    ]
    gap = [
        dict(
            geography_level="lan" if site == "LAN" else "site",
            site_code=site,
            measure_code="PPH1500",
            period_type="month",
            period_label="2024-03",
            period_start=MONTHS[1],
            period_end=MONTHS[1],
            ethnic_group=group,
            numerator=x,
            denominator=n,
            reference_group="White",
            reference_numerator=rx,
            reference_denominator=rn,
            gap_assessment="worse",  # from the true counts: never released as it is
            rate=123.456,
            meets_completeness_threshold=True,
            months_flagged=0,
            n_months=1,
            multiplier=1000,
            higher_is_better=False,
            is_reference=group == "White",
        )
        for site, group, x, n, rx, rn in GAP_ROWS
    ]
    return {
        "gap_metrics": gap,
        "dim_site": [dict(site_code=s, team_name=f"{s} team", ics_name="ICS", nhs_region="London") for s in SITES],
        "dim_ethnic_category": [
            dict(ethnic_code=c, ethnic_label=c, ethnic_group="White" if c in "AB" else "Other", is_known=c not in "Z99")
            for c in CODES
        ],
        "dim_condition": [dict(condition_code="PPH", condition_name="Post-partum haemorrhage")],
        "dim_measure": [
            dict(
                measure_code="PPH1500", condition_code="PPH", multiplier=1000, unit="per 1,000", higher_is_better=False
            )
        ],
        "dim_month": [dict(month_start_date=m, year=2024, month_number=m.month) for m in MONTHS],
        "dim_submission": submissions,
        "fct_measure_monthly": facts,
        "fct_ethnicity_completeness": completeness,
        "fct_submission_status": status,
        # gap_change and gap_trend: empty here (no programme phase above); the sample build releases them
        "gap_change": [],
        "gap_trend": [],
        "fct_site_report": [
            dict(
                site_code="BARTS",
                month_start_date=MONTHS[0],
                measure_code=None,
                change_idea="Safety huddle",
                pdsa_stage="do",
                narrative="Huddles at handover; 3 of 4 shifts so far.",
                submission_id="BARTS-2024-02-report",
            )
        ],
    }


def make_home(home: Path, manifest: dict) -> Path:
    """A LAN_HOME whose working warehouse holds the marts tables above, typed as their dbt models say."""
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    models |= {n["name"]: n for n in manifest["sources"].values() if n["source_name"] == "published"}
    (home / "warehouse").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"))
    try:
        con.execute("create schema if not exists marts")
        for table, rows in _marts_facts().items():
            columns = models[table]["columns"].values()
            typed = ", ".join(f"{c['name']} {c['data_type']}" for c in columns)
            con.execute(f"create table marts.{table} ({typed})")
            for row in rows:
                names = ", ".join(row)
                con.execute(
                    f"insert into marts.{table} ({names}) values ({', '.join('?' * len(row))})", list(row.values())
                )
    finally:
        con.close()
    return home


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> tuple[Path, dict]:
    """The dbt project parsed once: (a LAN_HOME for dbt's parse, its manifest)."""
    home = tmp_path_factory.mktemp("parse_home")
    (home / "warehouse").mkdir()
    dbt(home, "parse")
    return home, json.loads((home / "t" / "manifest.json").read_text())


@pytest.fixture(scope="module", params=["msds", "hes"])
def built(request, parsed, tmp_path_factory) -> tuple[Path, dict, DisclosureRule]:
    """A LAN_HOME whose release schema dbt built under each rule: (home, manifest, rule)."""
    _, manifest = parsed
    home = make_home(tmp_path_factory.mktemp(f"release_{request.param}"), manifest)
    dbt(home, "build", "--select", "tag:release", rule=request.param)
    return home, manifest, DisclosureRule(request.param)


def write(home: Path, manifest: dict, rule: DisclosureRule, dest: Path, **kwargs):
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"))
    try:
        return build_release(con, dest, manifest, rule, "abc123def456", kwargs.pop("created_at", T1), **kwargs)
    finally:
        con.close()


def query(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def acceptance_problems(release: Path) -> list[str]:
    spec = importlib.util.spec_from_file_location("check_interface_for_release", CHECK_INTERFACE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.check_release(release)
    return module.problems


# --- the release models --------------------------------------------------------------------------


def test_every_count_is_shown_as_the_rule_says(built):
    home, _, rule = built
    rows = query(
        home,
        "select m.numerator, r.numerator, r.numerator_hidden from marts.fct_measure_monthly m "
        "join release.fct_measure_monthly r using (site_code, month_start_date, measure_code, ethnic_code)",
    )
    assert {true for true, _, _ in rows} >= set(range(0, 61))
    for true, shown, hidden in rows:
        if true is None:
            assert shown is None and not hidden
        else:
            assert shown == rule.protect(true), (true, shown)
            assert hidden == (1 <= true <= 7)
            assert shown is None or (shown % 5 == 0 and not 1 <= shown <= 7)


def test_completeness_is_recomputed_from_the_rounded_counts(built):
    home, _, rule = built
    got = dict(query(home, "select measure_code, completeness from release.fct_ethnicity_completeness"))
    assert got["PPH1500"] == 35 / 40  # 37 of 40 -> 35 of 40
    assert got["PPH500"] is None  # 0 of 0
    assert got["PTB"] == (5 / 10 if rule.name == "msds" else None)  # 6 of 12 -> * of 10
    assert got["MHBOOK"] == (1.0 if rule.name == "msds" else None)  # 3 of 3 -> * of *


def test_free_text_problems_are_withheld(built):
    home, manifest, _ = built
    columns = {c for (c,) in query(home, "select column_name from (describe release.fct_submission_status)")}
    assert "problems" not in columns and "status" in columns
    assert all("problems" not in [c.name for c in t.columns] for t in release_tables(manifest))


def test_the_release_table_list_is_the_release_models(parsed):
    _, manifest = parsed
    names = {t.name for t in release_tables(manifest)}
    models = {p.stem.removeprefix("release_") for p in (PROJECT / "models" / "release").glob("release_*.sql")}
    assert names == models
    assert {"fct_measure_monthly", "fct_ethnicity_completeness", "fct_submission_status", "dim_site"} <= names


def test_a_release_model_without_a_key_or_descriptions_is_refused(parsed):
    _, manifest = parsed
    broken = json.loads(json.dumps(manifest))
    node = next(n for n in broken["nodes"].values() if n["name"] == "release_dim_site")
    node["meta"], node["config"]["meta"] = {}, {}
    with pytest.raises(ReleaseError, match="release_key"):
        release_tables(broken)


def test_gap_statistics_are_recomputed_from_the_rounded_counts(built):
    home, _, rule = built
    rows = query(
        home,
        "select site_code, ethnic_group, numerator, denominator, reference_numerator, reference_denominator, "
        "rate, rate_lower_95, rate_upper_95, reference_rate, rate_ratio, rate_difference, excess_events, "
        "gap_assessment from release.gap_metrics",
    )
    got = {(r[0], r[1]): r[2:] for r in rows}
    five = 5 if rule.name == "msds" else None
    # BARTS Asian: 3 of 88 -> * of 90 (5 of 90 under msds); reference 9 of 412 -> 10 of 410
    x, n, rx, rn, rate, low, high, ref_rate, ratio, diff, excess, assessment = got[("BARTS", "Asian or Asian British")]
    assert (x, n, rx, rn) == (None, 90, 10, 410)
    assert ref_rate == pytest.approx(10 / 410 * 1000, rel=1e-15)
    if five is None:
        assert rate is low is high is ratio is diff is excess is None and assessment == "not calculable"
    else:
        wilson = proportion_confint(5, 90, alpha=0.05, method="wilson")
        assert rate == pytest.approx(5 / 90 * 1000, rel=1e-15)
        assert (low, high) == pytest.approx((wilson[0] * 1000, wilson[1] * 1000), rel=1e-9)
        assert ratio == pytest.approx((5 / 90) / (10 / 410), rel=1e-14)
        assert excess % 5 == 0 and excess == 5 * round((5 - 90 * 10 / 410) / 5)
        assert assessment != "worse" or low > ref_rate  # not the true counts' assessment passed through
    # BSOL: the reference group's counts (2 of 9 -> * of 10) are hidden; the group's own rate is kept
    x, n, rx, rn, rate, *_, ratio, diff, excess, assessment = got[("BSOL", "Asian or Asian British")]
    assert (x, n, rx, rn) == (15, 300, None, 10) and rate == pytest.approx(15 / 300 * 1000, rel=1e-15)
    assert (ratio is None) == (rule.name == "hes")
    # a zero stays zero and is not calculable; the reference row is the reference
    assert got[("BARTS", "Black or Black British")][0] == 0
    assert got[("BARTS", "Black or Black British")][-1] == "not calculable"
    assert got[("BARTS", "White")][-1] == "reference" and got[("LAN", "White")][8] == 1.0
    for row in rows:
        for count in row[2:6]:
            assert count is None or (count % 5 == 0 and not 1 <= count <= 7)


# --- the writer ----------------------------------------------------------------------------------


def test_release_files_manifest_and_acceptance(built, tmp_path):
    home, manifest, rule = built
    release = write(home, manifest, rule, tmp_path / "evaluation")
    assert release.built and release.path.name == "2026-11-22T10-30-00Z"
    names = {p.name for p in release.path.iterdir()}
    tables = {t.name for t in release_tables(manifest)}
    assert names == {"manifest.json", "data_dictionary.csv", "README.md"} | {
        f"{t}.{s}" for t in tables for s in ("csv", "parquet")
    }
    info = read_manifest(release.path)
    assert info["disclosure_rule"]["name"] == rule.name and info["code_version"] == "abc123def456"
    assert (
        info["tables"]["fct_measure_monthly"]["rows"]
        == query(home, "select count(*) from marts.fct_measure_monthly")[0][0]
    )
    assert [s["submission_id"] for s in info["submissions"]] == sorted(f"{s}-{m:%Y-%m}" for s in SITES for m in MONTHS)
    assert set(info["files"]) == names - {"manifest.json"}
    assert check_release(release.path) == []
    assert acceptance_problems(release.path) == []
    assert (tmp_path / "evaluation" / LATEST).read_text() == release.path.name + "\n"
    assert latest_release(tmp_path / "evaluation") == release.path


def test_csv_shows_star_for_hidden_empty_for_missing_and_parquet_null_for_both(built, tmp_path):
    home, manifest, rule = built
    release = write(home, manifest, rule, tmp_path / "evaluation").path
    rows = read_csv(release / "fct_measure_monthly.csv")
    shown = [r["numerator"] for r in rows]
    assert shown.count("") == 1 and "*" in shown and "5" not in shown
    assert all(v in ("", "*") or (int(v) % 5 == 0 and int(v) not in range(1, 8)) for v in shown)
    con = duckdb.connect()
    parquet = con.execute(f"select numerator from read_parquet('{release / 'fct_measure_monthly.parquet'}')").fetchall()
    assert sum(v is None for (v,) in parquet) == shown.count("*") + shown.count("")
    columns = [
        d[0] for d in con.execute(f"describe select * from '{release / 'fct_measure_monthly.parquet'}'").fetchall()
    ]
    assert not [c for c in columns if c.endswith("_hidden")]
    status = read_csv(release / "fct_submission_status.csv")[0]
    assert status["received_at"] == "2024-03-05T09:30:00" and "problems" not in status


def test_data_dictionary_comes_from_the_dbt_descriptions(built, tmp_path):
    home, manifest, rule = built
    release = write(home, manifest, rule, tmp_path / "evaluation").path
    rows = read_csv(release / "data_dictionary.csv")
    assert list(rows[0]) == ["table", "column", "type", "meaning"]
    node = next(n for n in manifest["nodes"].values() if n["name"] == "release_fct_measure_monthly")
    described = {(r["table"], r["column"]): r["meaning"] for r in rows}
    assert described[("fct_measure_monthly", "")] == " ".join(node["description"].split())
    assert described[("fct_measure_monthly", "numerator")] == " ".join(
        node["columns"]["numerator"]["description"].split()
    )
    assert all(r["meaning"].strip() for r in rows)


def test_unchanged_inputs_write_nothing_and_a_change_writes_a_new_release(built, tmp_path):
    home, manifest, rule = built
    dest = tmp_path / "evaluation"
    first = write(home, manifest, rule, dest)
    again = write(home, manifest, rule, dest, created_at=T2)
    assert not again.built and again.path == first.path
    assert sorted(p.name for p in dest.iterdir()) == sorted([LATEST, first.path.name])
    copy = tmp_path / "home"
    shutil.copytree(home / "warehouse", copy / "warehouse")
    con = duckdb.connect(str(copy / "warehouse" / "lan.duckdb"))
    con.execute("update release.fct_measure_monthly set numerator = numerator + 5 where numerator >= 10")
    con.close()
    changed = write(copy, manifest, rule, dest, created_at=T2)
    assert changed.built and changed.path.name == "2026-11-22T11-00-00Z"
    assert latest_release(dest) == changed.path and (dest / LATEST).read_text().strip() == changed.path.name


def test_two_releases_of_the_same_inputs_have_byte_identical_extracts(built, tmp_path):
    home, manifest, rule = built
    one = write(home, manifest, rule, tmp_path / "a").path
    two = write(home, manifest, rule, tmp_path / "b", created_at=T2).path
    for path in one.iterdir():
        if path.suffix in (".csv", ".parquet"):
            assert path.read_bytes() == (two / path.name).read_bytes(), path.name


def test_check_release_finds_tampering_and_a_small_count(built, tmp_path):
    home, manifest, rule = built
    release = write(home, manifest, rule, tmp_path / "evaluation").path
    tampered = tmp_path / "tampered"
    shutil.copytree(release, tampered)
    with (tampered / "dim_site.csv").open("a") as f:
        f.write("XXX,x,x,x\n")
    problems = check_release(tampered)
    assert any("dim_site.csv: sha256" in p for p in problems)
    assert any("dim_site: 3 CSV and 2 Parquet rows" in p for p in problems)
    leaked = tmp_path / "leaked"
    shutil.copytree(release, leaked)
    parquet = leaked / "fct_measure_monthly.parquet"
    duckdb.execute(
        f"copy (select * replace (coalesce(numerator, 3) as numerator) from '{parquet}') to '{tmp_path / 'x.parquet'}'"
    )
    shutil.move(tmp_path / "x.parquet", parquet)
    problems = check_release(leaked)
    assert any("fct_measure_monthly.numerator" in p and "1 to 7" in p for p in problems)
    assert any("CSV file's values differ" in p for p in problems)
    odd = tmp_path / "odd"  # a NaN in the Parquet file; every numerator shown as `*` in the CSV
    shutil.copytree(release, odd)
    parquet = odd / "gap_metrics.parquet"
    duckdb.execute(f"copy (select * replace ('nan'::double as rate) from '{parquet}') to '{tmp_path / 'y.parquet'}'")
    shutil.move(tmp_path / "y.parquet", parquet)
    csv_path = odd / "fct_measure_monthly.csv"
    duckdb.execute(
        f"copy (select * replace ('*' as numerator) from read_csv('{csv_path}', all_varchar = true)) "
        f"to '{tmp_path / 'z.csv'}' (header true)"
    )
    shutil.move(tmp_path / "z.csv", csv_path)
    problems = check_release(odd)
    assert any(p.startswith("gap_metrics.rate:") and "NaN or infinite" in p for p in problems)
    assert any(p.startswith("fct_measure_monthly.numerator:") and "`*` in the CSV but" in p for p in problems)
    assert not any(p.startswith("gap_metrics.rate_lower_95") for p in problems)


def test_a_release_failing_its_checks_leaves_nothing(built, tmp_path, monkeypatch):
    home, manifest, rule = built
    monkeypatch.setattr(release_module, "check_release", lambda *a, **k: ["made to fail"])
    with pytest.raises(ReleaseError, match="made to fail"):
        write(home, manifest, rule, tmp_path / "evaluation")
    assert [p.name for p in (tmp_path / "evaluation").iterdir()] == []


def test_a_copy_failing_beside_the_others_leaves_nothing(built, tmp_path, monkeypatch):
    """The files are written two at a time (one cursor per worker thread); one COPY failing fails the release
    whatever runs beside it, and nothing is left behind."""
    home, manifest, rule = built
    real = release_module._csv_select
    failing = release_tables(manifest)[-1].name

    def csv_select(table):
        return "select error('made to fail')" if table.name == failing else real(table)

    monkeypatch.setattr(release_module, "_csv_select", csv_select)
    with pytest.raises(ReleaseError, match="made to fail"):
        write(home, manifest, rule, tmp_path / "evaluation")
    assert [p.name for p in (tmp_path / "evaluation").iterdir()] == []


def test_side_by_side_runs_every_statement_once_on_each_threads_own_cursor():
    con = duckdb.connect()
    con.execute("create table seen (n integer)")
    release_module._run_side_by_side(con, [f"insert into seen values ({n})" for n in range(20)], workers=2)
    assert sorted(n for (n,) in con.execute("select n from seen").fetchall()) == list(range(20))
    with pytest.raises(duckdb.Error, match="made to fail"):
        release_module._run_side_by_side(con, ["select 1", "select error('made to fail')", "select 2"], workers=2)
    assert con.execute("select count(*) from seen").fetchone() == (20,)  # the connection itself stays open
