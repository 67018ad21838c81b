"""Quality: Great Expectations on the returns, as assets and asset checks (GX 1.x, called directly)."""

import json
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from ingest.reference import load_reference
from orchestration.assets.ingest import RAW_KEYS
from orchestration.resources import LanHome

QUALITY_KEY = dg.AssetKey(["raw", "data_quality_results"])

RESULTS_DDL = """
create table if not exists raw.data_quality_results (
    run_id varchar not null,
    validated_at timestamp not null,
    submission_id varchar not null,
    suite varchar not null,
    rule varchar not null,
    expectation_type varchar not null,
    success boolean not null,
    observed_value double,
    threshold double,
    details varchar,
    site_code varchar not null,
    month_start_date date not null,
    measure_code varchar,
    ethnic_group varchar
)
"""

ROWS_TO_VALIDATE = """
select r.submission_id, r.source_row, r.site_code, r.month_start_date::timestamp as month_start_date,
       r.measure_code, r.ethnic_code, r.numerator, r.denominator, s.file_name
from raw.return_rows r
join raw.submissions s using (submission_id)
where r.submission_id not in (
    select submission_id from raw.data_quality_results
    where rule = 'ethnicity_completeness' and threshold = ?
)
"""


def _typed_rows(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"numerator": "Int64", "denominator": "Int64", "source_row": "int64"})
    frame["month_start_date"] = frame["month_start_date"].astype("datetime64[s]")
    return frame


@dg.asset(
    key=QUALITY_KEY,
    deps=[RAW_KEYS["return_rows"], RAW_KEYS["submissions"]],
    group_name="quality",
    compute_kind="great_expectations",
)
def data_quality_results(
    context: dg.AssetExecutionContext, lan: LanHome, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Ethnicity completeness and differential completeness of every submission not yet judged at the
    current threshold, validated in one Great Expectations batch; every result is kept."""
    from expectations.validate import summarise, validate_quality  # lazily: see orchestration/assets/__init__.py

    settings = lan.settings
    threshold = settings.completeness_threshold
    with warehouse.get_connection() as con:
        con.execute(RESULTS_DDL)
        rows = _typed_rows(con.execute(ROWS_TO_VALIDATE, [threshold]).df())
        if rows.empty:
            context.log.info("No new submissions to validate.")
            return dg.MaterializeResult(metadata={"submissions_validated": 0})
        results = validate_quality(rows, load_reference(), threshold)
        results["run_id"] = context.run_id
        results["validated_at"] = datetime.now(UTC).replace(tzinfo=None)
        con.register("new_results", results)
        con.execute("insert into raw.data_quality_results by name select * from new_results")
    summary = summarise(results)
    return dg.MaterializeResult(
        metadata={
            "submissions_validated": int(rows["submission_id"].nunique()),
            "results": len(results),
            "summary": dg.MetadataValue.json(json.loads(json.dumps(summary, default=str))),
        }
    )


NEW_ROWS = """
select r.*, left(s.checksum, 12) || '__' || s.file_name as file_name
from raw.return_rows r
join raw.submissions s using (submission_id)
join raw.files f using (checksum)
where f.run_id = ?
"""


def structure_of_new_rows(warehouse: DuckDBResource, run_id: str) -> dg.AssetCheckResult:
    """The structural suite, run by GX again over the rows as loaded of the submissions ingested in run
    ``run_id`` (earlier runs' rows were checked by their own runs and are not re-validated).

    A file is identified by its stored name (checksum prefix and name): a corrected file sent under the
    same name is another file, not a repeat of the first one's keys."""
    from expectations.validate import check_structure  # lazily: see orchestration/assets/__init__.py

    with warehouse.get_connection() as con:
        rows = _typed_rows(con.execute(NEW_ROWS, [run_id]).df())
    problems = check_structure(rows, load_reference(), datetime.now(UTC).date()) if not rows.empty else []
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_checked": len(rows),
            "submissions_checked": int(rows["submission_id"].nunique()) if not rows.empty else 0,
            "problems": len(problems),
            "first_problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:20]) or "none"),
        },
    )


@dg.asset_check(
    asset=RAW_KEYS["return_rows"],
    blocking=True,
    description="The structural suite holds over the rows loaded in this run: known codes, whole counts >= 0, "
    "numerator <= denominator, no repeated key, no future month.",
)
def return_rows_are_well_formed(
    context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource
) -> dg.AssetCheckResult:
    return structure_of_new_rows(warehouse, context.run.run_id)


@dg.asset_check(asset=RAW_KEYS["files"], description="No file received in this run was refused.")
def no_file_quarantined_this_run(
    context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource
) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        refused = con.execute(
            "select file_name, problems_text from raw.files where outcome = 'quarantined' and run_id = ?",
            [context.run.run_id],
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not refused,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "files_quarantined": len(refused),
            "reasons": dg.MetadataValue.md("\n".join(f"- **{n}**: {t}" for n, t in refused) or "none"),
        },
    )


def _marts_frame(warehouse: DuckDBResource, sql: str) -> pd.DataFrame:
    with warehouse.get_connection() as con:
        return con.execute(sql).df()


@dg.asset_check(
    asset=dg.AssetKey(["fct_ethnicity_completeness"]),
    description="Every site-month-measure's ethnicity completeness meets the threshold "
    "(LAN_COMPLETENESS_THRESHOLD); below it the data load but are flagged in every table.",
)
def ethnicity_completeness_meets_threshold(lan: LanHome, warehouse: DuckDBResource) -> dg.AssetCheckResult:
    completeness = _marts_frame(warehouse, "select * from marts.fct_ethnicity_completeness")
    failed = completeness[~completeness["meets_completeness_threshold"].astype(bool)]
    by_measure = completeness.groupby("measure_code")["completeness"].agg(["min", "median"]).round(4)
    return dg.AssetCheckResult(
        passed=bool(len(completeness)) and failed.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "site_month_measures": len(completeness),
            "below_threshold": len(failed),
            "threshold": float(lan.settings.completeness_threshold),
            "completeness_by_measure": dg.MetadataValue.json(by_measure.to_dict(orient="index")),
            "lowest": dg.MetadataValue.md(_table(failed.nsmallest(15, "completeness"))),
        },
    )


@dg.asset_check(
    asset=dg.AssetKey(["fct_data_quality_results"]),
    description="Numerators and denominators are not missing more for some ethnic groups than others, "
    "nor is one measure's completeness far below the site's other measures.",
)
def completeness_even_across_groups_and_measures(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    results = _marts_frame(
        warehouse,
        """
        select * from marts.fct_data_quality_results
        where is_current_submission
          and rule in ('differential_missing_by_group', 'measure_completeness_outlier')
        qualify rank() over (partition by submission_id order by validated_at desc) = 1""",
    )
    failed = results[~results["success"].astype(bool)]
    return dg.AssetCheckResult(
        passed=failed.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "results": len(results),
            "flagged": len(failed),
            "flagged_detail": dg.MetadataValue.md(_table(failed.head(15))),
        },
    )


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "none"
    cols = [
        c
        for c in (
            "site_code",
            "month_start_date",
            "measure_code",
            "ethnic_group",
            "rule",
            "completeness",
            "observed_value",
        )
        if c in frame
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame[cols].iterrows():
        lines.append(
            "| " + " | ".join(str(row[c])[:10] if c == "month_start_date" else str(row[c]) for c in cols) + " |"
        )
    return "\n".join(lines)
