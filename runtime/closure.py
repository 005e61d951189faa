"""How a mission closes: its status, the reason, and what each reason means.

One home for the words a closure is made of. The loop closes with a :class:`Closure`, the log
records it in MissionFinalized, and explain, the scorecard, source-pack recovery and the
mission-id rules read the same :class:`Reason` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runtime.patches.status import PatchStatus


class Status(StrEnum):
    COMPLETE = "COMPLETE"
    PARTIAL = "PARTIAL"
    ESCALATE = "ESCALATE"
    FAILED = "FAILED"


class Reason(StrEnum):
    """Why a mission closed."""

    VALID_REPORT = "valid_report"
    BUDGET_EXHAUSTED = "budget_exhausted"
    DEADLINE_REACHED = "deadline_reached"
    STOP_BLOCKED_SOURCE = "stop_condition_blocked_source"
    STOP_SCOPE_EXHAUSTED = "stop_condition_scope_exhausted"
    MODEL_CALL_FAILED = "model_call_failed"
    ACTION_PARSE_FAILED = "action_parse_failed"
    CLIENT_DISCONNECTED = "client_disconnected"
    INTERRUPTED = "interrupted"
    RUNTIME_CRASHED = "runtime_crashed"
    PATCH_PIPELINE_UNAVAILABLE = "patch_pipeline_unavailable"
    PATCH_VALIDATED = "patch_validated"
    PATCH_VERIFIED = "patch_verified"
    VERIFICATION_FAILED = "verification_failed"
    PATCH_REJECTED = "patch_rejected"
    PATCH_ESCALATED = "patch_escalated"
    PATCH_FAILED = "patch_failed"

    @property
    def words(self) -> str:
        return WORDS[self]


WORDS: dict[Reason, str] = {
    Reason.VALID_REPORT: "the model closed with a report the runtime validated",
    Reason.BUDGET_EXHAUSTED: "a budget ran out and the runtime forced a final turn",
    Reason.DEADLINE_REACHED: "the mission's time budget ran out",
    Reason.STOP_BLOCKED_SOURCE: "the model reached for a blocked source, a stop condition",
    Reason.STOP_SCOPE_EXHAUSTED: "every required source was read, a stop condition",
    Reason.MODEL_CALL_FAILED: "the upstream model failed (after retries and fallbacks)",
    Reason.ACTION_PARSE_FAILED: "the model's answer was not a valid action, even after one repair",
    Reason.CLIENT_DISCONNECTED: "the client went away and the mission was cancelled",
    Reason.INTERRUPTED: "the bridge stopped (or died) mid-mission",
    Reason.RUNTIME_CRASHED: "the runtime failed while running the mission",
    Reason.PATCH_PIPELINE_UNAVAILABLE: "the model proposed a patch and no patch step was set up",
    Reason.PATCH_VALIDATED: "the proposed patch passed validation (A4: not applied)",
    Reason.PATCH_VERIFIED: "the patch applied in isolation and its verification passed",
    Reason.VERIFICATION_FAILED: "the patch applied in isolation but verification failed",
    Reason.PATCH_REJECTED: "the proposed patch was rejected by validation",
    Reason.PATCH_ESCALATED: "the patch touches a critical path: a human must decide",
    Reason.PATCH_FAILED: "the patch step could not finish",
}
# The answer never reached the caller: a repeated mission id runs again instead of replaying.
UNDELIVERED = frozenset({Reason.CLIENT_DISCONNECTED, Reason.INTERRUPTED})
# Closures that say nothing about the model's capability: scorecards leave them out.
NOT_THE_MODELS_DOING = UNDELIVERED | {Reason.RUNTIME_CRASHED}
# Closures where the model's synthesis is what failed; the evidence before it still stands.
SYNTHESIS_FAILED = frozenset(
    {
        Reason.ACTION_PARSE_FAILED,
        Reason.MODEL_CALL_FAILED,
        Reason.BUDGET_EXHAUSTED,
        Reason.DEADLINE_REACHED,
    }
)
# The closing status of a patch mission, by the patch status it ended with.
PATCH_REASONS: dict[str, Reason] = {
    PatchStatus.VALIDATED: Reason.PATCH_VALIDATED,
    PatchStatus.VERIFIED: Reason.PATCH_VERIFIED,
    PatchStatus.VERIFICATION_FAILED: Reason.VERIFICATION_FAILED,
    PatchStatus.REJECTED: Reason.PATCH_REJECTED,
    PatchStatus.ESCALATE: Reason.PATCH_ESCALATED,
}


def words(reason: str | None) -> str:
    """What ``reason`` (as a log recorded it) means; the reason itself if this runtime does
    not know it."""
    if reason is None:
        return "not closed"
    try:
        return Reason(reason).words
    except ValueError:
        return reason


@dataclass
class Closure:
    """How a mission closed: the status, the reason, who closed it and why, in words."""

    status: str  # a Status, or the patch status a patch mission closed with
    reason: Reason
    closed_by: str = "runtime"  # runtime | model | bridge | cli
    detail: str = ""
    downgrades: list[str] = field(default_factory=list)

    def for_report(self) -> dict[str, Any]:
        """The report's ``closure`` block."""
        return {
            "closed_by": self.closed_by,
            "reason": self.reason.value,
            "detail": self.detail[:2000],
            "downgrades": self.downgrades,
        }
