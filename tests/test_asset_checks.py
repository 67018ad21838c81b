"""The Dagster asset checks judge the warehouse for real: each passes on good data and fails on bad.

(`no_file_quarantined_this_run` needs a run id: tests/test_pipeline_end_to_end.py sees it fail in a real run.)"""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from orchestration.assets.quality import (
    completeness_even_across_groups_and_measures,
    ethnicity_completeness_meets_threshold,
    structure_of_new_rows,
)
from orchestration.resources import LanHome


@pytest.fixture()
def home(built_home, tmp_path):
    """A writable copy of the built LAN_HOME."""
    copy = tmp_path / "lan"
    shutil.copytree(built_home, copy, symlinks=True)
    return copy


def _evaluate(check, home, **kwargs):
    resources = {
        "lan": LanHome(lan_home=str(home)),
        "warehouse": DuckDBResource(database=str(home / "warehouse" / "lan.duckdb")),
    }
    return check(**{k: v for k, v in resources.items() if k in check.required_resource_keys}, **kwargs)


def _warehouse(home):
    return DuckDBResource(database=str(home / "warehouse" / "lan.duckdb"))


def test_structure_check_validates_the_rows_loaded_in_this_run_and_fails_on_a_bad_one(home):
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"))
    [(run_id,)] = con.execute("select distinct run_id from raw.files").fetchall()
    [(rows,)] = con.execute("select count(*) from raw.return_rows").fetchall()
    con.close()
    result = structure_of_new_rows(_warehouse(home), run_id)
    assert result.passed and result.metadata["rows_checked"].value == rows
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"))
    con.execute(
        "update raw.return_rows set numerator = denominator + 1 "
        "where rowid = (select min(rowid) from raw.return_rows where denominator > 0)"
    )
    con.close()
    result = structure_of_new_rows(_warehouse(home), run_id)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["problems"].value == 1
    assert "numerator" in result.metadata["first_problems"].value
    # a later run that loaded nothing re-validates nothing: earlier rows were checked by their own run
    later = structure_of_new_rows(_warehouse(home), "a-later-run")
    assert later.passed and later.metadata["rows_checked"].value == 0


def test_completeness_check_warns_with_the_lowest_site_months(home):
    result = _evaluate(ethnicity_completeness_meets_threshold, home)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["below_threshold"].value == 7
    assert "UHL" in result.metadata["lowest"].value
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"))
    con.execute("update marts.fct_ethnicity_completeness set meets_completeness_threshold = true")
    con.close()
    assert _evaluate(ethnicity_completeness_meets_threshold, home).passed


def test_differential_completeness_check_flags_a_group_missing_more(home):
    assert _evaluate(completeness_even_across_groups_and_measures, home).passed
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"))
    con.execute("""update marts.fct_data_quality_results set success = false
                   where rowid = (select min(rowid) from marts.fct_data_quality_results
                                  where rule = 'differential_missing_by_group' and is_current_submission)""")
    con.close()
    result = _evaluate(completeness_even_across_groups_and_measures, home)
    assert not result.passed and result.metadata["flagged"].value == 1
