"""The dagster-daemon that takes runs off the queue: the one `make ui` or the service runs when there is one,
else one that `make run` starts for the length of its run.

Whether a daemon serves this DAGSTER_HOME is read from its heartbeats in the instance (every daemon writes one
every 30 s). A daemon that `make run` started is recorded (its daemon id and process id) so that the fresh
heartbeats of one that was killed with its `make run` are not mistaken for a live daemon."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from orchestration.instance import WORKSPACE

# The daemon that dequeues runs; its heartbeat is the one that matters here.
DEQUEUER = "QUEUED_RUN_COORDINATOR"
# Heartbeats come every 30 s: one older than this belongs to a daemon that has stopped.
HEARTBEAT_FRESH_SECONDS = 75
STOP_TIMEOUT_SECONDS = 30
RECORD = "lan-run-daemons.json"


def _record_path(instance: dg.DagsterInstance) -> Path:
    return Path(instance.root_directory) / RECORD


def _recorded(instance: dg.DagsterInstance) -> dict[str, int]:
    try:
        return json.loads(_record_path(instance).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (ended, not yet reaped by its parent) is not alive
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    return True


def serving_daemon(instance: dg.DagsterInstance) -> str | None:
    """The id of a live daemon dequeuing runs for this instance, if any."""
    beat = instance.get_daemon_heartbeats().get(DEQUEUER)
    if beat is None or time.time() - beat.timestamp > HEARTBEAT_FRESH_SECONDS:
        return None
    pid = _recorded(instance).get(beat.daemon_id or "")
    if pid is not None and not process_alive(pid):
        return None  # one `make run` started, killed with it: its last heartbeat is not a sign of life
    return beat.daemon_id or "unknown"


def _die_with_parent() -> None:
    """In the daemon's process, before exec: end it (SIGTERM) if the `make run` that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class OwnDaemon:
    """A dagster-daemon started by `make run`: in its process group (a kill of `make run`'s group takes the
    daemon, the run and dbt with it, as it did when runs were in process), its output in a log file."""

    def __init__(self, instance: dg.DagsterInstance, log: Path, workspace: Path = WORKSPACE):
        self.instance = instance
        self.log = log
        self.workspace = workspace
        self.started = time.time()
        self.daemon_id: str | None = None
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def note_heartbeat(self) -> None:
        """Record this daemon's id once its first heartbeat is in (see the module docstring)."""
        if self.daemon_id is not None:
            return
        beat = self.instance.get_daemon_heartbeats().get(DEQUEUER)
        if beat is not None and beat.daemon_id and beat.timestamp >= self.started:
            self.daemon_id = beat.daemon_id
            alive = {k: v for k, v in _recorded(self.instance).items() if process_alive(v)}
            _record_path(self.instance).write_text(json.dumps(alive | {beat.daemon_id: self.proc.pid}))

    def exited(self) -> int | None:
        return self.proc.poll()

    def stop(self) -> None:
        if self.workspace != WORKSPACE:
            self.workspace.unlink(missing_ok=True)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
