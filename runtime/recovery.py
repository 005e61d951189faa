"""Interrupted runs: find the runs a dead process left open and close them honestly.

A run is *live* while the process running it holds an exclusive ``flock`` on the run's
``events.jsonl.owner`` (:func:`own_run`); the kernel drops that lock when the process dies,
however it dies, so no pid file can go stale. :func:`recover_runs` (the bridge calls it when
it starts, and so does every command that reads a project's runs) takes each run that is
neither live nor finalized and, holding its owner lock and then its log's lock:

1. repairs a torn last line: the bytes are moved aside to ``events.jsonl.broken`` and the
   valid prefix kept (as etcd's WAL does);
2. appends ``MissionInterrupted``, a runtime report, and ``MissionFinalized`` (FAILED,
   ``interrupted``);
3. writes the projections (report.json, summary.md, ...);
4. removes the mission's A5 worktree, unless a live run of the same mission uses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runtime.closure import Closure, Reason
from runtime.eventlog import (
    LOG_NAME,
    RUNS_DIR,
    EventLogError,
    MissionEventLog,
    first_mission_id,
)
from runtime.events import MissionFinalized, MissionInterrupted, ReportValidated
from runtime.mission import REPORT_SCHEMA
from runtime.projections import project_log
from runtime.record import RunRecord, command_line, reduce

__all__ = [
    "OWNER_SUFFIX",
    "RecoveredRun",
    "RunBusy",
    "interrupted_report",
    "is_live",
    "own_run",
    "recover_runs",
]

log = logging.getLogger("runtime.recovery")

OWNER_SUFFIX = ".owner"
_FINALIZED_MARK = b'"event_type":"MissionFinalized"'
# MissionFinalized is followed by a handful of ProjectionWritten events (and perhaps a
# promotion): the tail of a closed log holds it.
_TAIL_BYTES = 64 * 1024

Closer = Literal["bridge", "cli", "runtime"]


class RunBusy(RuntimeError):
    """Another process (or another handle here) owns the run."""


@dataclass(frozen=True)
class RecoveredRun:
    """What recovery did to one run."""

    run_id: str
    mission_id: str
    finalized: bool  # MissionInterrupted + MissionFinalized were appended
    torn_bytes: int  # bytes of a torn last line moved aside to events.jsonl.broken
    worktree_pruned: bool

    def describe(self) -> str:
        """One line for a person."""
        done = ["finalized FAILED (interrupted)"] if self.finalized else []
        if self.torn_bytes:
            done.append(f"moved a torn tail of {self.torn_bytes} bytes aside")
        if self.worktree_pruned:
            done.append("removed its worktree")
        return f"run {self.run_id} (mission {self.mission_id}): {', '.join(done)}"


def owner_path(log_path: Path) -> Path:
    """``events.jsonl.owner`` beside the log."""
    return log_path.with_name(log_path.name + OWNER_SUFFIX)


@contextlib.contextmanager
def own_run(log_path: Path) -> Iterator[None]:
    """Mark the run of ``log_path`` live for the duration: raises :class:`RunBusy` if it is
    already owned. Take it before the log is created, so a run is never seen unowned."""
    fd = _try_own(log_path)
    if fd is None:
        raise RunBusy(f"run {log_path.parent.name} is owned by another process")
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def is_live(log_path: Path) -> bool:
    """Whether some process owns the run now (its owner lock is held)."""
    fd = _try_own(log_path, create=False)
    if fd is None:
        return owner_path(log_path).exists()
    os.close(fd)
    return False


def recover_runs(project_root: Path, closed_by: Closer = "runtime") -> list[RecoveredRun]:
    """Close every interrupted run of ``project_root`` and repair torn tails (see the module).

    A log that fails verification for another reason is left as it is, for ``verify-log``.
    """
    runs = Path(project_root) / RUNS_DIR
    if not runs.is_dir():
        return []
    recovered: list[RecoveredRun] = []
    live_missions: set[str] = set()
    for log_path in sorted(runs.glob(f"*/{LOG_NAME}")):
        try:
            finalized, torn = _tail_state(log_path)
        except OSError:
            continue
        if finalized and not torn:
            continue
        fd = _try_own(log_path)
        if fd is None:  # live: its owner will close it
            if mission := first_mission_id(log_path):
                live_missions.add(mission)
            continue
        try:
            result = _recover_one(Path(project_root), log_path, closed_by)
        except (EventLogError, OSError, ValueError) as exc:
            log.warning("run %s not recovered: %s", log_path.parent.name, exc)
            continue
        finally:
            os.close(fd)
        if result is not None:
            recovered.append(result)
    return [_prune(Path(project_root), run, live_missions) for run in recovered]


def interrupted_report(record: RunRecord, why: str, closed_by: str) -> dict[str, object]:
    """The report of a run that was cut off: FAILED, what it had looked at, and why."""
    return {
        "schema": REPORT_SCHEMA,
        "mission_id": record.mission_id,
        "status": "FAILED",
        "confidence": "LOW",
        "files_inspected": list(record.files_inspected),
        "commands_run": [
            command_line(call.tool_name, call.arguments) for call in record.tool_calls
        ],
        "findings": [],
        "uncertainties": [why],
        "caveats": ["the mission was interrupted; this report was written by the runtime"],
        "escalation_recommendation": "Run the mission again.",
        "closure": Closure("FAILED", Reason.INTERRUPTED, closed_by, why).for_report(),
    }


# --- one run ----------------------------------------------------------------------------------


def _recover_one(project_root: Path, log_path: Path, closed_by: Closer) -> RecoveredRun | None:
    size_before = log_path.stat().st_size
    with MissionEventLog.open(log_path) as event_log:  # moves a torn tail aside
        torn = size_before - log_path.stat().st_size
        events = event_log.events()
        if not events:
            return None  # nothing was acknowledged: there is no mission to close
        if any(event.event_type == "MissionFinalized" for event in events):
            if not torn:
                return None
            return RecoveredRun(event_log.run_id, event_log.mission_id, False, torn, False)
        why = (
            "the process running this mission ended before the mission closed (killed, "
            "crashed or stopped); found and closed when the project's runs were next opened"
        )
        report = interrupted_report(reduce(events), why, closed_by)
        closing = (
            MissionInterrupted(cause="process_died", detail=why, torn_bytes=torn),
            ReportValidated(status="FAILED", report=report),
            MissionFinalized(
                status="FAILED",
                closure_reason=Reason.INTERRUPTED.value,
                closed_by=closed_by,
                detail=why,
            ),
        )
        event_log.append_all([(payload, closed_by) for payload in closing])
        project_log(project_root, event_log)
        return RecoveredRun(event_log.run_id, event_log.mission_id, True, torn, False)


def _prune(project_root: Path, run: RecoveredRun, live_missions: set[str]) -> RecoveredRun:
    """Remove the recovered mission's worktree, unless a live run of that mission has it."""
    from runtime.patches.worktree import WORKTREES_DIR, remove_worktree

    path = project_root / WORKTREES_DIR / run.mission_id
    if not run.finalized or run.mission_id in live_missions or not path.exists():
        return run
    try:
        remove_worktree(project_root, path)
    except Exception as exc:  # git refusing (GitCommandError, a missing repo): leave it, say so
        log.warning("worktree of interrupted mission %s not removed: %s", run.mission_id, exc)
        return run
    return RecoveredRun(run.run_id, run.mission_id, run.finalized, run.torn_bytes, True)


# --- helpers ------------------------------------------------------------------------------------


def _try_own(log_path: Path, *, create: bool = True) -> int | None:
    """An fd holding the run's owner lock, or None when another holder has it."""
    path = owner_path(log_path)
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    if create:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _tail_state(log_path: Path) -> tuple[bool, bool]:
    """(holds MissionFinalized, ends with a torn line), reading only the tail when it can."""
    with open(log_path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return False, False
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read()
        torn = not tail.endswith(b"\n")
        if _FINALIZED_MARK in tail:
            return True, torn
        if size <= _TAIL_BYTES:
            return False, torn
        handle.seek(0)
        return _FINALIZED_MARK in handle.read(), torn
