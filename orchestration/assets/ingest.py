"""Ingest: every file in landing/ is kept (raw/ or quarantine/) and accepted rows are loaded."""

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from ingest.parsed import ParsedFile
from ingest.reference import load_reference
from ingest.report import parse_with_reports
from ingest.store import ingest_landing, settling_paths
from orchestration.markdown import markdown_table
from orchestration.resources import LanHome

RAW_TABLES = ("files", "file_arrivals", "submissions", "return_rows")
RAW_KEYS = {name: dg.AssetKey(["raw", name]) for name in RAW_TABLES}


def _timed(timings: dict[str, float], stage: str, fn: Callable) -> Callable:
    """fn, adding its wall and CPU time to timings (the benchmark reads the "Ingest timing" log line)."""

    def run(*args):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - wall
            timings[f"{stage}_cpu"] = timings.get(f"{stage}_cpu", 0.0) + time.process_time() - cpu

    return run


def check_parsed(parsed: Sequence[ParsedFile], today) -> None:
    """Run the structural suite once over every file that parsed cleanly; its failures refuse the file."""
    from expectations.validate import check_structure  # lazily: see orchestration/assets/__init__.py

    candidates = [p for p in parsed if p.accepted and not p.rows.empty]
    if not candidates:
        return
    rows = pd.concat([p.rows for p in candidates], ignore_index=True)
    by_file = {p.file_name: p for p in candidates}
    for problem in check_structure(rows, load_reference(), today):
        by_file[problem.file_name].problems.append(problem)


def reports_table(reports: Sequence) -> str:
    """The monthly reports of this run as a markdown table: where, outcome, changes loaded, reasons (never a
    personal value: a report holding one says only the row, column and kind)."""
    rows = [
        {
            "report": r.source,
            "site": r.site_code or "",
            "months": ", ".join(f"{m:%Y-%m}" for m in r.months),
            "outcome": "accepted" if r.accepted else "refused",
            "changes": len(r.rows),
            "reasons": "; ".join(f"row {p.row} {p.column or ''}: {p.rule}".replace(" :", ":") for p in r.errors[:5]),
        }
        for r in reports
    ]
    return markdown_table(pd.DataFrame(rows))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            RAW_KEYS["files"], description="Every file received, by sha256: accepted or quarantined, with its problems."
        ),
        dg.AssetSpec(RAW_KEYS["file_arrivals"], description="Every arrival in landing/, repeats included."),
        dg.AssetSpec(RAW_KEYS["submissions"], description="Site-month submissions held by accepted files."),
        dg.AssetSpec(RAW_KEYS["return_rows"], description="Rows of accepted files in the contract's long format."),
    ],
    group_name="ingest",
    compute_kind="python",
)
def landing_files(context: dg.AssetExecutionContext, lan: LanHome):
    """Process every file waiting in LAN_HOME/landing in one batch."""
    settings = lan.settings
    today = datetime.now(UTC).date()
    reference = load_reference()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    report = ingest_landing(
        settings,
        parse=_timed(timings, "parse", lambda paths, contents: parse_with_reports(paths, reference, today, contents)),
        check=_timed(timings, "validate", lambda parsed: check_parsed(parsed, today)),
        run_id=context.run_id,
    )
    t = {k: timings.get(k, 0.0) for k in ("parse", "parse_cpu", "validate", "validate_cpu")}
    context.log.info(
        f"Ingest timing: parse {t['parse']:.3f} s (cpu {t['parse_cpu']:.3f} s), validate "
        f"{t['validate']:.3f} s (cpu {t['validate_cpu']:.3f} s), load "
        f"{time.perf_counter() - started - t['parse'] - t['validate']:.3f} s (hash, keep, insert)"
    )
    for path in settling_paths(settings.landing):
        context.log.info(f"Left in landing/ for a later run: {path.name} changed within LAN_SETTLE_SECONDS")
    for parsed in report.quarantined:
        context.log.warning(f"Quarantined {parsed.file_name}:\n" + "\n".join(f"  - {p}" for p in parsed.errors))
    for parsed in report.accepted:
        for warning in parsed.warnings:
            context.log.warning(f"Loaded with a warning: {warning}")
    context.log.info(
        f"{len(report.accepted)} file(s) loaded ({len(report.submission_ids)} site-month submissions, "
        f"{report.rows_loaded} rows), {len(report.quarantined)} quarantined, {len(report.repeats)} repeat(s)."
    )
    for monthly in report.reports:
        if monthly.sheet is not None and not monthly.accepted:  # a refused report file is logged above
            context.log.warning(f"Report refused, {monthly.source}:\n" + "\n".join(f"  - {p}" for p in monthly.errors))
    quarantined = {p.file_name: "; ".join(str(e) for e in p.errors)[:500] for p in report.quarantined}
    yield dg.MaterializeResult(
        asset_key=RAW_KEYS["files"],
        metadata={
            "files_accepted": len(report.accepted),
            "files_quarantined": len(report.quarantined),
            "quarantined": dg.MetadataValue.json(quarantined),
            "reports_accepted": sum(r.accepted for r in report.reports),
            "reports_refused": sum(not r.accepted for r in report.reports),
            "reports": dg.MetadataValue.md(reports_table(report.reports)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=RAW_KEYS["file_arrivals"], metadata={"arrivals": report.files_seen, "repeats": len(report.repeats)}
    )
    yield dg.MaterializeResult(
        asset_key=RAW_KEYS["submissions"], metadata={"new_submissions": len(report.submission_ids)}
    )
    yield dg.MaterializeResult(asset_key=RAW_KEYS["return_rows"], metadata={"rows_loaded": report.rows_loaded})
