"""The LAN expectation suites, as code: reviewed like code, versioned with it, never edited in a UI.

Four suites, each over one pandas frame (the two differential ones built by one function):

* ``structure_suite`` over the parsed rows of one or many site files (``ingest.parsed.ROW_DTYPES``).
  A failure refuses the file: every failing row becomes an ``ingest.problems.Problem``.
* ``completeness_suite`` over the completeness frame (one row per site-month-measure, see
  ``expectations.validate.completeness_frame``): ethnicity completeness at or above the threshold.
  A failure only flags the site-month.
* ``group_differential_suite`` over the by-group frame (one row per site-month and known ethnic
  group): numerators/denominators must not go missing for one group much more than for the others.
* ``measure_differential_suite`` over the by-measure frame (one row per site-month-measure): a
  measure's completeness must not fall far below that of the site-month's other measures.

Every expectation carries ``meta={"rule": <code>}``, a stable short name that machines (the
Problems, the results table ``raw.data_quality_results``) use; ``notes`` say it in plain words and
show up in Data Docs.
"""

from __future__ import annotations

import os
from datetime import date, datetime

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402
from great_expectations.expectations.metadata_types import FailureSeverity  # noqa: E402
from great_expectations.expectations.row_conditions import Column  # noqa: E402

from ingest.parsed import KEY_COLUMNS  # noqa: E402
from ingest.reference import Reference  # noqa: E402

# --- rule codes (stable: stored with every Problem and every results row) ---------------------
UNKNOWN_SITE = "unknown_site"
UNKNOWN_MEASURE = "unknown_measure"
INVALID_ETHNIC_CATEGORY = "invalid_ethnic_category"
INVALID_PERIOD = "invalid_period"  # month_start_date empty: the parser could not read it
NEGATIVE_COUNT = "negative_count"
NUMERATOR_ABOVE_DENOMINATOR = "numerator_above_denominator"
DUPLICATE_KEY = "duplicate_key"
FUTURE_PERIOD = "future_period"
MISSING_COLUMN = "missing_column"
WRONG_COLUMN_TYPE = "wrong_column_type"  # a column present but not of the contract's type
ETHNICITY_COMPLETENESS = "ethnicity_completeness"
DIFFERENTIAL_MISSING_BY_GROUP = "differential_missing_by_group"
MEASURE_COMPLETENESS_OUTLIER = "measure_completeness_outlier"

STRUCTURE_RULES = (
    UNKNOWN_SITE,
    UNKNOWN_MEASURE,
    INVALID_ETHNIC_CATEGORY,
    INVALID_PERIOD,
    NEGATIVE_COUNT,
    NUMERATOR_ABOVE_DENOMINATOR,
    DUPLICATE_KEY,
    FUTURE_PERIOD,
    MISSING_COLUMN,
    WRONG_COLUMN_TYPE,
)
QUALITY_RULES = (ETHNICITY_COMPLETENESS, DIFFERENTIAL_MISSING_BY_GROUP, MEASURE_COMPLETENESS_OUTLIER)

# --- suite names ------------------------------------------------------------------------------
STRUCTURE_SUITE = "lan_structure"
COMPLETENESS_SUITE = "lan_completeness"
GROUP_DIFFERENTIAL_SUITE = "lan_differential_by_group"
MEASURE_DIFFERENTIAL_SUITE = "lan_differential_by_measure"

# --- thresholds (fractions, 0-1) --------------------------------------------------------------
#: Ethnicity completeness a site-month-measure must reach (the contract's default, 90 %).
DEFAULT_COMPLETENESS_THRESHOLD = 0.90
#: A known ethnic group is flagged when the share of its rows with an empty numerator or
#: denominator exceeds the share among the site-month's other known groups by this much or more
#: (20 percentage points) ...
GROUP_MISSING_MARGIN = 0.20
#: ... and at least this many of its cells are empty (one empty cell in a small group is noise).
GROUP_MIN_MISSING_CELLS = 2
#: A measure is flagged when its ethnicity completeness is this much or more (15 percentage points)
#: below the median completeness of the site-month's other measures ...
MEASURE_OUTLIER_MARGIN = 0.15
#: ... provided at least this many other measures have a completeness to compare with.
MEASURE_MIN_OTHER_MEASURES = 2

#: Columns of the parsed rows the structural suite needs, and the type GX checks for each.
#: GX's pandas type check compares ``dtype.type``: "int64" accepts int64 and nullable Int64 (whole
#: numbers by construction), "str" accepts the string dtypes, "datetime64" any datetime64 unit.
REQUIRED_COLUMN_TYPES: dict[str, str] = {
    "file_name": "str",
    "source_row": "int64",
    "site_code": "str",
    "month_start_date": "datetime64",
    "measure_code": "str",
    "ethnic_code": "str",
    "numerator": "int64",
    "denominator": "int64",
}

#: Frame column -> the contract's name for it (docs/spec data-contract.md), used in Problems.
CONTRACT_COLUMN: dict[str, str] = {
    "file_name": "file_name",
    "source_row": "source_row",
    "site_code": "site_code",
    "month_start_date": "period",
    "measure_code": "measure_code",
    "ethnic_code": "ethnic_category",
    "numerator": "numerator",
    "denominator": "denominator",
}

#: Unexpected rows are reported by these columns of the parsed rows.
ROW_ID_COLUMNS = ["file_name", "source_row"]


def first_of_month(day: date) -> datetime:
    return datetime(day.year, day.month, 1)


def _suite(name: str, expectations: list, notes: str | None = None) -> gx.ExpectationSuite:
    """A suite built without a data context (``add_expectation`` would need one)."""
    suite = gx.ExpectationSuite(name=name, expectations=expectations, notes=notes)
    if len(suite.expectations) != len(expectations):  # GX logs and drops invalid ones: refuse
        raise ValueError(f"suite {name}: an expectation was rejected by Great Expectations")
    return suite


def _meta(rule: str, column: str | None = None, **extra) -> dict:
    meta = {"rule": rule}
    if column is not None:
        meta["column"] = column
    meta.update(extra)
    return meta


def structure_suite(ref: Reference, today: date) -> gx.ExpectationSuite:
    """What every parsed row must satisfy for its file to be loaded (contract rules 1, 2, 3, 5).

    Unrecognised values reach this suite verbatim from the parser, so the set checks name them.
    The uniqueness of the key is checked within a file (``file_name`` is part of the compound key):
    a later file for the same site-month is a resubmission, not a duplicate.
    """
    E = gx.expectations
    critical = FailureSeverity.CRITICAL
    month_limit = first_of_month(today)
    expectations: list = []
    add = expectations.append

    for column in REQUIRED_COLUMN_TYPES:
        add(
            E.ExpectColumnToExist(
                column=column,
                severity=critical,
                meta=_meta(MISSING_COLUMN, column),
                notes=f"The parsed rows must have a '{column}' column.",
            )
        )
    for column, type_ in REQUIRED_COLUMN_TYPES.items():
        add(
            E.ExpectColumnValuesToBeOfType(
                column=column,
                type_=type_,
                severity=critical,
                meta=_meta(WRONG_COLUMN_TYPE, column),
                notes=f"'{column}' must hold values of type {type_}.",
            )
        )

    for column, rule, codes, what in (
        ("site_code", UNKNOWN_SITE, sorted(ref.site_codes), "a LAN site code"),
        ("measure_code", UNKNOWN_MEASURE, sorted(ref.measure_codes), "a LAN measure code"),
        ("ethnic_code", INVALID_ETHNIC_CATEGORY, list(ref.ethnic_codes), "an NHS Data Dictionary ethnic category"),
    ):
        add(
            E.ExpectColumnValuesToNotBeNull(
                column=column, severity=critical, meta=_meta(rule, column), notes=f"Every row must name {what}."
            )
        )
        add(
            E.ExpectColumnValuesToBeInSet(
                column=column,
                value_set=codes,
                severity=critical,
                meta=_meta(rule, column),
                notes=f"Every row must name {what} of the reference list.",
            )
        )
    add(
        E.ExpectColumnValuesToNotBeNull(
            column="month_start_date",
            severity=critical,
            meta=_meta(INVALID_PERIOD, "month_start_date"),
            notes="Every row must name the month it reports.",
        )
    )

    for column in ("numerator", "denominator"):
        add(
            E.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                severity=critical,
                meta=_meta(NEGATIVE_COUNT, column),
                notes=f"The {column} is a count: a whole number of 0 or more (empty = not submitted).",
            )
        )
    add(
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="denominator",
            column_B="numerator",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            severity=critical,
            meta=_meta(NUMERATOR_ABOVE_DENOMINATOR, "numerator"),
            notes="The numerator counts events among the denominator's population: numerator <= denominator.",
        )
    )
    add(
        E.ExpectCompoundColumnsToBeUnique(
            column_list=["file_name", *KEY_COLUMNS],
            severity=critical,
            meta=_meta(DUPLICATE_KEY),
            notes="No two rows of a file share site, period, measure and ethnic category.",
        )
    )
    add(
        E.ExpectColumnValuesToBeBetween(
            column="month_start_date",
            max_value=month_limit,
            strict_max=True,
            severity=critical,
            meta=_meta(FUTURE_PERIOD, "month_start_date", month_limit=month_limit.date().isoformat()),
            notes=f"Months must have ended: the period must be before {month_limit:%B %Y} "
            f"(validated on {today.isoformat()}).",
        )
    )
    return _suite(
        STRUCTURE_SUITE, expectations, "Structural rules of the monthly site return; any failure refuses the file."
    )


def completeness_suite(threshold: float = DEFAULT_COMPLETENESS_THRESHOLD) -> gx.ExpectationSuite:
    """Over the completeness frame: each site-month-measure's share of denominator with a known
    ethnic category is at least ``threshold``. A NULL completeness (denominator total 0: nothing
    to be complete about) is not evaluated, hence not a failure."""
    return _suite(
        COMPLETENESS_SUITE,
        [
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="completeness",
                min_value=float(threshold),
                severity=FailureSeverity.WARNING,
                meta=_meta(ETHNICITY_COMPLETENESS, "completeness", threshold=float(threshold)),
                notes=f"At least {threshold:.0%} of each site-month-measure's denominator must have a known "
                "ethnic category (not Z 'Not stated', not 99 'Not known').",
            )
        ],
        "Ethnicity completeness; failures flag the site-month, they do not refuse it.",
    )


def _differential_suite(
    name: str,
    rule: str,
    column: str,
    margin: float,
    judged_column: str,
    minimum: tuple[str, int],
    notes: str,
    suite_notes: str,
) -> gx.ExpectationSuite:
    """A differential-completeness suite: ``column`` must stay strictly below ``margin`` on the rows
    where ``judged_column`` is at least ``minimum`` (its name in the meta, its value; a GX row condition); failures flag, they do not refuse."""
    return _suite(
        name,
        [
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=column,
                max_value=float(margin),
                strict_max=True,
                row_condition=Column(name=judged_column) >= int(minimum[1]),
                severity=FailureSeverity.WARNING,
                meta=_meta(rule, column, threshold=float(margin), **{minimum[0]: int(minimum[1])}),
                notes=notes,
            )
        ],
        suite_notes,
    )


def group_differential_suite(
    margin: float = GROUP_MISSING_MARGIN, min_missing_cells: int = GROUP_MIN_MISSING_CELLS
) -> gx.ExpectationSuite:
    """Over the by-group frame: a known ethnic group's share of empty cells must stay below the
    other known groups' share plus ``margin``; only groups with ``min_missing_cells`` or more
    empty cells are judged."""
    return _differential_suite(
        GROUP_DIFFERENTIAL_SUITE,
        DIFFERENTIAL_MISSING_BY_GROUP,
        "missing_gap",
        margin,
        "n_missing",
        ("min_missing_cells", min_missing_cells),
        f"Numerators or denominators must not go missing for one ethnic group {margin * 100:.0f} percentage points "
        f"or more often than for the site-month's other groups (judged when the group has {min_missing_cells} or "
        "more empty cells).",
        "Differential completeness across ethnic groups; failures flag, they do not refuse.",
    )


def measure_differential_suite(
    margin: float = MEASURE_OUTLIER_MARGIN, min_other_measures: int = MEASURE_MIN_OTHER_MEASURES
) -> gx.ExpectationSuite:
    """Over the by-measure frame: a measure's completeness must be less than ``margin`` below the
    median completeness of the site-month's other measures (judged when at least
    ``min_other_measures`` others have a completeness)."""
    return _differential_suite(
        MEASURE_DIFFERENTIAL_SUITE,
        MEASURE_COMPLETENESS_OUTLIER,
        "shortfall",
        margin,
        "n_other_measures",
        ("min_other_measures", min_other_measures),
        f"A measure's ethnicity completeness must not be {margin * 100:.0f} percentage points or more below the "
        "median of the site-month's other measures.",
        "Differential completeness across measures; failures flag, they do not refuse.",
    )
