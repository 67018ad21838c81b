"""Run the LAN suites over pandas frames with Great Expectations 1.x and turn GX's answers into
Problems (structure) or a tidy results frame (completeness, differential completeness).

GX is the judge: whether a row passes comes from the unexpected-index lists GX returns with
``result_format="COMPLETE"``; pandas only shapes the frames GX validates and the frames it returns.
Every suite runs once over all the rows it is given (many files, many site-months), never once per
file. Validation is in-memory (an ephemeral GX context per call, analytics and progress bars off).

Completeness decisions, documented once here:

* completeness = denominator with a known ethnic category (``ref.known_ethnic_codes``: not ``Z``,
  not ``99``) / all denominator, per site-month-measure (and per submission when the rows carry a
  ``submission_id``). An empty (not submitted) denominator counts as 0 there and is reported as
  ``n_missing_denominator``. Denominator total 0 -> completeness NULL: nothing to be complete
  about, not evaluated, so not a failure (``success`` True, ``observed_value`` NaN).
* differential by group: per site-month and *known* ethnic group (``ref.ethnic_groups``; the
  Not stated/Not known categories are what completeness already measures), the share of the
  group's rows whose numerator or denominator is empty, compared with the same share among the
  site-month's *other* known groups. Flagged when the gap is ``GROUP_MISSING_MARGIN`` (20 points)
  or more and the group has ``GROUP_MIN_MISSING_CELLS`` (2) or more empty rows.
* differential by measure: a measure's completeness compared with the median completeness of the
  site-month's other measures; flagged when it is ``MEASURE_OUTLIER_MARGIN`` (15 points) or more
  below, judged only when ``MEASURE_MIN_OTHER_MEASURES`` (2) or more others have a completeness.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.core import ExpectationSuiteValidationResult  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from expectations import suites as S  # noqa: E402
from ingest.problems import Problem  # noqa: E402
from ingest.reference import Reference  # noqa: E402

RESULT_COLUMNS: dict[str, str] = {
    "suite": "string",
    "rule": "string",
    "expectation_type": "string",
    "success": "bool",
    "observed_value": "float64",
    "threshold": "float64",
    "details": "string",  # JSON object with the figures behind observed_value
    "site_code": "string",
    "month_start_date": "datetime64[s]",
    "measure_code": "string",  # <NA> for by-group rows
    "ethnic_group": "string",  # <NA> for by-measure and completeness rows
    "submission_id": "object",  # the dtype given (ids or the rows' column); string <NA> if none
}

_UNKNOWN_FILE = "(file name not known)"


# --------------------------------------------------------------------------------------------
# running GX
# --------------------------------------------------------------------------------------------


def gx_context():
    """An in-memory GX context: no files, no analytics, no progress bars."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def run_suite(
    frame: pd.DataFrame, suite: gx.ExpectationSuite, index_columns: list[str], context=None
) -> ExpectationSuiteValidationResult:
    """Validate ``frame`` against ``suite`` in one GX run, COMPLETE results, unexpected rows
    identified by ``index_columns`` of the frame."""
    context = context or gx_context()
    name = f"{suite.name}_{uuid.uuid4().hex[:8]}"
    batch_definition = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("all_rows")
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(
        suite,
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": list(index_columns),
            "partial_unexpected_count": 20,
        },
    )


def _raised(result) -> str | None:
    info = result.exception_info or {}
    if isinstance(info, dict) and "raised_exception" not in info:  # keyed by metric id
        for value in info.values():
            if isinstance(value, dict) and value.get("raised_exception"):
                return value.get("exception_message") or "exception"
        return None
    return (info.get("exception_message") or "exception") if info.get("raised_exception") else None


def _rule(result) -> str:
    return (result.expectation_config.meta or {}).get("rule", "")


def _columns_of(result) -> set[str]:
    kwargs = result.expectation_config.kwargs
    cols = set(kwargs.get("column_list") or [])
    for key in ("column", "column_A", "column_B"):
        if kwargs.get(key):
            cols.add(kwargs[key])
    return cols


# --------------------------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------------------------


@dataclass
class StructureCheck:
    problems: list[Problem]
    validation: ExpectationSuiteValidationResult | None


def _structure_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows GX sees: the contract's columns only (values unchanged). A second-resolution
    month column is widened to nanoseconds when in range, because GX's between-check is
    vectorised only for datetime64[ns] (else it compares row by row in Python, ~1 s/M rows)."""
    frame = rows[[c for c in S.REQUIRED_COLUMN_TYPES if c in rows.columns]]
    month = frame.get("month_start_date")
    if (
        month is not None
        and isinstance(month.dtype, np.dtype)
        and month.dtype.kind == "M"
        and month.dtype != np.dtype("datetime64[ns]")
    ):
        lo, hi = month.min(), month.max()
        if pd.isna(lo) or (pd.Timestamp.min <= lo and hi <= pd.Timestamp.max):
            frame = frame.assign(month_start_date=month.astype("datetime64[ns]"))
    return frame


def run_structure_check(rows: pd.DataFrame, ref: Reference, today: date) -> StructureCheck:
    """``check_structure`` keeping GX's validation result (for Data Docs)."""
    if len(rows) == 0:
        return StructureCheck([], None)
    frame = _structure_frame(rows)
    index_columns = [c for c in S.ROW_ID_COLUMNS if c in frame.columns]
    validation = run_suite(frame, S.structure_suite(ref, today), index_columns)
    return StructureCheck(_problems(validation, rows, ref, today), validation)


def check_structure(rows: pd.DataFrame, ref: Reference, today: date) -> list[Problem]:
    """Validate the parsed rows of any number of files in one GX run; one Problem per failing row
    (per file for a missing or mistyped column), sorted by file, row and rule. A file with any
    Problem is to be refused."""
    return run_structure_check(rows, ref, today).problems


def _month_label(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        return pd.Timestamp(value).strftime("%Y-%m")
    except (ValueError, TypeError):
        return str(value)


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value)):
        return None
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value)


def _row(entry: dict) -> int | None:
    value = entry.get("source_row")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _problems(
    validation: ExpectationSuiteValidationResult, rows: pd.DataFrame, ref: Reference, today: date
) -> list[Problem]:
    files = (sorted(rows["file_name"].dropna().astype(str).unique()) if "file_name" in rows.columns else []) or [
        _UNKNOWN_FILE
    ]
    contract = ", ".join(S.CONTRACT_COLUMN[c] for c in S.REQUIRED_COLUMN_TYPES)
    sites = ", ".join(sorted(ref.site_codes))
    measures = ", ".join(sorted(ref.measure_codes))
    ethnic = ", ".join(ref.ethnic_codes)
    last_ended = (pd.Timestamp(S.first_of_month(today)) - pd.DateOffset(months=1)).strftime("%B %Y")
    problems: list[Problem] = []

    # columns GX found missing or mistyped: reported once per file; their other checks are moot
    broken: set[str] = set()
    for result in validation.results:
        rule = _rule(result)
        if result.success or rule not in (S.MISSING_COLUMN, S.WRONG_COLUMN_TYPE):
            continue
        column = result.expectation_config.kwargs["column"]
        if column in broken:
            continue
        broken.add(column)
        name = S.CONTRACT_COLUMN.get(column, column)
        kind = {"int64": "whole numbers", "datetime64": "dates (the first day of the month)", "str": "text"}[
            S.REQUIRED_COLUMN_TYPES[column]
        ]
        entries = (result.result or {}).get("unexpected_index_list") or []
        if rule == S.MISSING_COLUMN:
            message = f"column '{name}' is missing; expected the columns {contract}"
            problems += [Problem(f, rule, message, None, name, None) for f in files]
            continue
        if entries:  # an object column, which GX checks value by value
            count = (result.result or {}).get("unexpected_count", len(entries))
            by_file: dict[str, list[dict]] = {}
            for e in entries:
                by_file.setdefault(_text(e.get("file_name")) or _UNKNOWN_FILE, []).append(e)
            for f, wrong in sorted(by_file.items()):
                problems.append(
                    Problem(
                        f,
                        rule,
                        f"column '{name}' holds {len(wrong)} value(s) that are not {kind} "
                        f"({count} in this run), first on row {_row(wrong[0])}; expected {kind}",
                        _row(wrong[0]),
                        name,
                        _text(wrong[0].get(column)),
                    )
                )
        else:
            observed = (result.result or {}).get("observed_value")
            message = f"column '{name}' holds {observed} values; expected {kind}"
            problems += [Problem(f, rule, message, None, name, _text(observed)) for f in files]

    for result in validation.results:
        rule = _rule(result)
        if result.success or rule in (S.MISSING_COLUMN, S.WRONG_COLUMN_TYPE):
            continue
        if _columns_of(result) & broken:
            continue
        error = _raised(result)
        if error:
            raise RuntimeError(f"GX could not evaluate {result.expectation_config.type} ({rule}): {error}")
        entries: list[dict] = (result.result or {}).get("unexpected_index_list") or []
        kwargs = result.expectation_config.kwargs
        column = kwargs.get("column")
        name = S.CONTRACT_COLUMN.get(column, column) if column else None

        if rule == S.DUPLICATE_KEY:
            problems += _duplicate_problems(entries)
            continue
        for entry in entries:
            file_name = _text(entry.get("file_name")) or _UNKNOWN_FILE
            row = _row(entry)
            if rule == S.NUMERATOR_ABOVE_DENOMINATOR:
                numerator, denominator = _text(entry.get("numerator")), _text(entry.get("denominator"))
                problems.append(
                    Problem(
                        file_name,
                        rule,
                        f"numerator {numerator} is greater than denominator {denominator}; expected the "
                        "numerator (events) to be no more than the denominator (population)",
                        row,
                        "numerator",
                        numerator,
                    )
                )
                continue
            raw = entry.get(column)
            value = _month_label(raw) if column == "month_start_date" else _text(raw)
            if rule == S.UNKNOWN_SITE:
                message = f"{'missing' if value is None else 'unknown'} site code; expected one of {sites}"
            elif rule == S.UNKNOWN_MEASURE:
                message = f"{'missing' if value is None else 'unknown'} measure code; expected one of {measures}"
            elif rule == S.INVALID_ETHNIC_CATEGORY:
                message = (
                    "not an NHS ethnic category; expected one of the codes "
                    f"{ethnic} or its label (empty or 'Not known' = 99, 'Not stated' = Z)"
                )
            elif rule == S.INVALID_PERIOD:
                message = "the month reported is missing; expected a month such as 2024-03"
            elif rule == S.NEGATIVE_COUNT:
                message = f"the {name} is negative; expected a whole number of 0 or more"
            elif rule == S.FUTURE_PERIOD:
                message = f"period {value} has not ended yet; expected a month that has ended ({last_ended} or earlier)"
            else:  # a rule added to the suite without a message of its own
                message = f"failed {result.expectation_config.type}"
            problems.append(Problem(file_name, rule, message, row, name, value))

    problems.sort(key=lambda p: (p.file_name, p.row if p.row is not None else -1, p.rule))
    return problems


def _duplicate_problems(entries: list[dict]) -> list[Problem]:
    """One Problem per repeated row, naming every row of the file that shares its key."""
    groups: dict[tuple, list[dict]] = {}
    for entry in entries:
        key = (
            _text(entry.get("file_name")) or _UNKNOWN_FILE,
            _text(entry.get("site_code")),
            _month_label(entry.get("month_start_date")),
            _text(entry.get("measure_code")),
            _text(entry.get("ethnic_code")),
        )
        groups.setdefault(key, []).append(entry)
    problems = []
    for (file_name, site, month, measure, ethnic), members in groups.items():
        row_numbers = sorted(r for r in (_row(e) for e in members) if r is not None)
        listed = (
            ", ".join(map(str, row_numbers[:-1])) + f" and {row_numbers[-1]}"
            if len(row_numbers) > 1
            else ", ".join(map(str, row_numbers))
        )
        value = f"{site} {month} {measure} {ethnic}"
        for entry in members:
            problems.append(
                Problem(
                    file_name,
                    S.DUPLICATE_KEY,
                    f"site {site}, period {month}, measure {measure} and ethnic category {ethnic} "
                    f"are on rows {listed}; expected one row per site, period, measure and ethnic "
                    "category",
                    _row(entry),
                    "site_code, period, measure_code, ethnic_category",
                    value,
                )
            )
    return problems


# --------------------------------------------------------------------------------------------
# completeness and differential completeness: frames
# --------------------------------------------------------------------------------------------


def _with_submission(rows: pd.DataFrame, submission_ids: pd.Series | None) -> pd.DataFrame:
    if submission_ids is None:
        return rows
    ids = pd.Series(submission_ids)
    if len(ids) != len(rows):
        raise ValueError("submission_ids must have one value per row")
    return rows.assign(submission_id=ids.to_numpy())


def _site_month_keys(frame: pd.DataFrame) -> list[str]:
    keys = ["site_code", "month_start_date"]
    return (["submission_id"] + keys) if "submission_id" in frame.columns else keys


def completeness_frame(rows: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    """Per site-month-measure (and submission, when rows carry ``submission_id``):
    ``n_rows``, ``denominator_total``, ``denominator_known`` (ethnic code in
    ``ref.known_ethnic_codes``), ``denominator_unknown``, ``n_missing_denominator``,
    ``n_missing_numerator`` and ``completeness`` = known / total (NaN when total is 0).
    Empty denominators count as 0 in the totals."""
    keys = _site_month_keys(rows) + ["measure_code"]
    denominator = rows["denominator"].astype("float64")
    known = rows["ethnic_code"].isin(ref.known_ethnic_codes).to_numpy(dtype=bool, na_value=False)
    den0 = denominator.fillna(0.0).to_numpy()
    parts = {k: rows[k] for k in keys}
    parts.update(
        n_rows=np.ones(len(rows), dtype=np.int64),
        denominator_total=den0,
        denominator_known=np.where(known, den0, 0.0),
        n_missing_denominator=denominator.isna().to_numpy().astype(np.int64),
        n_missing_numerator=rows["numerator"].isna().to_numpy().astype(np.int64),
    )
    frame = pd.DataFrame(parts).groupby(keys, dropna=False, sort=True, observed=True).sum().reset_index()
    for column in ("denominator_total", "denominator_known"):
        frame[column] = frame[column].astype("int64")
    frame["denominator_unknown"] = frame["denominator_total"] - frame["denominator_known"]
    total = frame["denominator_total"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["completeness"] = np.where(total > 0, frame["denominator_known"] / total, np.nan)
    return frame


def group_differential_frame(rows: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    """Per site-month (and submission) and known ethnic group: ``n_cells`` rows, ``n_missing`` of
    them with an empty numerator or denominator, ``missing_share``, the same among the site-month's
    other known groups (``others_cells``, ``others_missing``, ``others_share``) and
    ``missing_gap`` = missing_share - others_share (NaN when there are no other groups)."""
    keys = _site_month_keys(rows)
    known = rows["ethnic_code"].isin(ref.known_ethnic_codes).to_numpy(dtype=bool, na_value=False)
    sub = rows.loc[known]
    groups = sub["ethnic_code"].map(ref.ethnic_groups)
    missing = (sub["numerator"].isna() | sub["denominator"].isna()).to_numpy().astype(np.int64)
    parts = {k: sub[k] for k in keys}
    parts.update(ethnic_group=groups, n_cells=np.ones(len(sub), dtype=np.int64), n_missing=missing)
    frame = (
        pd.DataFrame(parts).groupby(keys + ["ethnic_group"], dropna=False, sort=True, observed=True).sum().reset_index()
    )
    totals = frame.groupby(keys, dropna=False, sort=False)[["n_cells", "n_missing"]].transform("sum")
    frame["others_cells"] = totals["n_cells"] - frame["n_cells"]
    frame["others_missing"] = totals["n_missing"] - frame["n_missing"]
    frame["missing_share"] = frame["n_missing"] / frame["n_cells"]
    with np.errstate(invalid="ignore", divide="ignore"):
        others = frame["others_cells"].to_numpy(dtype="float64")
        frame["others_share"] = np.where(others > 0, frame["others_missing"].to_numpy(dtype="float64") / others, np.nan)
    frame["missing_gap"] = (frame["missing_share"] - frame["others_share"]).round(10)
    return frame


def measure_differential_frame(completeness: pd.DataFrame) -> pd.DataFrame:
    """Per site-month-measure of a completeness frame: ``others_median`` (median completeness of
    the site-month's other measures that have one), ``n_other_measures`` and ``shortfall`` =
    others_median - completeness (positive = below the others)."""
    keys = _site_month_keys(completeness)
    frame = completeness[keys + ["measure_code", "completeness"]].copy()
    frame["_site_month"] = frame.groupby(keys, dropna=False, sort=False).ngroup()
    wide = frame.pivot(index="_site_month", columns="measure_code", values="completeness")
    matrix = wide.to_numpy(dtype="float64")
    medians = np.full(matrix.shape, np.nan)
    counts = np.zeros(matrix.shape, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: median NaN, as wanted
        for j in range(matrix.shape[1]):
            others = np.delete(matrix, j, axis=1)
            counts[:, j] = (~np.isnan(others)).sum(axis=1)
            if others.shape[1]:
                medians[:, j] = np.nanmedian(others, axis=1)
    long = pd.DataFrame(
        {
            "_site_month": np.repeat(wide.index.to_numpy(), matrix.shape[1]),
            "measure_code": np.tile(wide.columns.to_numpy(dtype=object), matrix.shape[0]),
            "others_median": medians.ravel(),
            "n_other_measures": counts.ravel(),
        }
    )
    long["measure_code"] = long["measure_code"].astype(frame["measure_code"].dtype)
    frame = frame.merge(long, on=["_site_month", "measure_code"], how="left").drop(columns="_site_month")
    frame["shortfall"] = (frame["others_median"] - frame["completeness"]).round(10)
    return frame


# --------------------------------------------------------------------------------------------
# completeness and differential completeness: validation and the results frame
# --------------------------------------------------------------------------------------------


@dataclass
class QualityCheck:
    results: pd.DataFrame
    validations: dict[str, ExpectationSuiteValidationResult] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def empty_results() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=t if c != "submission_id" else "string") for c, t in RESULT_COLUMNS.items()}
    )


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame.insert(0, "check_id", np.arange(len(frame), dtype=np.int64))
    frame.insert(1, "period", pd.Series(pd.DatetimeIndex(frame["month_start_date"]).strftime("%Y-%m"), dtype="string"))
    return frame


def _details(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    if len(frame) == 0:
        return []
    text = frame[columns].to_json(orient="records", lines=True, double_precision=6)
    return text.rstrip("\n").split("\n")


def _judged(
    frame: pd.DataFrame,
    validation: ExpectationSuiteValidationResult,
    *,
    suite: str,
    rule: str,
    observed: str,
    details: list[str],
    measure: bool,
    group: bool,
) -> pd.DataFrame:
    """The results rows of one expectation: success is False exactly for the rows GX listed."""
    [result] = [r for r in validation.results if _rule(r) == rule]
    error = _raised(result)
    if error:
        raise RuntimeError(f"GX could not evaluate {rule}: {error}")
    failed = {int(e["check_id"]) for e in (result.result or {}).get("unexpected_index_list") or []}
    threshold = result.expectation_config.meta.get("threshold")
    n = len(frame)
    out = pd.DataFrame(
        {
            "suite": pd.Series([suite] * n, dtype="string"),
            "rule": pd.Series([rule] * n, dtype="string"),
            "expectation_type": pd.Series([result.expectation_config.type] * n, dtype="string"),
            "success": ~frame["check_id"].isin(failed).to_numpy(),
            "observed_value": frame[observed].to_numpy(dtype="float64", na_value=np.nan),
            "threshold": np.full(n, np.nan if threshold is None else float(threshold)),
            "details": pd.Series(_details(frame, details), dtype="string"),
            "site_code": frame["site_code"].astype("string").to_numpy(),
            "month_start_date": frame["month_start_date"].astype("datetime64[s]").to_numpy(),
            "measure_code": (
                frame["measure_code"].astype("string").to_numpy() if measure else pd.array([pd.NA] * n, dtype="string")
            ),
            "ethnic_group": (
                frame["ethnic_group"].astype("string").to_numpy() if group else pd.array([pd.NA] * n, dtype="string")
            ),
            "submission_id": (
                frame["submission_id"].to_numpy(dtype=object)
                if "submission_id" in frame
                else np.full(n, pd.NA, dtype=object)
            ),
        }
    )
    return out


def run_quality_check(
    rows: pd.DataFrame,
    ref: Reference,
    threshold: float = S.DEFAULT_COMPLETENESS_THRESHOLD,
    submission_ids: pd.Series | None = None,
) -> QualityCheck:
    """``validate_quality`` keeping GX's validation results and the validated frames."""
    rows = _with_submission(rows, submission_ids)
    if len(rows) == 0:
        return QualityCheck(empty_results())
    context = gx_context()
    completeness = _prepare(completeness_frame(rows, ref))
    by_group = _prepare(group_differential_frame(rows, ref))
    by_measure = _prepare(measure_differential_frame(completeness.drop(columns=["check_id", "period"])))
    plan = [
        # frame name, frame, suite, rule, observed column, details columns, measure?, group?
        (
            "completeness",
            completeness,
            S.completeness_suite(threshold),
            S.ETHNICITY_COMPLETENESS,
            "completeness",
            [
                "denominator_total",
                "denominator_known",
                "denominator_unknown",
                "n_missing_denominator",
                "n_missing_numerator",
                "n_rows",
                "completeness",
            ],
            True,
            False,
            ["check_id", "site_code", "period", "measure_code"],
        ),
        (
            "by_group",
            by_group,
            S.group_differential_suite(),
            S.DIFFERENTIAL_MISSING_BY_GROUP,
            "missing_gap",
            ["n_cells", "n_missing", "missing_share", "others_cells", "others_missing", "others_share", "missing_gap"],
            False,
            True,
            ["check_id", "site_code", "period", "ethnic_group"],
        ),
        (
            "by_measure",
            by_measure,
            S.measure_differential_suite(),
            S.MEASURE_COMPLETENESS_OUTLIER,
            "shortfall",
            ["completeness", "others_median", "n_other_measures", "shortfall"],
            True,
            False,
            ["check_id", "site_code", "period", "measure_code"],
        ),
    ]
    parts, validations, frames = [], {}, {}
    for name, frame, suite, rule, observed, details, measure, group, index in plan:
        frames[name] = frame
        if len(frame) == 0:
            continue
        validation = run_suite(frame, suite, index, context)
        validations[suite.name] = validation
        parts.append(
            _judged(
                frame,
                validation,
                suite=suite.name,
                rule=rule,
                observed=observed,
                details=details,
                measure=measure,
                group=group,
            )
        )
    results = pd.concat(parts, ignore_index=True) if parts else empty_results()
    results = results.astype({c: t for c, t in RESULT_COLUMNS.items() if c != "submission_id"})
    # submission_id keeps the caller's dtype; string <NA> when there is none
    id_dtype = rows["submission_id"].dtype if "submission_id" in rows.columns else "string"
    try:
        results["submission_id"] = results["submission_id"].astype(id_dtype)
    except (TypeError, ValueError):
        pass
    return QualityCheck(results, validations, frames)


def validate_quality(
    rows: pd.DataFrame,
    ref: Reference,
    threshold: float = S.DEFAULT_COMPLETENESS_THRESHOLD,
    submission_ids: pd.Series | None = None,
) -> pd.DataFrame:
    """Completeness and differential completeness of the rows, as a tidy results frame
    (``RESULT_COLUMNS``): one row per site-month-measure for ``ethnicity_completeness`` and
    ``measure_completeness_outlier``, one per site-month and known ethnic group for
    ``differential_missing_by_group``. ``submission_ids`` (one per row, by position) or a
    ``submission_id`` column of ``rows`` keeps submissions apart. The caller adds run_id and
    validated_at."""
    return run_quality_check(rows, ref, threshold, submission_ids).results


# --------------------------------------------------------------------------------------------
# summary for asset-check metadata
# --------------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 4) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), digits)


def summarise(results: pd.DataFrame) -> dict:
    """Plain-JSON figures for a run's results: counts failed by rule, completeness min/median per
    measure, the worst site-month, the worst ethnic-group gap."""
    summary: dict[str, Any] = {
        "n_results": int(len(results)),
        "n_failed": int((~results["success"].astype(bool)).sum()) if len(results) else 0,
        "failed_by_rule": {r: 0 for r in S.QUALITY_RULES},
    }
    if len(results) == 0:
        summary.update(
            site_months=0,
            site_months_flagged=0,
            completeness_by_measure={},
            worst_site_month=None,
            worst_group=None,
            threshold=None,
        )
        return summary
    failed = results.loc[~results["success"].astype(bool)]
    for rule, count in failed["rule"].value_counts().items():
        summary["failed_by_rule"][str(rule)] = int(count)

    comp = results.loc[results["rule"] == S.ETHNICITY_COMPLETENESS]
    site_months = comp[["site_code", "month_start_date"]].drop_duplicates()
    flagged = comp.loc[~comp["success"].astype(bool), ["site_code", "month_start_date"]].drop_duplicates()
    summary["site_months"] = int(len(site_months))
    summary["site_months_flagged"] = int(len(flagged))
    summary["threshold"] = _num(comp["threshold"].max()) if len(comp) else None
    by_measure = comp.groupby("measure_code", dropna=True)["observed_value"].agg(["min", "median"])
    summary["completeness_by_measure"] = {
        str(m): {"min": _num(r["min"]), "median": _num(r["median"])} for m, r in by_measure.iterrows()
    }

    worst = None
    if comp["observed_value"].notna().any():
        row = comp.loc[comp["observed_value"].idxmin()]
        worst = {
            "site_code": str(row["site_code"]),
            "period": _month_label(row["month_start_date"]),
            "measure_code": str(row["measure_code"]),
            "completeness": _num(row["observed_value"]),
            "success": bool(row["success"]),
        }
    summary["worst_site_month"] = worst

    groups = results.loc[results["rule"] == S.DIFFERENTIAL_MISSING_BY_GROUP]
    worst_group = None
    if groups["observed_value"].notna().any():
        # the worst group GX flagged, else the largest gap seen
        pool = groups.loc[~groups["success"].astype(bool)]
        pool = pool if pool["observed_value"].notna().any() else groups
        row = pool.loc[pool["observed_value"].idxmax()]
        worst_group = {
            "site_code": str(row["site_code"]),
            "period": _month_label(row["month_start_date"]),
            "ethnic_group": str(row["ethnic_group"]),
            "missing_gap": _num(row["observed_value"]),
            "details": json.loads(row["details"]),
            "success": bool(row["success"]),
        }
    summary["worst_group"] = worst_group
    return summary


__all__ = [
    "check_structure",
    "run_structure_check",
    "StructureCheck",
    "completeness_frame",
    "group_differential_frame",
    "measure_differential_frame",
    "validate_quality",
    "run_quality_check",
    "QualityCheck",
    "summarise",
    "RESULT_COLUMNS",
    "run_suite",
    "gx_context",
]
