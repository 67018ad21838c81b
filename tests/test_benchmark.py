"""scripts/benchmark.py, small: 2 sites x 13 months, one incremental run, the plain DuckDB baseline.

The real pipeline runs twice in a subprocess (about a minute on two cores); the test checks that the printed
table and the JSON name every stage, with positive times, and that the baseline and the ratio are there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import benchmark  # noqa: E402


def test_benchmark_small_run(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "benchmark.py"),
            "--sites",
            "2",
            "--months",
            "13",
            "--workdir",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    text = done.stdout
    for stage in benchmark.STAGES + ("total",):
        assert f"\n{stage} " in text, stage
    assert "ratio pipeline / baseline" in text and "Targets:" in text

    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1 and report["machine"]["duckdb"]
    (result,) = report["results"]
    assert (result["sites"], result["months"], result["files"], result["rows"]) == (2, 13, 26, 26 * 126)
    full = result["full"]
    for stage in benchmark.PIPELINE_STAGES + ("startup",):
        assert full["stages"][stage]["wall_s"] > 0, stage
        assert full["stages"][stage]["peak_mb"] > 0, stage
    assert full["wall_s"] >= sum(s["wall_s"] for s in full["stages"].values()) - 0.01
    assert full["cpu_s"] > 0 and full["peak_tree_mb"] > 0 and full["max_process_mb"] > 0
    roles = full["peak_by_process_mb"]  # each process of the tree by its role, the run worker among them
    assert {"make run", "code server", "dagster-daemon", "run worker", "dbt"} <= set(roles), roles
    assert full["max_process_mb"] >= max(roles.values()) and full["peak_tree_mb"] >= roles["run worker"]
    assert "largest RSS by process (full), MB: " in text
    gap_check = "gap_metrics_gap_metrics_has_every_expected_row"  # the gap tables are dbt models; their checks
    assert {"landing_files", "lan_dbt_models", gap_check, "run_charts", "evaluation_release"} <= set(full["steps"])
    assert full["steps"][gap_check]["stage"] == "gap metrics"
    assert all(step["stage"] != "dagster overhead" for step in full["steps"].values()), full["steps"]

    (incremental,) = result["incremental"]
    assert incremental["files"] == 1 and incremental["file"].startswith("S001_")
    assert incremental["wall_s"] > 0 and set(incremental["stages"]) == set(benchmark.STAGES)

    baseline = result["baseline"]
    for stage in benchmark.BASELINE_STAGES:
        assert baseline["stages"][stage]["wall_s"] > 0, stage
    assert baseline["rows"]["return_rows"] == 26 * 126 and baseline["rows"]["gap_metrics"] > 0
    assert result["ratio"]["total"] > 0 and result["ratio"]["comparable_stages"] > 0
    assert set(result["targets"]) == {
        "full_under_5_min",
        "peak_under_2_gb",
        "incremental_under_30_s",
        "within_3x_baseline",
    }


def test_window_and_stage_mapping():
    from datetime import date

    assert benchmark.window_end(date(2026, 11, 22)) == date(2025, 12, 1)
    assert benchmark.window_end(date(2025, 6, 3)) == date(2025, 4, 1)
    assert benchmark._add_months(date(2025, 12, 1), -59) == date(2021, 1, 1)
    assert benchmark.step_stage("lan_dbt_models") == "dbt build"
    assert benchmark.step_stage("raw__return_rows_return_rows_are_well_formed") == "validate"
    assert benchmark.step_stage("something_new") == "dagster overhead"
    assert benchmark.step_stage(
        "gap_metrics_by_ethnic_category_gap_metrics_by_ethnic_category_has_no_nan_or_infinity"
    ) == ("gap metrics")


# The run_charts fix the benchmark measures: only charts whose data changed are drawn, the rest in a process pool.


def _chart_points(sites: int, measures: tuple[str, ...]):
    from datetime import date

    import numpy as np
    import pandas as pd

    from publish.run_charts import build_run_chart_points

    rng = np.random.default_rng(3)
    months = pd.date_range("2023-01-01", periods=24, freq="MS").date
    rows = [
        ("site", f"S{s:03d}", m, "group_rate", g, month, float(v), True)
        for s in range(1, sites + 1)
        for m in measures
        for g in ("White", "Mixed", "Black or Black British")
        for month, v in zip(months, rng.normal(10, 1, months.size))
    ]
    frame = pd.DataFrame(
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
    return build_run_chart_points(frame, date(2024, 1, 1))


def test_charts_are_drawn_again_only_when_their_data_change(tmp_path):
    from datetime import date

    import pandas as pd

    from publish.charts import write_site_pages

    points = _chart_points(2, ("PPH1500", "MHBOOK"))
    measures = pd.DataFrame(
        {"measure_code": ["PPH1500", "MHBOOK"], "measure_name": ["PPH", "MH"], "unit": ["per 1000", "percent"]}
    )
    start = date(2024, 1, 1)
    stats: dict = {}
    first = write_site_pages(points, measures, tmp_path, start, workers=1, stats=stats)
    assert stats == {"charts_drawn": 4, "charts_unchanged": 0}
    pages = {p: p.read_bytes() for p in first if p.suffix == ".html"}
    pngs = {p: p.stat().st_mtime_ns for p in first if p.suffix == ".png"}

    again = write_site_pages(points, measures, tmp_path, start, workers=1, stats=stats)
    assert again == first and stats == {"charts_drawn": 0, "charts_unchanged": 4}
    assert {p: p.read_bytes() for p in pages} == pages
    assert {p: p.stat().st_mtime_ns for p in pngs} == pngs

    changed = points.copy()
    hit = (changed["site_code"] == "S002") & (changed["measure_code"] == "MHBOOK")
    changed.loc[hit, "value"] = changed.loc[hit, "value"] + 1
    (tmp_path / "S001" / "PPH1500.png").unlink()
    write_site_pages(changed, measures, tmp_path, start, workers=1, stats=stats)
    assert stats == {"charts_drawn": 2, "charts_unchanged": 2}
    assert (tmp_path / "S001" / "PPH1500.png").is_file()
    assert (tmp_path / "S001" / "MHBOOK.png").stat().st_mtime_ns == pngs[tmp_path / "S001" / "MHBOOK.png"]
    assert (tmp_path / "S002" / "MHBOOK.png").stat().st_mtime_ns != pngs[tmp_path / "S002" / "MHBOOK.png"]

    write_site_pages(changed, measures, tmp_path, date(2023, 7, 1), workers=1, stats=stats)
    assert stats["charts_drawn"] == 4  # the programme start is part of every chart


def test_a_chart_is_drawn_again_when_its_gap_rows_change_and_not_when_they_come_in_another_order(tmp_path):
    from datetime import date

    import pandas as pd

    from publish.charts import write_site_pages

    points = _chart_points(2, ("PPH1500", "MHBOOK"))
    measures = pd.DataFrame({"measure_code": ["PPH1500", "MHBOOK"], "measure_name": ["PPH", "MH"]})
    gap = points[points["ethnic_group"] != "White"][["geography_level", "site_code", "measure_code"]].copy()
    gap[["ethnic_group", "month_start_date"]] = points.loc[gap.index, ["ethnic_group", "month_start_date"]]
    gap["rate_ratio"], gap["rate_ratio_lower_95"], gap["rate_ratio_upper_95"] = 1.2, 0.9, 1.6
    start, stats = date(2024, 1, 1), {}
    write_site_pages(points, measures, tmp_path, start, ratios=gap, workers=1, stats=stats)
    assert stats == {"charts_drawn": 4, "charts_unchanged": 0}

    write_site_pages(points, measures, tmp_path, start, ratios=gap.iloc[::-1], workers=1, stats=stats)
    assert stats == {"charts_drawn": 0, "charts_unchanged": 4}

    changed = gap.copy()
    one = changed.index[(changed["site_code"] == "S001") & (changed["measure_code"] == "MHBOOK")][5]
    changed.loc[one, "rate_ratio_upper_95"] = 1.7
    before = (tmp_path / "S002" / "MHBOOK.png").stat().st_mtime_ns
    write_site_pages(points, measures, tmp_path, start, ratios=changed, workers=1, stats=stats)
    assert stats == {"charts_drawn": 1, "charts_unchanged": 3}
    assert (tmp_path / "S002" / "MHBOOK.png").stat().st_mtime_ns == before


def test_charts_drawn_in_a_pool_are_the_same_pictures(tmp_path):
    from datetime import date

    import matplotlib.image as mpimg
    import pandas as pd

    from publish.charts import write_site_pages

    points = _chart_points(3, ("PPH1500", "MHBOOK", "PTB37", "PTB34", "GDMDIAG", "GDMOGTT"))  # 18 charts
    measures = pd.DataFrame({"measure_code": ["PPH1500"], "measure_name": ["PPH"], "unit": ["per 1000"]})
    stats: dict = {}
    pooled = write_site_pages(points, measures, tmp_path / "pool", date(2024, 1, 1), workers=2, stats=stats)
    assert stats["charts_drawn"] == 18
    alone = write_site_pages(points, measures, tmp_path / "alone", date(2024, 1, 1), workers=1)
    for a, b in zip(pooled, alone, strict=True):
        assert a.relative_to(tmp_path / "pool") == b.relative_to(tmp_path / "alone")
        if a.suffix == ".png":
            assert (mpimg.imread(a) == mpimg.imread(b)).all(), a
        else:
            assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8"), a


def test_process_roles_from_command_lines():
    python = "/srv/lan/.venv/bin/python"
    assert benchmark.process_role([python, "-m", "orchestration.run"]) == "make run"
    assert benchmark.process_role([python, "-m", "dagster", "api", "grpc", "--socket", "/tmp/s"]) == "code server"
    assert benchmark.process_role([python, "/srv/lan/.venv/bin/dagster-daemon", "run"]) == "dagster-daemon"
    assert benchmark.process_role([python, "-m", "dagster", "api", "execute_run", "{}"]) == "run worker"
    assert benchmark.process_role([python, "/srv/lan/.venv/bin/dbt", "build", "--vars", "{}"]) == "dbt"
    spawned = [
        python,
        "-B",
        "-c",
        "from multiprocessing.spawn import spawn_main; spawn_main()",
        "--multiprocessing-fork",
    ]
    assert benchmark.process_role(spawned, "code server") == "run worker"
    assert benchmark.process_role(spawned, "run worker") == "chart worker"
    assert benchmark.process_role(["/usr/bin/tail", "-F", "x.log"]) == "tail"
    assert benchmark.process_role([]) == "?"
