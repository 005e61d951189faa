"""Mission ids are single-use: what an earlier run of the same id means for a new request.

The id names the mission's directory (``.codex-oss/missions/<id>/``, and the worktree of an
A5 mission), so a second run under it would overwrite the first one's report. Two senders
reuse ids: Codex, which resends a request whose stream broke (five times with its default
retries), and people, who copy the documented handoff with its id. So:

- no earlier run, or one whose answer never reached anyone (cancelled because its client went
  away, or cut off before it closed): run it;
- the same handoff on the same alias again: answer from the earlier run's log, saying so,
  rather than spend a second run on a question already answered;
- a different handoff under a used id: refuse, naming the earlier run and where its report is,
  so nothing is overwritten and the fix (a new ``mission_id``) is plain.

:func:`find_prior_run` reads the disk; :func:`judge` is pure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.closure import UNDELIVERED
from runtime.eventlog import EventLogError, load_events, run_log_path
from runtime.projections import RUN_RECORD, mission_dir, read_stamp
from runtime.record import reduce


class Reuse(enum.Enum):
    """What to do with a request whose mission id already has a run."""

    RUN = "run"
    REPLAY = "replay"
    REFUSE = "refuse"


@dataclass(frozen=True)
class PriorRun:
    """The latest run of a mission id, folded from its log."""

    mission_id: str
    run_id: str
    status: str
    closure_reason: str | None
    finalized_at: str | None
    mission: dict[str, Any] | None
    alias: str | None
    report: dict[str, Any] | None
    unreadable: str | None = None  # why the run's log could not be read

    @property
    def report_path(self) -> str:
        """Where the run's report is, relative to the project."""
        return f".codex-oss/missions/{self.mission_id}/report.json"


def find_prior_run(project_root: Path, mission_id: str) -> PriorRun | None:
    """The run that last wrote ``mission_id``'s projections, or None when there is none."""
    stamp = read_stamp(mission_dir(project_root, mission_id) / RUN_RECORD)
    run_id = stamp.get("run_id") if stamp else None
    if not isinstance(run_id, str):
        return None
    try:
        record = reduce(load_events(run_log_path(project_root, run_id)))
    except (OSError, EventLogError, ValueError) as exc:
        return PriorRun(mission_id, run_id, "unknown", None, None, None, None, None, str(exc))
    return PriorRun(
        mission_id=mission_id,
        run_id=run_id,
        status=record.status,
        closure_reason=record.closure_reason,
        finalized_at=record.finalized_at,
        mission=record.mission,
        alias=(record.route or {}).get("alias"),
        report=record.report.report if record.report is not None else None,
    )


def judge(prior: PriorRun | None, mission: dict[str, Any], alias: str) -> Reuse:
    """RUN, REPLAY or REFUSE a request for ``mission`` (as admitted) on ``alias``."""
    if prior is None:
        return Reuse.RUN
    if prior.unreadable is not None:
        return Reuse.REFUSE
    if prior.finalized_at is None or prior.closure_reason in UNDELIVERED:
        return Reuse.RUN
    if prior.mission == mission and prior.alias == alias and prior.report is not None:
        return Reuse.REPLAY
    return Reuse.REFUSE


def refusal(prior: PriorRun) -> str:
    """The message of a refused reuse: which run holds the id, and what to do."""
    if prior.unreadable is not None:
        held = f"run {prior.run_id}, whose log cannot be read ({prior.unreadable})"
    else:
        held = (
            f"run {prior.run_id} ({prior.status}, {prior.closure_reason}, "
            f"alias {prior.alias}, finished {prior.finalized_at}) for a different handoff"
        )
    return (
        f"mission_id {prior.mission_id!r} is already used by {held}; its report is at "
        f"{prior.report_path}. Mission ids are single-use: give this mission a new mission_id."
    )


def replay_note(prior: PriorRun) -> str:
    """The line that heads a replayed answer."""
    return (
        f"Replayed from the log: mission {prior.mission_id} already ran this handoff as run "
        f"{prior.run_id} (finished {prior.finalized_at}); nothing was run again. Mission ids "
        "are single-use: send a new mission_id to run it again."
    )
