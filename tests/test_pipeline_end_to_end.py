"""The whole product, really run: sample returns in, `python -m orchestration.run` (what `make run` runs),
then the published outputs read as the evaluation partner and BI tools read them."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest.sample_data import LOW_COMPLETENESS_SITE_MONTH, default_profiles, write_returns
from tests.conftest import CHECK_INTERFACE, run_pipeline
from tests.fixtures.bad_files import BAD_FILE_RULES, write_bad_files

pytestmark = pytest.mark.e2e

SITES = 10
MONTHS = 24


def check_interface(home: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(CHECK_INTERFACE), str(home)], capture_output=True, text=True, timeout=300
    )
    return done.stdout


def test_the_published_outputs_hold_the_interface(built_home):
    out = check_interface(built_home)
    assert out.strip().splitlines()[-1] == "interface holds", out[-3000:]


def test_every_file_is_kept_and_landing_is_empty(built_home):
    assert not any((built_home / "landing").iterdir())
    kept = [p for p in (built_home / "raw").rglob("*") if p.is_file() and not p.name.endswith(".sha256")]
    assert len([p for p in kept if "_report" not in p.name]) == SITES * MONTHS  # beside the sample's report files
    for path in kept:
        recorded = path.with_name(path.name + ".sha256").read_text().split()[0]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded
    assert not any((built_home / "quarantine").iterdir())


def test_every_site_month_is_loaded_and_traceable_to_its_file(published):
    status = dict(published("select status, count(*) from marts.fct_submission_status group by 1"))
    assert status == {"loaded": SITES * MONTHS - 1, "flagged": 1}
    orphans = published("""
        select count(*) from marts.fct_measure_monthly f
        left join marts.dim_submission s using (submission_id)
        where s.checksum is null or s.file_name is null or s.received_at is null or not s.is_current""")
    assert orphans == [(0,)]
    # 7 measures x 18 ethnic categories for every site-month
    assert published("select count(*) from marts.fct_measure_monthly") == [(SITES * MONTHS * 7 * 18,)]


def test_the_low_completeness_site_month_is_flagged_everywhere(published):
    site, month = LOW_COMPLETENESS_SITE_MONTH
    assert published(
        "select status from marts.fct_submission_status where site_code = ? and month_start_date = ?", [site, month]
    ) == [("flagged",)]
    assert published(
        "select distinct meets_completeness_threshold from marts.fct_measure_monthly "
        "where site_code = ? and month_start_date = ?",
        [site, month],
    ) == [(False,)]
    assert published("select count(*) from marts.fct_measure_monthly where not meets_completeness_threshold") == [
        (7 * 18,)
    ]
    assert published(
        "select bool_or(meets_completeness_threshold) from marts.fct_ethnicity_completeness "
        "where site_code = ? and month_start_date = ?",
        [site, month],
    ) == [(False,)]
    # gap_metrics: the site's own month row keeps the flag ...
    flagged = published(
        """
        select distinct meets_completeness_threshold, months_flagged, flagged_share from marts.gap_metrics
        where site_code = ? and period_type = 'month' and period_start = ?""",
        [site, month],
    )
    assert flagged == [(False, 1, 1.0)]
    # ... and every row aggregating it (the LAN month, the site's and the LAN's longer periods) counts it and
    # carries its own completeness, which decides its flag: one flagged month does not flag a whole period.
    aggregates = published(
        """
        select count(*), count(*) filter (where months_flagged < 1 or not flagged_share > 0),
               count(*) filter (where meets_completeness_threshold <> (completeness >= 0.9)),
               count(*) filter (where meets_completeness_threshold)
        from marts.gap_metrics
        where site_code in (?, 'LAN') and period_start <= ? and period_end >= ?
          and not (site_code = ? and period_type = 'month')""",
        [site, month, month, site],
    )
    (total, not_counted, own_flag_differs, meeting) = aggregates[0]
    assert total > 0 and not_counted == 0 and own_flag_differs == 0 and meeting > 0
    lan_intervention = published(
        """
        select count(*), count(*) filter (where meets_completeness_threshold) from marts.gap_metrics
        where site_code = 'LAN' and period_type = 'programme_phase' and period_label = 'intervention'"""
    )
    assert lan_intervention[0][1] == lan_intervention[0][0] > 0  # sample completeness is ~97 % over the phase


def test_gap_metrics_cover_every_series_without_nan(published):
    missing = published("""
        select count(*) from marts.gap_metrics
        where denominator > 0 and (isnan(rate) or rate is null or isinf(rate_upper_95))""")
    assert missing == [(0,)]
    combos = published("select count(distinct (site_code, measure_code, ethnic_group)) from marts.gap_metrics")
    assert combos == [((SITES + 1) * 7 * 5,)]
    periods = dict(
        published("""select period_type, count(distinct period_label) from marts.gap_metrics
                                group by 1""")
    )
    assert periods == {"month": 24, "quarter": 8, "rolling_12_months": 13, "programme_phase": 2}


def test_run_chart_points_are_complete(published):
    assert published("select count(*) from marts.run_chart_points where centre_line is null or isnan(centre_line)") == [
        (0,)
    ]
    series = published(
        "select count(distinct (geography_level, site_code, measure_code, series_type, ethnic_group)) "
        "from marts.run_chart_points"
    )
    assert series == [((SITES + 1) * 7 * (5 + 4),)]


def test_published_copy_matches_the_working_warehouse(built_home, published):
    working = duckdb.connect(str(built_home / "warehouse" / "lan.duckdb"), read_only=True)
    try:
        tables = [
            t
            for (t,) in working.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        for table in tables:
            left = working.execute(f"select count(*) from marts.{table}").fetchone()
            assert published(f"select count(*) from marts.{table}") == [left], table
    finally:
        working.close()
    assert {"gap_metrics", "run_chart_points", "fct_submission_status"} <= set(tables)


def latest_check_evaluations(home: Path, runs_expected: int) -> dict:
    """{check name: evaluation} of the newest lan_pipeline run recorded in home's Dagster instance."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster"))) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="lan_pipeline"))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * runs_expected
        records = instance.get_records_for_run(
            run_id=runs[0].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    events = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return {e.asset_check_key.name: e for e in events}


def test_the_dagster_run_is_recorded_with_its_checks(built_home):
    evaluated = {name: e.passed for name, e in latest_check_evaluations(built_home, 1).items()}
    assert evaluated["return_rows_are_well_formed"] is True
    assert evaluated["no_file_quarantined_this_run"] is True
    # the sample data hold one site-month below 90 %: the completeness check warns
    assert evaluated["ethnicity_completeness_meets_threshold"] is False
    assert any(name.startswith("not_null_") for name in evaluated)  # dbt tests as checks


def test_quality_report_charts_and_docs_are_published(built_home):
    publish = built_home / "publish"
    assert (publish / "docs" / "index.html").stat().st_size > 100_000
    for site in [p.site_code for p in default_profiles()] + ["LAN"]:
        assert (publish / "charts" / f"{site}.html").is_file()
        assert len(list((publish / "charts" / site).glob("*.png"))) == 7
    html = [p.read_text(encoding="utf-8") for p in (publish / "quality").rglob("*.html")]
    remote_asset = re.compile(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=[\"']https?:", re.I)
    assert html and not any(remote_asset.search(page) for page in html)  # renders offline


@pytest.fixture(scope="module")
def second_run(built_home, tmp_path_factory):
    """A copy of the built LAN_HOME, then new files in landing/ and `make run` again."""
    home = tmp_path_factory.mktemp("second") / "lan"
    shutil.copytree(built_home, home, symlinks=True)
    landing = home / "landing"
    today = date.today()
    scratch = home.parent / "scratch"
    corpus = write_bad_files(scratch / "corpus", today)
    for path in corpus.values():
        shutil.copy2(path, landing / path.name)
    ncl = [p for p in default_profiles() if p.site_code == "NCL"]
    new_month = write_returns(
        landing, profiles=ncl, start=date(2025, 1, 1), end=date(2025, 1, 1), variants=False, set_mtime=False
    )
    bsol = [p for p in default_profiles() if p.site_code == "BSOL"]
    [resubmission] = write_returns(
        scratch, profiles=bsol, start=date(2024, 12, 1), end=date(2024, 12, 1), seed=99, variants=False, set_mtime=False
    )
    resubmission = shutil.move(resubmission, landing / "BSOL_2024-12_v2.csv")
    repeat = next(p for p in (home / "raw").rglob("*__LTH_2024-03.*") if not p.name.endswith(".sha256"))
    shutil.copyfile(repeat, landing / repeat.name.split("__", 1)[1])
    before = _facts(home)
    done = run_pipeline(home)
    return {"home": home, "corpus": corpus, "new_month": new_month, "before": before, "log": done.stdout}


def repeat_name(home: Path) -> str:
    return next((home / "raw").rglob("*__LTH_2024-03.*")).name.split("__", 1)[1].removesuffix(".sha256")


def _facts(home: Path) -> dict:
    con = duckdb.connect(str(home / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select site_code, month_start_date, measure_code, ethnic_code, numerator, denominator "
            "from marts.fct_measure_monthly"
        ).fetchall()
    finally:
        con.close()
    return {r[:4]: r[4:] for r in rows}


def test_second_run_takes_in_new_files_and_empties_landing(second_run):
    home = second_run["home"]
    assert not any((home / "landing").iterdir())
    con = duckdb.connect(str(home / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        status = dict(
            con.execute(
                "select site_code, status from marts.fct_submission_status where month_start_date = '2025-01-01'"
            ).fetchall()
        )
        bsol = con.execute(
            "select file_name, is_current from marts.dim_submission "
            "where site_code = 'BSOL' and month_start_date = '2024-12-01' order by is_current"
        ).fetchall()
    finally:
        con.close()
    assert status["NCL"] == "loaded" and status["BSOL"] == "missing" and len(status) == SITES
    assert bsol[-1] == ("BSOL_2024-12_v2.csv", True) and len(bsol) == 2 and bsol[0][1] is False
    working = duckdb.connect(str(home / "warehouse" / "lan.duckdb"), read_only=True)
    try:
        repeats = working.execute("select file_name from raw.file_arrivals where is_repeat").fetchall()
        assert [name for (name,) in repeats] == [repeat_name(home)]
    finally:
        working.close()
    assert check_interface(home).strip().splitlines()[-1] == "interface holds"


def test_second_run_quarantines_each_bad_file_with_its_reason(second_run):
    quarantine = second_run["home"] / "quarantine"
    for key, path in second_run["corpus"].items():
        rule, stage = BAD_FILE_RULES[key]
        kept = list(quarantine.glob(f"*__{path.name}"))
        if stage == "parser warning":
            assert not [k for k in kept if not k.name.endswith((".txt", ".json"))], key
            continue
        originals = [k for k in kept if not k.name.endswith((".reason.txt", ".reason.json"))]
        assert len(originals) == 1, key
        assert originals[0].read_bytes() == path.read_bytes(), key  # kept unchanged
        reason = json.loads(originals[0].with_name(originals[0].name + ".reason.json").read_text())
        rules = {p["rule"] for p in reason["problems"] if p["severity"] == "error"}
        assert rule in rules, (key, rules)
        text = originals[0].with_name(originals[0].name + ".reason.txt").read_text()
        assert path.name in text and "was not loaded" in text


def test_second_run_warns_of_the_files_it_quarantined(second_run):
    evaluation = latest_check_evaluations(second_run["home"], 2)["no_file_quarantined_this_run"]
    assert evaluation.passed is False
    reasons = evaluation.metadata["reasons"].value
    refused = [p.name for key, p in second_run["corpus"].items() if BAD_FILE_RULES[key][1] != "parser warning"]
    assert all(name in reasons for name in refused)


def test_second_run_changes_only_what_the_new_files_hold(second_run):
    after = _facts(second_run["home"])
    before = second_run["before"]
    touched = {("BSOL", date(2024, 12, 1)), ("NCL", date(2025, 1, 1)), ("BARTS", date(2024, 5, 1))}
    unchanged_before = {k: v for k, v in before.items() if (k[0], k[1]) not in touched}
    unchanged_after = {k: v for k, v in after.items() if (k[0], k[1]) not in touched}
    assert unchanged_after == unchanged_before
    changed = [k for k in before if k[:2] == ("BSOL", date(2024, 12, 1)) and before[k] != after[k]]
    assert changed, "the resubmission replaced the earlier numbers"
    assert sum(1 for k in after if k[:2] == ("NCL", date(2025, 1, 1))) == 7 * 18


def test_a_file_whose_name_disagrees_is_loaded_and_reported(second_run):
    con = duckdb.connect(str(second_run["home"] / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        [(status, problems)] = con.execute(
            "select status, problems from marts.fct_submission_status "
            "where site_code = 'BARTS' and month_start_date = '2024-05-01'"
        ).fetchall()
    finally:
        con.close()
    assert status == "loaded"
    assert second_run["corpus"]["name_mismatch"].name in problems or "name" in problems.lower()


def test_every_validation_result_is_kept_as_history(published):
    per_rule = dict(
        published("""
        select rule, count(distinct submission_id) from marts.fct_data_quality_results group by 1""")
    )
    assert per_rule["ethnicity_completeness"] == SITES * MONTHS
    assert {"differential_missing_by_group", "measure_completeness_outlier"} <= set(per_rule)
    site, month = LOW_COMPLETENESS_SITE_MONTH
    failed = published("""
        select measure_code, observed_value, threshold from marts.fct_data_quality_results
        where rule = 'ethnicity_completeness' and not success""")
    assert len(failed) == 7 and all(value < threshold == 0.9 for _, value, threshold in failed)
    completeness = published("""
        select count(*) from marts.fct_ethnicity_completeness c
        join marts.fct_data_quality_results r
          on r.submission_id = c.submission_id and r.measure_code = c.measure_code
         and r.rule = 'ethnicity_completeness'
        where abs(r.observed_value - c.completeness) > 1e-12
           or r.success <> c.meets_completeness_threshold""")
    assert completeness == [(0,)]  # the completeness fact is built from the same results


def test_history_keeps_results_of_superseded_submissions(second_run):
    con = duckdb.connect(str(second_run["home"] / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("""
            select s.is_current, count(*) from marts.fct_data_quality_results r
            join marts.dim_submission s using (submission_id)
            where s.site_code = 'BSOL' and s.month_start_date = '2024-12-01'
              and r.rule = 'ethnicity_completeness'
            group by 1 order by 1""").fetchall()
    finally:
        con.close()
    assert rows == [(False, 7), (True, 7)]


def test_every_published_table_and_column_is_documented_in_dbt(published):
    from orchestration.project import dbt_project
    from publish.dictionary import describe_tables, load_manifest

    tables = [t for (t,) in published("select table_name from duckdb_tables() where schema_name = 'marts'")]
    described = describe_tables(load_manifest(dbt_project.manifest_path), tables)
    for table in tables:
        actual = [
            c
            for (c,) in published(
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                [table],
            )
        ]
        documented = described.loc[(described["table"] == table) & (described["column"] != ""), "column"].tolist()
        assert documented == actual, table
        assert (described.loc[described["table"] == table, "meaning"].str.len() > 0).all(), table
