"""Whether a `make run` has anything to do: a run with nothing new says so and does nothing.

Nothing is new when landing/ holds no file, the code and the settings are those of the last successful `make run`
(its tag `lan/fingerprint`), and no return fell due since that run's date (its tag `lan/run_date`): a due date
passed makes returns overdue, so the status, alerts and tables change even with no file. The sensor and the
schedule start runs only when there is something to do (files landed; a due date passed), so they need no check.
`make run FORCE=1` (`--force`) runs anyway."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import date
from pathlib import Path

from ingest.settings import REPO_ROOT, Settings
from ingest.store import IGNORED_PREFIXES

FINGERPRINT_TAG = "lan/fingerprint"
RUN_DATE_TAG = "lan/run_date"
#: What a run computes with: the code (and the dbt project and reference lists in it) and dagster.yaml.
CODE_PARTS = ("ingest", "expectations", "publish", "orchestration", "dbt_project", "dagster.yaml")
SKIPPED_FOLDERS = {"target", "logs", "dbt_packages", "__pycache__", ".pytest_cache"}


def _code_files(root: Path) -> list[Path]:
    files = []
    for part in CODE_PARTS:
        path = root / part
        if path.is_file():
            files.append(path)
            continue
        for file in path.rglob("*"):
            if file.is_file() and not SKIPPED_FOLDERS.intersection(file.relative_to(root).parts):
                files.append(file)
    return sorted(files)


def fingerprint(settings: Settings, root: Path = REPO_ROOT) -> str:
    """sha256 of the code's files and the settings a run computes with (not the run date, which due dates use)."""
    digest = hashlib.sha256()
    for file in _code_files(root):
        digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    chosen = {k: str(v) for k, v in sorted(asdict(settings).items()) if k != "run_date"}
    digest.update(repr(chosen).encode())
    return digest.hexdigest()


def due_date_between(after: date, until: date, due_day: int) -> date | None:
    """The first due date (day `due_day` of a month) in (after, until], or None."""
    year, month = after.year, after.month
    while True:
        due = date(year, month, due_day)
        if due > until:
            return None
        if due > after:
            return due
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def files_waiting(landing: Path) -> list[str]:
    """The names of the files in landing/ (hidden and lock files aside)."""
    if not landing.is_dir():
        return []
    return sorted(p.name for p in landing.iterdir() if p.is_file() and not p.name.startswith(IGNORED_PREFIXES))


def why_nothing_to_do(settings: Settings, last_tags: dict[str, str] | None, current: str) -> str | None:
    """Why this run would change nothing (a sentence to print), or None when there is something to do.
    `last_tags`: the tags of the last successful `make run` whose fingerprint is `current` (None: no such run)."""
    if last_tags is None or last_tags.get(FINGERPRINT_TAG) != current or RUN_DATE_TAG not in last_tags:
        return None
    if files_waiting(settings.landing):
        return None
    last_date = date.fromisoformat(last_tags[RUN_DATE_TAG])
    if due_date_between(last_date, settings.today, settings.due_day) is not None:
        return None
    return (
        f"Nothing new since the last run (on {last_date:%Y-%m-%d}): landing/ is empty, the code and settings are "
        f"the same, and no return has fallen due since (returns are due on day {settings.due_day}). Nothing to do; "
        "`make run FORCE=1` runs anyway."
    )
