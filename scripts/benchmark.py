#!/usr/bin/env python
"""National-scale benchmark of the LAN pipeline (`make bench`; README "Performance").

    python scripts/benchmark.py [--sites 130] [--months 60] [--json PATH] [--growth] [--keep]

1. Generates canonical CSV returns for N synthetic sites (S001..) x M months with
   ``ingest.sample_data`` (``write_reference`` + ``write_returns(variants=False)``) into a temporary
   folder, and a reference folder that lists those sites (``LAN_REFERENCE_DIR``). Generation time is
   printed but kept out of every pipeline figure.
2. Full run: the files are put in ``<tmp>/home/landing`` and the real pipeline runs in a subprocess,
   ``python -m orchestration.run`` with ``LAN_HOME=<tmp>/home`` and ``LAN_REFERENCE_DIR=<tmp>/reference``
   (exactly what ``make run`` runs).
3. Incremental run(s): one new site-month file lands in that full warehouse and the pipeline runs again.
4. Baseline: the same transformations as plain DuckDB SQL in a subprocess (read the same CSV files,
   check them, aggregate to the marts, gap metrics by group and by category with the same statistics),
   timed the same way; the ratio pipeline / baseline is printed.

Stage times come from Dagster's own event log of each run (``LAN_HOME/dagster``: STEP_START and
STEP_SUCCESS per step), mapped to stages as ``STEP_STAGES`` says; the ingest step is split into
parse / validate / load by the "Ingest timing" line the ingest asset logs. ``startup`` is process start to
RUN_START (imports, ``dbt parse``, loading the definitions) and ``dagster overhead`` is what is left
(between steps and after the run). Memory and CPU come from polling ``/proc`` for the pipeline's
whole process tree (dbt runs as a child of the pipeline): ``peak MB`` is the largest sum of the tree's
resident set sizes seen in the stage (sampled every 0.2 s), and each process's own largest RSS is kept by
its role (make run, code server, dagster-daemon, run worker, dbt); ``wait4`` adds the exact high-water mark
of the processes it reaped and the CPU total when the run ends. The machine is shared:
the CPU other processes used during each run is printed too (from ``/proc/stat``).

By default the pipeline's code (ingest, expectations, publish, orchestration, dbt_project without
target/) is copied to ``<tmp>/code`` and run from there, so that the dbt partial-parse cache in
``dbt_project/target`` is the benchmark's own and not overwritten by other runs of the same checkout
(tests, ``make ui``). ``--in-place`` runs from this checkout instead; ``--code DIR`` from another copy of the
project (e.g. an older version, to compare).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: Stages in print order. parse/validate/load split the ingest step; the rest map Dagster steps.
STAGES = (
    "startup",
    "parse",
    "validate",
    "load",
    "dbt build",
    "gap metrics",
    "run charts",
    "evaluation",
    "publish",
    "dagster overhead",
)
PIPELINE_STAGES = ("parse", "validate", "load", "dbt build", "gap metrics", "run charts", "evaluation", "publish")
INGEST_STEP = "landing_files"
#: Dagster step key -> stage. Asset checks are steps named <asset>_<check>; they match by suffix.
STEP_STAGES = {
    "raw__data_quality_results": "validate",
    "lan_dbt_models": "dbt build",
    "analysis__run_chart_points": "run charts",
    "lan_dbt_analysis_models": "run charts",
    "run_charts": "run charts",
    "analysis__gap_trend_fits": "evaluation",
    "gap_change_page": "evaluation",
    "quality_report": "publish",
    "published_warehouse": "publish",
    "dbt_docs": "publish",
    "evaluation_release": "publish",
    "submission_status_page": "publish",
    "data_team_alerts": "publish",
    "partner_warehouse": "publish",
}
CHECK_STAGES = {  # matched by suffix, in this order: the specific names first
    "published_warehouse_has_every_marts_table": "publish",
    "published_warehouse_has_no_nan_or_infinity": "publish",
    "evaluation_release_checks_itself": "publish",
    "partner_warehouse_is_disclosure_safe": "publish",
    "no_file_quarantined_this_run": "validate",
    "return_rows_are_well_formed": "validate",
    "completeness_even_across_groups_and_measures": "validate",
    "ethnicity_completeness_meets_threshold": "validate",
    "run_chart_points_cover_every_series_month": "run charts",
    "run_chart_limits_are_finite": "run charts",
    # The gap tables are dbt models (built in "dbt build"); their asset checks are this stage.
    "has_every_expected_row": "gap metrics",
    "has_no_nan_or_infinity": "gap metrics",
    "gap_change_rows_complete": "evaluation",
    "gap_change_estimates_finite": "evaluation",
    "gap_trend_rows_complete": "evaluation",
    "gap_trend_estimates_finite": "evaluation",
    "no_overdue_returns": "dbt build",
    "every_site_month_with_numbers_has_a_report": "dbt build",
}
BASELINE_STAGES = ("startup", "read", "validate", "marts", "gap metrics")
#: Comparable parts: pipeline (parse..gap metrics) against baseline (read..gap metrics).
COMPARABLE_PIPELINE = ("parse", "validate", "load", "dbt build", "gap metrics")
COMPARABLE_BASELINE = ("read", "validate", "marts", "gap metrics")

TARGETS = {"full_s": 300.0, "ratio": 3.0, "incremental_s": 30.0, "peak_mb": 2048.0}
LAST_MONTH = date(2025, 12, 1)  # the generated window ends here (or at the last complete month)
GROWTH_SITES = (10, 40, 130)
CODE_PARTS = (
    "ingest",
    "expectations",
    "publish",
    "orchestration",
    "dbt_project",
    "deploy",
    "dagster.yaml",
    "pyproject.toml",
)
INGEST_TIMING = re.compile(
    r"Ingest timing: parse ([\d.]+) s(?: \(cpu ([\d.]+) s\))?, validate ([\d.]+) s"
    r"(?: \(cpu ([\d.]+) s\))?, load ([\d.]+) s"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_MB = 1 / 1024  # VmRSS is in kB


# --------------------------------------------------------------------------------------------------
# Measuring a process tree
# --------------------------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _proc_stats() -> dict[int, tuple[int, int, float]]:
    """pid -> (ppid, start time in ticks, CPU seconds) for every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        text = _read(f"/proc/{name}/stat")
        if not text:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        # fields[0] is state (stat field 3): ppid = field 4, utime 14, stime 15, starttime 22
        out[int(name)] = (int(fields[1]), int(fields[19]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def _rss_mb(pid: int) -> float:
    text = _read(f"/proc/{pid}/status") or ""
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) * PAGE_MB if m else 0.0


def process_role(argv: list[str], parent_role: str | None = None) -> str:
    """What a process of the pipeline's tree is, from its command line and its parent's role: the code server
    starts each run worker, and a run worker its chart workers, as multiprocessing children."""
    text = " ".join(argv)
    if "multiprocessing" in text and parent_role in ("code server", "run worker"):
        return "run worker" if parent_role == "code server" else "chart worker"
    for needle, role in (
        ("dagster-daemon", "dagster-daemon"),
        ("execute_run", "run worker"),
        ("grpc", "code server"),
        ("orchestration.run", "make run"),
        ("dbt", "dbt"),
    ):
        if needle in text:
            return role
    return Path(argv[0]).name if argv else "?"


def _role(pid: int, parent_role: str | None) -> str:
    return process_role([a for a in (_read(f"/proc/{pid}/cmdline") or "").split("\0") if a], parent_role)


def _system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in (_read("/proc/stat") or "cpu 0 0 0 0").splitlines()[0].split()[1:9]]
    total = sum(values)
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (total - idle) / CLK_TCK, total / CLK_TCK


class TreeSampler(threading.Thread):
    """Polls /proc: the summed RSS of root's process tree and its cumulative CPU, every `interval` s."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples: list[tuple[float, float, float]] = []  # (epoch s, tree RSS MB, tree CPU s so far)
        self._cpu: dict[tuple[int, int], float] = {}  # (pid, start ticks) -> last CPU seen
        self.process_peaks: dict[tuple[int, int], tuple[float, str]] = {}  # (pid, start) -> (largest RSS MB, role)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def sample(self) -> None:
        stats = _proc_stats()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [self.root] if self.root in stats else []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, ()))
        rss = 0.0
        roles: dict[int, str] = {}  # a parent comes before its children in `tree`
        for pid in tree:
            ppid, start, cpu = stats[pid]
            self._cpu[(pid, start)] = cpu
            own = _rss_mb(pid)
            rss += own
            seen, role = self.process_peaks.get((pid, start), (0.0, None))
            roles[pid] = role or _role(pid, roles.get(ppid))
            if own > seen:
                self.process_peaks[(pid, start)] = (own, roles[pid])
        self.samples.append((time.time(), rss, sum(self._cpu.values())))

    def window(self, start: float, end: float) -> tuple[float | None, float | None]:
        """(peak tree RSS MB, CPU s) between two epoch times, from the samples around them."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        before = [s for s in self.samples if s[0] < start]
        after = [s for s in self.samples if s[0] > end]
        edge = ([before[-1]] if before else []) + inside + ([after[0]] if after else [])
        peak = max((s[1] for s in inside), default=None)
        if peak is None and edge:  # a stage shorter than one sampling interval
            peak = max(s[1] for s in edge)
        cpu = edge[-1][2] - edge[0][2] if len(edge) >= 2 else None
        return peak, cpu


@dataclass
class Measured:
    """One subprocess run: wall, exact CPU and max single-process RSS (wait4), sampled tree figures."""

    returncode: int
    started: float
    ended: float
    cpu_s: float
    max_process_mb: float
    sampler: TreeSampler
    other_cpu_s: float
    stdout: str
    stderr: str

    @property
    def wall_s(self) -> float:
        return self.ended - self.started

    @property
    def peak_tree_mb(self) -> float:
        return max((s[1] for s in self.sampler.samples), default=0.0)

    @property
    def peak_by_role(self) -> dict[str, float]:
        """The largest RSS (MB) any one process of each role reached, largest first."""
        out: dict[str, float] = {}
        for mb, role in self.sampler.process_peaks.values():
            out[role] = max(out.get(role, 0.0), mb)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def run_measured(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> Measured:
    busy0, _ = _system_cpu()
    started = time.time()
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    busy1, _ = _system_cpu()
    # wait4 counts the process and the descendants it waited for; the run worker is the dagster-daemon's child
    # (the daemon is make run's), which the daemon may not reap before it stops: the sampler saw its CPU.
    sampled = sampler.samples[-1][2] if sampler.samples else 0.0
    cpu = max(usage.ru_utime + usage.ru_stime, sampled)
    return Measured(
        proc.returncode,
        started,
        ended,
        cpu,
        usage.ru_maxrss / 1024,
        sampler,
        max(0.0, (busy1 - busy0) - cpu),
        log.with_suffix(".out").read_text(),
        log.with_suffix(".err").read_text(),
    )


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def _add_months(month: date, n: int) -> date:
    i = month.year * 12 + month.month - 1 + n
    return date(i // 12, i % 12 + 1, 1)


def window_end(today: date | None = None) -> date:
    """LAST_MONTH, or the month before the last complete one if that is earlier: a month that has not ended is
    refused, and the incremental run sends the month after the window."""
    today = today or date.today()
    return min(LAST_MONTH, _add_months(date(today.year, today.month, 1), -2))


@dataclass
class Workload:
    root: Path
    sites: int
    months: int
    start: date
    end: date
    returns: Path = field(init=False)
    reference: Path = field(init=False)
    files: list[Path] = field(default_factory=list)
    generate_s: float = 0.0

    def __post_init__(self) -> None:
        self.returns = self.root / "returns"
        self.reference = self.root / "reference"
        self.pristine_reference = self.root / "reference.orig"

    def reference_intact(self) -> bool:
        return all(
            (self.reference / f.name).exists() and (self.reference / f.name).read_bytes() == f.read_bytes()
            for f in self.pristine_reference.iterdir()
        )

    def restore_reference(self) -> None:
        shutil.copytree(self.pristine_reference, self.reference, dirs_exist_ok=True)

    @property
    def rows(self) -> int:
        return len(self.files) * 7 * 18


def generate(root: Path, sites: int, months: int) -> Workload:
    from ingest.sample_data import synthetic_profiles, write_reference, write_returns

    end = window_end()
    work = Workload(root, sites, months, _add_months(end, -(months - 1)), end)
    began = time.perf_counter()
    profiles = synthetic_profiles(sites)
    write_reference(work.reference, profiles)
    work.files = write_returns(work.returns, profiles, work.start, work.end, variants=False)
    shutil.copytree(work.reference, work.pristine_reference)
    work.generate_s = time.perf_counter() - began
    return work


def incremental_file(work: Workload, k: int, dest: Path) -> Path:
    """The k-th (0-based) new site-month file: site k+1's month after the window (a correction of the
    last month, with other numbers, if that month has not ended)."""
    from ingest.sample_data import DEFAULT_SEED, synthetic_profiles, write_returns

    profile = synthetic_profiles(work.sites)[k % work.sites]
    month, seed = _add_months(work.end, 1 + k // work.sites), DEFAULT_SEED
    if month >= date.today().replace(day=1):  # not ended yet: send a correction of the last month
        month, seed = work.end, DEFAULT_SEED + 1 + k
    staging = dest.parent / f".incoming-{k}"
    (path,) = write_returns(staging, [profile], month, month, seed=seed, variants=False)
    return path


def land(files: list[Path], landing: Path) -> None:
    """Put files in landing/ (hard links, so the originals stay for the baseline; mtimes are kept)."""
    landing.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = landing / f.name
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


def copy_code(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("target", "logs", "__pycache__", "*.pyc", ".pytest_cache")
    dest.mkdir(parents=True, exist_ok=True)
    for part in CODE_PARTS:
        src = REPO_ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=ignore, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / part)
    return dest


# --------------------------------------------------------------------------------------------------
# Pipeline runs and their Dagster events
# --------------------------------------------------------------------------------------------------


def pipeline_env(home: Path, reference: Path, code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAN_", "DAGSTER_"))}
    env.update(
        {
            "LAN_HOME": str(home),
            "LAN_REFERENCE_DIR": str(reference),
            "PYTHONPATH": str(code),
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        }
    )
    return env


def step_stage(step_key: str) -> str:
    if step_key in STEP_STAGES:
        return STEP_STAGES[step_key]
    for check, stage in CHECK_STAGES.items():
        if step_key.endswith(check):
            return stage
    return "dagster overhead"


def dagster_steps(home: Path, stdout: str) -> tuple[str, float, float, dict[str, tuple[float, float]], dict]:
    """run id, RUN_START and RUN_SUCCESS times, {step key: (start, end)} and the ingest timing line."""
    from dagster import DagsterEventType as E
    from dagster._core.instance import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster"))) as instance:
        m = re.search(r"Pipeline run ([0-9a-f-]{36}) succeeded", stdout)
        run_id = m.group(1) if m else instance.get_runs(limit=1)[0].run_id
        run_start = run_end = None
        steps: dict[str, list[float | None]] = {}
        ingest: dict[str, float] = {}
        for entry in instance.all_logs(run_id):
            if entry.is_dagster_event:
                kind = entry.dagster_event_type
                if kind in (E.RUN_START, E.PIPELINE_START):
                    run_start = entry.timestamp
                elif kind in (E.RUN_SUCCESS, E.RUN_FAILURE, E.PIPELINE_SUCCESS, E.PIPELINE_FAILURE):
                    run_end = entry.timestamp
                elif kind == E.STEP_START:
                    steps.setdefault(entry.step_key, [None, None])[0] = entry.timestamp
                elif kind in (E.STEP_SUCCESS, E.STEP_FAILURE):
                    steps.setdefault(entry.step_key, [None, None])[1] = entry.timestamp
            else:
                t = INGEST_TIMING.search(entry.user_message or "")
                if t:
                    ingest = {"parse": float(t.group(1)), "validate": float(t.group(3)), "load": float(t.group(5))}
                    if t.group(2):
                        ingest["parse_cpu"], ingest["validate_cpu"] = float(t.group(2)), float(t.group(4))
    done = {k: (s, e) for k, (s, e) in steps.items() if s is not None and e is not None}
    return run_id, run_start, run_end, done, ingest


def _stage(wall: float, cpu: float | None, peak: float | None) -> dict:
    return {
        "wall_s": round(wall, 3),
        "cpu_s": None if cpu is None else round(cpu, 2),
        "peak_mb": None if peak is None else round(peak, 1),
    }


def run_pipeline(work: Workload, home: Path, code: Path, label: str, files: list[Path]) -> dict:
    # The reference lists must come out of a run as they went in (when they were dbt seeds at an absolute
    # LAN_REFERENCE_DIR, dbt wrote its compiled seed SQL over them): checked after each run, put back before.
    work.restore_reference()
    land(files, home / "landing")
    m = run_measured(
        [sys.executable, "-m", "orchestration.run"],
        pipeline_env(home, work.reference, code),
        code,
        work.root / f"{label}.log",
    )
    if m.returncode != 0:
        raise SystemExit(
            f"the pipeline failed in the {label} run (exit {m.returncode}); log: "
            f"{work.root / label}.out/.err\n{m.stderr[-3000:]}"
        )
    clobbered = not work.reference_intact()
    run_id, run_start, run_end, steps, ingest = dagster_steps(home, m.stdout)
    s = m.sampler
    stages: dict[str, dict] = {}
    step_rows = {}
    for key, (a, b) in sorted(steps.items(), key=lambda kv: kv[1][0]):
        peak, cpu = s.window(a, b)
        step_rows[key] = _stage(b - a, cpu, peak) | {"stage": "ingest" if key == INGEST_STEP else step_stage(key)}
    by_stage: dict[str, list[tuple[float, float]]] = {}
    for key, (a, b) in steps.items():
        if key != INGEST_STEP:
            by_stage.setdefault(step_stage(key), []).append((a, b))

    peak, cpu = s.window(m.started, run_start)
    stages["startup"] = _stage(run_start - m.started, cpu, peak)
    if INGEST_STEP in steps:
        a, b = steps[INGEST_STEP]
        peak, cpu = s.window(a, b)
        walls = {k: ingest.get(k, 0.0) for k in ("parse", "validate", "load")}
        cpus = {"parse": ingest.get("parse_cpu"), "validate": ingest.get("validate_cpu")}
        if cpu is not None and cpus["parse"] is not None:
            cpus["load"] = max(0.0, cpu - cpus["parse"] - cpus["validate"])
        # the rest of the ingest step (Dagster's own work around the asset body) counts as load
        walls["load"] += max(0.0, (b - a) - sum(walls.values()))
        for k in ("parse", "validate", "load"):
            stages[k] = _stage(walls[k], cpus.get(k), peak)
    for stage in PIPELINE_STAGES:
        windows = by_stage.get(stage, [])
        if not windows:
            stages.setdefault(stage, _stage(0.0, 0.0, None))
            continue
        wall = sum(b - a for a, b in windows)
        measured = [s.window(a, b) for a, b in windows]
        cpu = sum(c for _, c in measured if c is not None)
        peak = max((p for p, _ in measured if p is not None), default=None)
        if stage == "validate" and "validate" in stages:  # GX structural suite inside the ingest step
            prev = stages["validate"]
            wall += prev["wall_s"]
            cpu += prev["cpu_s"] or 0.0
            peak = max(p for p in (peak, prev["peak_mb"]) if p is not None)
        stages[stage] = _stage(wall, cpu, peak)
    accounted = sum(v["wall_s"] for k, v in stages.items())
    total_cpu = sum(v["cpu_s"] or 0.0 for v in stages.values())
    stages["dagster overhead"] = _stage(max(0.0, m.wall_s - accounted), max(0.0, m.cpu_s - total_cpu), None)
    return {
        "label": label,
        "run_id": run_id,
        "files": len(files),
        "rows": len(files) * 7 * 18,
        "wall_s": round(m.wall_s, 2),
        "cpu_s": round(m.cpu_s, 2),
        "peak_tree_mb": round(m.peak_tree_mb, 1),
        "max_process_mb": round(max(m.max_process_mb, *m.peak_by_role.values(), 0.0), 1),
        "peak_by_process_mb": {role: round(mb, 1) for role, mb in m.peak_by_role.items()},
        "other_cpu_s": round(m.other_cpu_s, 1),
        "reference_overwritten_by_run": clobbered,
        "stages": {k: stages[k] for k in STAGES if k in stages},
        "steps": step_rows,
    }


# --------------------------------------------------------------------------------------------------
# Baseline: the same transformations as plain DuckDB SQL
# --------------------------------------------------------------------------------------------------

BASELINE_SQL: dict[str, list[str]] = {
    "read": [
        """
create or replace table return_rows as
select site_code, strptime(period, '%Y-%m')::date as month_start_date, measure_code,
       coalesce(ethnic_category, '99') as ethnic_code, numerator, denominator,
       parse_filename(filename) as file_name
from read_csv('{returns}/*.csv', header = true, filename = true, auto_detect = false,
              columns = {{'site_code': 'VARCHAR', 'period': 'VARCHAR', 'measure_code': 'VARCHAR',
                         'ethnic_category': 'VARCHAR', 'numerator': 'BIGINT', 'denominator': 'BIGINT'}})
""",
        """
create or replace table sites as select * from read_csv('{reference}/lan_sites.csv', header = true, all_varchar = true)
""",
        """
create or replace table ethnic as
select ethnic_code, ethnic_label, ethnic_group, is_known::boolean as is_known, sort_order::integer as sort_order
from read_csv('{reference}/ethnic_category.csv', header = true, all_varchar = true)
""",
        """
create or replace table measures as
select * replace (multiplier::integer as multiplier, higher_is_better::boolean as higher_is_better)
from read_csv('{reference}/measures.csv', header = true, all_varchar = true)
""",
    ],
    "validate": [
        """
create or replace table structural_problems as
select 'unknown_site' as rule, file_name from return_rows anti join sites using (site_code)
union all select 'unknown_measure', file_name from return_rows anti join measures using (measure_code)
union all select 'invalid_ethnic_category', file_name from return_rows anti join ethnic using (ethnic_code)
union all select 'negative_count', file_name from return_rows where numerator < 0 or denominator < 0
union all select 'numerator_above_denominator', file_name from return_rows where numerator > denominator
union all select 'future_period', file_name from return_rows where month_start_date >= date_trunc('month', current_date)
union all select 'duplicate_key', file_name from return_rows
          group by file_name, site_code, month_start_date, measure_code, ethnic_code having count(*) > 1
""",
        """
create or replace table quality_results as
with smm as (
    select r.file_name, r.site_code, r.month_start_date, r.measure_code,
           sum(r.denominator) filter (where e.is_known) / nullif(sum(r.denominator), 0) as completeness,
           coalesce(sum(r.denominator), 0) as denominator_total,
           coalesce(sum(r.denominator) filter (where e.is_known), 0) as denominator_known,
           avg(case when r.numerator is null or r.denominator is null then 1 else 0 end)
               filter (where e.is_known) as share_empty
    from return_rows r join ethnic e using (ethnic_code)
    group by all
)
select *, completeness >= {threshold} as meets_threshold,
       completeness < median(completeness) over (partition by file_name, month_start_date) - 0.15 as measure_outlier
from smm
""",
    ],
    "marts": [
        # The marts the gap models read, in schema marts as dbt builds them.
        "create schema if not exists marts",
        "create or replace table marts.dim_ethnic_category as select * from ethnic",
        "create or replace table marts.dim_measure as select * from measures",
        """
create or replace table dim_submission as
select site_code, month_start_date, file_name, count(*) as row_count, true as is_current
from return_rows group by all
""",
        """
create or replace table marts.fct_ethnicity_completeness as
select site_code, month_start_date, measure_code, denominator_total, denominator_known, completeness,
       meets_threshold as meets_completeness_threshold
from quality_results
""",
        """
create or replace table marts.fct_measure_monthly as
select r.site_code, r.month_start_date, r.measure_code, r.ethnic_code, r.numerator, r.denominator,
       r.file_name, c.meets_completeness_threshold
from return_rows r
left join marts.fct_ethnicity_completeness c using (site_code, month_start_date, measure_code)
""",
        """
create or replace table marts.dim_month as
select month_start_date, year(month_start_date) as year, month(month_start_date) as month_number,
       strftime(month_start_date, '%Y-%m') as month_label,
       fy::varchar || '/' || lpad(((fy + 1) % 100)::varchar, 2, '0') as financial_year,
       fy::varchar || '/' || lpad(((fy + 1) % 100)::varchar, 2, '0') || ' Q'
           || (((month(month_start_date) + 8) % 12) // 3 + 1)::varchar as quarter_label,
       case when month_start_date < date '{programme_start}' then 'baseline' else 'intervention' end
           as programme_phase
from (
    select m::date as month_start_date, case when month(m) >= 4 then year(m) else year(m) - 1 end as fy
    from (select unnest(range(min(month_start_date)::timestamp,
                              (max(month_start_date) + interval 1 month)::timestamp, interval 1 month)) as m
          from return_rows)
)
""",
        """
create or replace table fct_submission_status as
select s.site_code, m.month_start_date,
       case when any_value(d.site_code) is null then 'missing'
            when bool_and(c.meets_completeness_threshold) then 'loaded' else 'flagged' end as status
from sites s cross join marts.dim_month m
left join dim_submission d on d.site_code = s.site_code and d.month_start_date = m.month_start_date
left join marts.fct_ethnicity_completeness c on c.site_code = s.site_code and c.month_start_date = m.month_start_date
group by s.site_code, m.month_start_date
""",
    ],
    # "gap metrics": the SQL dbt compiled for the gap models in the pipeline's run (publish.dbt_compiled), so that
    # no formula is written twice.
    "gap metrics": [],
}


def baseline_worker(returns: str, reference: str, database: str, dbt_target: str) -> int:
    """Run in a subprocess by run_baseline: each stage's epoch window and CPU, as JSON on stdout.

    dbt_target: the pipeline's dbt target folder, whose compiled/ SQL of the gap models is run as it is."""
    import duckdb

    from publish.dbt_compiled import GAP_MODELS, read_compiled, run_compiled

    windows = {"startup": [None, time.time(), time.process_time()]}  # start: when the parent spawned us
    params = {
        "returns": returns,
        "reference": reference,
        "threshold": 0.9,
        "programme_start": "2024-01-01",
    }
    con = duckdb.connect(database)
    counts = {}
    for stage, statements in BASELINE_SQL.items():
        t0, c0 = time.time(), time.process_time()
        for sql in statements:
            con.execute(sql.format(**params))
        if stage == "gap metrics":
            run_compiled(con, read_compiled(Path(dbt_target), GAP_MODELS))
        windows[stage] = [t0, time.time(), time.process_time() - c0]
    for table in (
        "return_rows",
        "marts.fct_measure_monthly",
        "marts.gap_metrics",
        "marts.gap_metrics_by_ethnic_category",
    ):
        counts[table.removeprefix("marts.")] = con.execute(f"select count(*) from {table}").fetchone()[0]
    con.close()
    print(json.dumps({"windows": windows, "rows": counts, "duckdb": duckdb.__version__}))
    return 0


def run_baseline(work: Workload) -> dict:
    database = work.root / "baseline.duckdb"
    database.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    m = run_measured(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--baseline-worker",
            str(work.returns),
            str(work.pristine_reference),
            str(database),
            str(work.root / "home" / "dbt" / "build"),
        ],
        env,
        REPO_ROOT,
        work.root / "baseline.log",
    )
    if m.returncode != 0:
        raise SystemExit(f"the baseline failed (exit {m.returncode}):\n{m.stderr[-3000:]}")
    out = json.loads(m.stdout.strip().splitlines()[-1])
    stages = {}
    for stage in BASELINE_STAGES:
        a, b, cpu = out["windows"][stage]
        if stage == "startup":
            a = m.started
        peak, _ = m.sampler.window(a, b)
        stages[stage] = _stage(b - a, cpu, peak)
    return {
        "wall_s": round(m.wall_s, 2),
        "cpu_s": round(m.cpu_s, 2),
        "peak_tree_mb": round(m.peak_tree_mb, 1),
        "max_process_mb": round(m.max_process_mb, 1),
        "other_cpu_s": round(m.other_cpu_s, 1),
        "stages": stages,
        "rows": out["rows"],
        "duckdb": out["duckdb"],
    }


# --------------------------------------------------------------------------------------------------
# One benchmark at one size
# --------------------------------------------------------------------------------------------------


def machine() -> dict:
    import duckdb

    meminfo = _read("/proc/meminfo") or ""
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    cpu = re.search(r"model name\s*:\s*(.+)", _read("/proc/cpuinfo") or "")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "ram_gb": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def benchmark(
    sites: int,
    months: int,
    root: Path,
    incremental: int = 1,
    in_place: bool = False,
    baseline: bool = True,
    code: Path | None = None,
    say=print,
) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    say(f"\n== {sites} sites x {months} months in {root}")
    work = generate(root, sites, months)
    say(
        f"generated {len(work.files)} files ({work.rows:,} rows, {work.start:%Y-%m}..{work.end:%Y-%m}) in "
        f"{work.generate_s:.1f} s (not counted)"
    )
    code = code or (REPO_ROOT if in_place else copy_code(root / "code"))
    home = root / "home"
    result = {
        "sites": sites,
        "months": months,
        "files": len(work.files),
        "rows": work.rows,
        "window": [f"{work.start:%Y-%m}", f"{work.end:%Y-%m}"],
        "generate_s": round(work.generate_s, 2),
        "code": str(code),
        "loadavg_before": list(os.getloadavg()),
    }
    say("full run ...")
    result["full"] = run_pipeline(work, home, code, "full", work.files)
    say(f"  {result['full']['wall_s']:.1f} s")
    result["incremental"] = []
    for k in range(incremental):
        new = incremental_file(work, k, root / "incoming")
        say(f"incremental run {k + 1}: {new.name} ...")
        run = run_pipeline(work, home, code, f"incremental-{k + 1}", [new])
        run["file"] = new.name
        result["incremental"].append(run)
        say(f"  {run['wall_s']:.1f} s")
    if baseline:
        say("plain DuckDB baseline ...")
        result["baseline"] = run_baseline(work)
        say(f"  {result['baseline']['wall_s']:.1f} s")
        full, base = result["full"], result["baseline"]
        comparable_p = sum(full["stages"][s]["wall_s"] for s in COMPARABLE_PIPELINE)
        comparable_b = sum(base["stages"][s]["wall_s"] for s in COMPARABLE_BASELINE)
        result["ratio"] = {
            "total": round(full["wall_s"] / base["wall_s"], 2),
            "comparable_stages": round(comparable_p / comparable_b, 2),
            "comparable_pipeline_s": round(comparable_p, 2),
            "comparable_baseline_s": round(comparable_b, 2),
        }
    result["loadavg_after"] = list(os.getloadavg())
    result["targets"] = targets(result)
    return result


def targets(result: dict) -> dict:
    full = result["full"]
    incr = max((r["wall_s"] for r in result["incremental"]), default=None)
    peak = max([full["peak_tree_mb"]] + [r["peak_tree_mb"] for r in result["incremental"]])
    out = {
        "full_under_5_min": {
            "value_s": full["wall_s"],
            "target_s": TARGETS["full_s"],
            "met": full["wall_s"] < TARGETS["full_s"],
        },
        "peak_under_2_gb": {"value_mb": peak, "target_mb": TARGETS["peak_mb"], "met": peak < TARGETS["peak_mb"]},
    }
    if incr is not None:
        out["incremental_under_30_s"] = {
            "value_s": incr,
            "target_s": TARGETS["incremental_s"],
            "met": incr < TARGETS["incremental_s"],
        }
    if "ratio" in result:
        out["within_3x_baseline"] = {
            "value": result["ratio"]["total"],
            "target": TARGETS["ratio"],
            "met": result["ratio"]["total"] <= TARGETS["ratio"],
        }
    return out


# --------------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------------


def _n(v, fmt="{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def format_result(result: dict, steps: bool = False) -> str:
    full, incs = result["full"], result["incremental"]
    runs = [("full", full)] + [(f"incr {i + 1}", r) for i, r in enumerate(incs)]
    head = f"{'stage':<18}" + "".join(f"{name + ' s':>11}{'CPU s':>8}{'peak MB':>9}" for name, _ in runs)
    lines = [
        f"Pipeline, {result['sites']} sites x {result['months']} months: {result['files']:,} files, "
        f"{result['rows']:,} rows (generation {result['generate_s']:.1f} s, not counted)",
        head,
        "-" * len(head),
    ]
    for stage in STAGES:
        row = f"{stage:<18}"
        for _, r in runs:
            st = r["stages"].get(stage, {})
            row += f"{_n(st.get('wall_s'), '{:.2f}'):>11}{_n(st.get('cpu_s')):>8}{_n(st.get('peak_mb'), '{:.0f}'):>9}"
        lines.append(row)
    lines.append("-" * len(head))
    row = f"{'total':<18}"
    for _, r in runs:
        row += f"{r['wall_s']:>11.2f}{r['cpu_s']:>8.1f}{r['peak_tree_mb']:>9.0f}"
    lines.append(row)
    lines.append(f"{'largest process':<18}" + "".join(f"{'':>11}{'':>8}{r['max_process_mb']:>9.0f}" for _, r in runs))
    for label, r in runs:
        roles = ", ".join(f"{role} {mb:.0f}" for role, mb in r.get("peak_by_process_mb", {}).items())
        lines.append(f"  largest RSS by process ({label}), MB: {roles}")
    lines.append(
        f"{'other processes':<18}"
        + "".join(f"{'':>11}{r['other_cpu_s']:>8.1f}{'':>9}" for _, r in runs)
        + "   (CPU s used by the rest of the machine meanwhile)"
    )
    if any(r.get("reference_overwritten_by_run") for _, r in runs):
        lines.append(
            "WARNING: a run changed the reference CSVs in LAN_REFERENCE_DIR; the benchmark put them back "
            "before the next run."
        )
    lines.append(
        "parse/validate/load: split of the ingest step by its own timing log; their peak MB is the "
        "ingest step's. validate includes the GX checks steps and the quality asset."
    )
    if steps:
        lines.append("")
        lines.append(f"{'Dagster step':<72}{'stage':>14}" + "".join(f"{name + ' s':>11}" for name, _ in runs))
        for key in full["steps"]:
            lines.append(
                f"{key[:71]:<72}{full['steps'][key]['stage']:>14}"
                + "".join(f"{_n(r['steps'].get(key, {}).get('wall_s'), '{:.2f}'):>11}" for _, r in runs)
            )
    if "baseline" in result:
        b = result["baseline"]
        lines += [
            "",
            f"Plain DuckDB {b['duckdb']} baseline (same files: read, check, marts, gap metrics by group "
            "and by category)",
            f"{'stage':<18}{'wall s':>11}{'CPU s':>8}{'peak MB':>9}",
        ]
        for stage in BASELINE_STAGES:
            st = b["stages"][stage]
            lines.append(f"{stage:<18}{st['wall_s']:>11.2f}{_n(st['cpu_s']):>8}{_n(st['peak_mb'], '{:.0f}'):>9}")
        lines.append(f"{'total':<18}{b['wall_s']:>11.2f}{b['cpu_s']:>8.1f}{b['peak_tree_mb']:>9.0f}")
        r = result["ratio"]
        lines.append(
            f"ratio pipeline / baseline: {r['total']:.1f}x in total; {r['comparable_stages']:.1f}x for the "
            f"comparable stages (parse..gap metrics {r['comparable_pipeline_s']:.1f} s against read..gap "
            f"metrics {r['comparable_baseline_s']:.1f} s)"
        )
    lines.append("")
    lines.append("Targets:")
    for name, t in result["targets"].items():
        value = t.get("value_s", t.get("value_mb", t.get("value")))
        target = t.get("target_s", t.get("target_mb", t.get("target")))
        lines.append(f"  {name:<24} {value:>10.1f} (target {target:g})  {'met' if t['met'] else 'MISSED'}")
    lines.append(
        f"load average before/after: {' '.join(f'{x:.2f}' for x in result['loadavg_before'])} / "
        f"{' '.join(f'{x:.2f}' for x in result['loadavg_after'])}"
    )
    return "\n".join(lines)


def format_growth(results: list[dict]) -> str:
    head = (
        f"{'sites':>6}{'files':>7}{'rows':>10}{'full s':>9}{'incr s':>8}{'base s':>8}{'ratio':>7}"
        f"{'peak MB':>9}" + "".join(f"{s[:10]:>11}" for s in PIPELINE_STAGES)
    )
    lines = ["Growth (wall s per stage of the full run)", head, "-" * len(head)]
    for r in results:
        incr = max((i["wall_s"] for i in r["incremental"]), default=None)
        base = r.get("baseline", {}).get("wall_s")
        lines.append(
            f"{r['sites']:>6}{r['files']:>7}{r['rows']:>10,}{r['full']['wall_s']:>9.1f}{_n(incr):>8}"
            f"{_n(base):>8}{_n(r.get('ratio', {}).get('total')):>7}{r['full']['peak_tree_mb']:>9.0f}"
            + "".join(f"{r['full']['stages'][s]['wall_s']:>11.1f}" for s in PIPELINE_STAGES)
        )
    if len(results) >= 2:
        a, b = results[0], results[-1]
        rows = b["rows"] - a["rows"]
        lines.append("")
        lines.append(
            f"marginal cost {a['sites']} -> {b['sites']} sites: "
            f"{(b['full']['wall_s'] - a['full']['wall_s']) / rows * 1e5:.2f} s per 100k rows "
            f"(pipeline), {(b['baseline']['wall_s'] - a['baseline']['wall_s']) / rows * 1e5:.3f} s per "
            f"100k rows (baseline)"
            if "baseline" in a and "baseline" in b
            else f"marginal cost: {(b['full']['wall_s'] - a['full']['wall_s']) / rows * 1e5:.2f} s per 100k rows"
        )
        slope = (b["full"]["wall_s"] - a["full"]["wall_s"]) / rows
        fixed = a["full"]["wall_s"] - slope * a["rows"]
        lines.append(f"fixed cost (intercept of the line through both): {fixed:.1f} s")
        for r in results[1:-1]:
            lines.append(
                f"that line predicts {fixed + slope * r['rows']:.1f} s at {r['sites']} sites; measured "
                f"{r['full']['wall_s']:.1f} s"
            )
        incs = [[i["wall_s"] for i in r["incremental"]] for r in results]
        if all(incs):
            lines.append(
                "incremental runs (one file each, in a row): "
                + "; ".join(
                    f"{r['sites']} sites " + ", ".join(f"{x:.1f}" for x in i) + " s" for r, i in zip(results, incs)
                )
            )
        for s in PIPELINE_STAGES:
            x, y = a["full"]["stages"][s]["wall_s"], b["full"]["stages"][s]["wall_s"]
            lines.append(
                f"  {s:<12} {x:8.1f} -> {y:8.1f} s  (x{y / x if x else float('nan'):.1f} for "
                f"x{b['rows'] / a['rows']:.1f} rows)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=130, help="number of synthetic sites (130)")
    parser.add_argument("--months", type=int, default=60, help="months per site (60)")
    parser.add_argument("--incremental", type=int, default=1, help="incremental one-file runs after the full one (1)")
    parser.add_argument(
        "--growth",
        action="store_true",
        help=f"run at {', '.join(map(str, GROWTH_SITES))} sites and print how time grows",
    )
    parser.add_argument("--json", type=Path, help="also write every figure as JSON to this path")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain DuckDB baseline")
    parser.add_argument("--steps", action="store_true", help="also print every Dagster step")
    parser.add_argument("--in-place", action="store_true", help="run the pipeline from this checkout, not a copy")
    parser.add_argument(
        "--code", type=Path, help="run the pipeline from this copy of the project (e.g. an older version, to compare)"
    )
    parser.add_argument("--workdir", type=Path, help="work here (kept) instead of a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--baseline-worker", nargs=4, metavar=("RETURNS", "REFERENCE", "DB", "DBT_TARGET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.baseline_worker:
        return baseline_worker(*args.baseline_worker)
    if args.sites < 1 or args.months < 1:
        parser.error("--sites and --months must be >= 1")

    info = machine()
    print(
        f"machine: {info['cores']} cores ({info['cpu']}), {info['ram_gb']} GB RAM, Python {info['python']}, "
        f"DuckDB {info['duckdb']}; load average {' '.join(f'{x:.2f}' for x in info['loadavg_at_start'])}"
    )
    root = args.workdir or Path(tempfile.mkdtemp(prefix="lan-bench-"))
    sizes = GROWTH_SITES if args.growth else (args.sites,)
    results = []
    try:
        for sites in sizes:
            r = benchmark(
                sites,
                args.months,
                root / f"{sites}x{args.months}",
                incremental=args.incremental,
                in_place=args.in_place,
                baseline=not args.no_baseline,
                code=args.code.resolve() if args.code else None,
            )
            results.append(r)
            print()
            print(format_result(r, steps=args.steps))
        if args.growth:
            print()
            print(format_growth(results))
    finally:
        if not (args.keep or args.workdir):
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"\nkept {root}")
    report = {"machine": info, "results": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
