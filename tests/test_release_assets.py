"""The release assets (orchestration/assets/release.py) on a real sample build: where they sit in the graph, their
asset checks passing on good outputs and failing on broken ones, dbt docs with the project's overview page."""

from __future__ import annotations

import os
import shutil

import dagster as dg
import duckdb
import pytest

from orchestration.resources import LanHome


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """The release module, imported with a LAN_HOME set and the dbt manifest prepared."""
    from ingest.settings import Settings
    from orchestration.instance import prepare_environment

    home = tmp_path_factory.mktemp("assets_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAN_HOME", str(home))
        patch.setenv("PATH", os.environ["PATH"])
        patch.setenv("DAGSTER_HOME", os.environ.get("DAGSTER_HOME", str(home)))
        prepare_environment(Settings.from_env())
        from orchestration.assets import release

        yield release


def test_release_assets_wait_for_what_they_publish(assets):
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {k.path[-1] for k in graph.get(dg.AssetKey([name])).parent_keys}

    assert {"gap_metrics", "fct_measure_monthly", "run_chart_points"} <= parents("published_warehouse")
    # the released gap tables read gap_metrics through the one model of their working counts (not released)
    assert "gap_metrics" in parents("int_gap_metrics_rounded")  # the dbt model, not a dangling source
    assert parents("release_gap_metrics") == {"int_gap_metrics_rounded"}
    assert parents("release_gap_change") == {"int_gap_metrics_rounded", "gap_change"}
    assert {"release_gap_metrics", "release_fct_measure_monthly"} <= parents("evaluation_release")
    assert parents("partner_warehouse") == {"evaluation_release"}
    for name in ("published_warehouse", "evaluation_release", "partner_warehouse", "dbt_docs"):
        assert graph.get(dg.AssetKey([name])).group_name == "publish"
    checks = {key.name for key in graph.asset_check_keys}
    assert {
        "published_warehouse_has_every_marts_table",
        "published_warehouse_has_no_nan_or_infinity",
        "evaluation_release_checks_itself",
        "partner_warehouse_is_disclosure_safe",
        "disclosure_safe_count_release_fct_measure_monthly_numerator",
    } <= checks


@pytest.fixture
def home(built_home, tmp_path):
    """A copy of the sample build's publish folder and warehouse, to break."""
    copy = tmp_path / "home"
    shutil.copytree(built_home / "publish", copy / "publish")
    shutil.copytree(built_home / "warehouse", copy / "warehouse")
    return copy


def _check(check, **resources) -> dg.AssetCheckResult:
    return check(**resources)


@pytest.mark.e2e
def test_partner_copy_check_passes_and_fails_on_a_small_count(assets, home):
    lan = LanHome(lan_home=str(home))
    assert _check(assets.partner_warehouse_is_disclosure_safe, lan=lan).passed
    partner = home / "publish" / "partner" / "warehouse.duckdb"
    con = duckdb.connect(str(partner))
    con.execute("update marts.fct_measure_monthly set numerator = 3 where numerator is null")
    con.close()
    result = _check(assets.partner_warehouse_is_disclosure_safe, lan=lan)
    assert not result.passed and "fct_measure_monthly.numerator" in result.metadata["problems"].value


@pytest.mark.e2e
def test_release_check_passes_and_fails_on_a_changed_file(assets, home):
    from publish.release import latest_release

    lan = LanHome(lan_home=str(home))
    assert _check(assets.evaluation_release_checks_itself, lan=lan).passed
    release = latest_release(home / "publish" / "evaluation")
    with (release / "dim_site.csv").open("a") as f:
        f.write("ZZZ,x,x,x\n")
    result = _check(assets.evaluation_release_checks_itself, lan=lan)
    assert not result.passed and "dim_site.csv: sha256" in result.metadata["problems"].value


@pytest.mark.e2e
def test_published_warehouse_check_passes_and_fails_on_a_missing_table(assets, home):
    from dagster_duckdb import DuckDBResource

    lan = LanHome(lan_home=str(home))
    warehouse = DuckDBResource(database=str(home / "warehouse" / "lan.duckdb"))
    check = assets.published_warehouse_has_every_marts_table
    assert _check(check, lan=lan, warehouse=warehouse).passed
    con = duckdb.connect(str(home / "publish" / "warehouse.duckdb"))
    con.execute("drop table marts.dim_month")
    con.close()
    result = _check(check, lan=lan, warehouse=warehouse)
    assert not result.passed and "marts.dim_month" in result.metadata["problems"].value


@pytest.mark.e2e
def test_published_warehouse_nan_check_passes_and_fails_on_a_nan(assets, home):
    lan = LanHome(lan_home=str(home))
    assert _check(assets.published_warehouse_has_no_nan_or_infinity, lan=lan).passed
    con = duckdb.connect(str(home / "publish" / "warehouse.duckdb"))
    con.execute("update marts.gap_metrics set rate = 'nan'::double where rowid = 0")
    con.close()
    result = _check(assets.published_warehouse_has_no_nan_or_infinity, lan=lan)
    assert not result.passed and "gap_metrics.rate: 1" in result.metadata["problems"].value


@pytest.mark.e2e
def test_dbt_docs_open_on_the_overview_and_are_not_generated_again(assets, built_home):
    from dagster_duckdb import DuckDBResource

    from orchestration.project import dbt_project

    page = (built_home / "publish" / "docs" / "index.html").read_text(encoding="utf-8")
    assert "Who uses what" in page and "publish/partner/warehouse.duckdb" in page
    marker = (built_home / "publish" / "docs" / assets.DOCS_INPUTS_FILE).read_text().strip()
    warehouse = DuckDBResource(database=str(built_home / "warehouse" / "lan.duckdb"))
    # the inputs hash the docs were made from is the one a run with nothing new computes: no regeneration
    assert assets._docs_inputs_hash(dbt_project.manifest_path, warehouse) == marker


def test_every_model_and_source_has_a_real_description(assets):
    from orchestration.project import dbt_project
    from publish.dictionary import load_manifest

    manifest = load_manifest(dbt_project.manifest_path)
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    nodes += list(manifest["sources"].values())
    for node in nodes:
        text = " ".join((node.get("description") or "").split())
        assert len(text) >= 20, f"{node['unique_id']} has no real description"
        assert not text.lower().startswith(("raw sql", "todo", "tbd", "select ", "with ")), node["unique_id"]
    overview = manifest["docs"].get("doc.lan_warehouse.__overview__")
    assert overview and "Who uses what" in overview["block_contents"]


@pytest.mark.e2e
def test_a_run_with_nothing_new_rebuilds_neither_the_release_nor_the_docs(built_home, tmp_path):
    from publish.release import latest_release
    from tests.conftest import run_pipeline

    home = tmp_path / "home"
    shutil.copytree(built_home, home, symlinks=True)
    docs = home / "publish" / "docs" / "index.html"
    partner = home / "publish" / "partner" / "warehouse.duckdb"
    before = {
        "release": latest_release(home / "publish" / "evaluation"),
        "docs": docs.stat().st_mtime_ns,
        "partner": partner.stat().st_ino,
        "folders": sorted(p.name for p in (home / "publish" / "evaluation").iterdir()),
    }
    run_pipeline(home)
    assert latest_release(home / "publish" / "evaluation") == before["release"]
    assert sorted(p.name for p in (home / "publish" / "evaluation").iterdir()) == before["folders"]
    assert docs.stat().st_mtime_ns == before["docs"]  # dbt docs generate was skipped
    assert partner.stat().st_ino == before["partner"]  # the partner's copy was not rewritten
    # run again: nothing new since that run (same code and settings, no file, no due date passed): no run at all
    import dagster as dg

    again = run_pipeline(home)
    assert "Nothing new since the last run" in again.stdout and "queued" not in again.stdout
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert len(instance.get_runs(filters=dg.RunsFilter(job_name="lan_pipeline"))) == 2


@pytest.mark.e2e
def test_the_partner_gap_change_comes_from_rounded_counts(built_home):
    """The partner's gap_change: counts rounded, and every statistic recomputed from gap_metrics' rounded counts,
    so its periods' rate ratios are the released gap_metrics' own and differ from the unrounded ones somewhere."""
    partner = duckdb.connect(str(built_home / "publish" / "partner" / "warehouse.duckdb"), read_only=True)
    try:
        rows, mismatched, small = partner.execute("""
            select
                count(*),
                count(*) filter (where abs(c.baseline_rate_ratio - g.rate_ratio) > 1e-12 * g.rate_ratio),
                count(*) filter (where c.baseline_numerator between 1 and 7 or c.baseline_numerator % 5 <> 0)
            from marts.gap_change as c
            inner join marts.gap_metrics as g
                on c.geography_level = g.geography_level and c.site_code = g.site_code
                and c.measure_code = g.measure_code and c.ethnic_group = g.ethnic_group
                and g.period_type = 'programme_phase' and g.period_label = 'baseline'
            where c.baseline_rate_ratio is not null""").fetchone()
        released = partner.execute("select count(*) from marts.gap_trend").fetchone()[0]
        reports = partner.execute("select count(*) from marts.fct_site_report").fetchone()[0]
        partner_lan = partner.execute(
            "select measure_code, ethnic_group, comparison, adjusted_ratio_of_rate_ratios from marts.gap_change "
            "where geography_level = 'lan' order by all"
        ).fetchall()
    finally:
        partner.close()
    assert rows > 0 and mismatched == 0 and small == 0
    assert released > 0 and reports > 0
    full = duckdb.connect(str(built_home / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        full_lan = full.execute(
            "select measure_code, ethnic_group, comparison, adjusted_ratio_of_rate_ratios from marts.gap_change "
            "where geography_level = 'lan' order by all"
        ).fetchall()
    finally:
        full.close()
    assert [r[:3] for r in partner_lan] == [r[:3] for r in full_lan]
    # the site-adjusted ratio is recomputed from the sites' rounded counts: not the unrounded figure everywhere
    assert any(a[3] != b[3] for a, b in zip(partner_lan, full_lan, strict=True) if a[3] is not None)
