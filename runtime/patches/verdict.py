"""A run's last patch proposal as its RunRecord holds it: the verdict, the hashes, promotion.

Pure reads of the record (``runtime.record`` folds the log once); promotion, rollback, the
review packet and ``explain`` all ask here instead of walking the events again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runtime.patches.status import PatchStatus
from runtime.record import ImplementationState, RunRecord

NO_VERIFICATION_COMMANDS = (
    "no_verification_commands: the mission allowlists no verification command, "
    "so the patch cannot be verified; a human must test it"
)


@dataclass(frozen=True)
class PatchVerdict:
    """How one proposal ended, and why."""

    status: PatchStatus
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PatchState:
    """The last proposal of a run: its verdict (None while its step has not finished), the
    hashes the log recorded for it, and whether it is promoted into the workspace now."""

    tier: str | None
    verdict: PatchVerdict | None
    diff_sha256: str | None
    rollback_sha256: str | None
    files_changed: list[str]
    base_sha256: dict[str, str | None]
    result_sha256: dict[str, str | None]
    promoted: bool
    adequacy_gaps: list[str] | None  # None: no validated report judged the review packet


def patch_state(record: RunRecord) -> PatchState | None:
    """The run's last patch proposal, or None when the run proposed none."""
    state = record.implementation
    if state.intent_rounds == 0:
        return None
    validation = state.validation if state.validation and state.validation["ok"] else {}
    return PatchState(
        tier=(record.mission or {}).get("tier"),
        verdict=patch_verdict(record),
        diff_sha256=validation.get("diff_sha256"),
        rollback_sha256=(state.rollback or {}).get("rollback_sha256"),
        files_changed=list(validation.get("files_changed") or []),
        base_sha256=dict(validation.get("base_sha256") or {}),
        result_sha256=dict(validation.get("result_sha256") or {}),
        promoted=is_promoted(state),
        adequacy_gaps=_adequacy_gaps(record),
    )


def patch_verdict(record: RunRecord) -> PatchVerdict | None:
    """The last proposal's verdict: what its events prove, else what the runtime's validated
    report says of it (a step that failed on its own, e.g. no git HEAD, leaves only that)."""
    verdict = _proven(record)
    if verdict is not None or record.implementation.intent_rounds == 0:
        return verdict
    patch = (record.report.report.get("patch") if record.report else None) or {}
    if patch.get("status") not in set(PatchStatus):
        return None  # the step did not finish: the run stopped, or closed another way
    return PatchVerdict(PatchStatus(patch["status"]), list(patch.get("reasons") or []))


def is_promoted(state: ImplementationState) -> bool:
    """Whether the patch is in the workspace now: promoted, and not rolled back since."""
    promoted, rolled_back = state.promoted, state.rolled_back
    return promoted is not None and (rolled_back is None or rolled_back["seq"] < promoted["seq"])


def verification_failures(results: Iterable[dict[str, Any]]) -> list[str]:
    """One reason per verification command that failed (``argv``, ``exit_code``,
    ``timed_out`` as VerificationRan records them)."""
    return [
        f"verification_failed: {' '.join(r['argv'])} "
        + ("timed out" if r.get("timed_out") else f"exited {r['exit_code']}")
        for r in results
        if not passed(r)
    ]


def passed(result: dict[str, Any]) -> bool:
    """Whether one recorded verification command passed."""
    return result["exit_code"] == 0 and not result.get("timed_out")


def _proven(record: RunRecord) -> PatchVerdict | None:
    state = record.implementation
    validation = state.validation
    if validation is None:
        return None
    if not validation["ok"]:
        status = PatchStatus.ESCALATE if validation.get("escalate") else PatchStatus.REJECTED
        return PatchVerdict(status, list(validation.get("reasons") or []))
    diff = validation.get("diff_sha256")
    if state.rollback is None or state.rollback["diff_sha256"] != diff:
        return None  # the step closes a validated patch by recording its rollback
    mission = record.mission or {}
    if mission.get("tier") == "A4":
        return PatchVerdict(PatchStatus.VALIDATED)
    required = len((mission.get("verification") or {}).get("commands") or [])
    if required == 0:
        return PatchVerdict(PatchStatus.ESCALATE, [NO_VERIFICATION_COMMANDS])
    if state.applied is None or state.applied["diff_sha256"] != diff:
        return None
    results = state.verifications
    if len(results) == required and all(passed(r) for r in results):
        return PatchVerdict(PatchStatus.VERIFIED)
    return PatchVerdict(PatchStatus.VERIFICATION_FAILED, verification_failures(results))


def _adequacy_gaps(record: RunRecord) -> list[str] | None:
    report = record.report.report if record.report else {}
    adequacy = (report.get("patch") or {}).get("adequacy") or {}
    if not adequacy:
        return None
    if adequacy.get("adequate"):
        return []
    return list(adequacy.get("gaps") or ["the review packet was judged inadequate"])
