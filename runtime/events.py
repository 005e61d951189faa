"""The event contract: one strict payload model per event type, and the hashed Event envelope.

An event's hash covers its canonical JSON without ``event_hash``; ``prev_hash`` chains it to
the event before, so a log can be checked with a few lines of code and no project import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EventSource = Literal["runtime", "model", "bridge", "cli", "test"]


class Payload(BaseModel):
    """Base of every payload: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Clamp(Payload):
    """One budget the runtime lowered (or filled) to fit the tier."""

    field: str
    requested: int | None
    applied: int
    reason: Literal["tier_cap", "tier_default"]


class Route(Payload):
    alias: str
    profile: str
    upstream_model: str
    fallback_chain: list[str] = Field(default_factory=list)


class MissionAdmitted(Payload):
    mission: dict[str, Any]
    route: Route
    clamps: list[Clamp] = Field(default_factory=list)


class ModelCalled(Payload):
    call_index: int
    model: str
    profile: str
    attempt: int = 1
    outcome: Literal["ok", "retry", "error", "fallback", "circuit_open"]
    status_code: int | None = None
    error: str | None = None
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    fallback_from: str | None = None


class ModelActionProposed(Payload):
    turn: int
    action: dict[str, Any] | None
    valid: bool
    error: str | None = None
    repaired: bool = False
    notes: list[str] = Field(default_factory=list)  # what the tolerant reader normalised


class ToolCallRequested(Payload):
    call_id: int
    tool_name: str
    arguments: dict[str, Any]
    reason: str = ""
    phase: str = ""


class ToolCallDenied(Payload):
    call_id: int
    tool_name: str
    arguments: dict[str, Any]
    reason_code: str
    message: str


class ToolObserved(Payload):
    call_id: int
    tool_name: str
    arguments: dict[str, Any]
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    output: str
    output_bytes: int
    truncated: bool = False
    redactions: int = 0
    cached: bool = False


class CommentaryEmitted(Payload):
    text: str
    kind: str = "progress"


class BudgetExhausted(Payload):
    budget: str
    limit: float
    used: float


class ReportProposed(Payload):
    report: dict[str, Any]


ReportStatus = Literal[
    "COMPLETE",
    "PARTIAL",
    "ESCALATE",
    "FAILED",
    # patch missions (A4+) answer with the patch's status
    "VALIDATED",
    "VERIFIED",
    "VERIFICATION_FAILED",
    "REJECTED",
]


class ReportValidated(Payload):
    status: ReportStatus
    report: dict[str, Any]
    downgrades: list[str] = Field(default_factory=list)
    unresolved_refs: list[str] = Field(default_factory=list)


class PatchIntentProposed(Payload):
    intent: dict[str, Any]
    round: int = 1
    report: dict[str, Any] | None = None  # the report the model sent with it (redacted)


class PatchValidated(Payload):
    ok: bool
    reasons: list[str] = Field(default_factory=list)
    escalate: bool = False
    diff_sha256: str | None = None  # a validated diff is stored as a blob of the run by it
    rollback_sha256: str | None = None  # likewise its reverse
    files_changed: list[str] = Field(default_factory=list)
    patch_bytes: int = 0
    base_sha256: dict[str, str | None] = Field(default_factory=dict)
    result_sha256: dict[str, str | None] = Field(default_factory=dict)


class PatchAppliedInIsolation(Payload):
    worktree: str
    base_commit: str
    diff_sha256: str


class VerificationRan(Payload):
    argv: list[str]
    exit_code: int | None
    timed_out: bool = False
    duration_ms: float
    output: str = ""


class RollbackRecorded(Payload):
    diff_sha256: str
    rollback_sha256: str
    proven: bool = False


class PatchPromoted(Payload):
    diff_sha256: str
    rollback_sha256: str
    files_changed: list[str] = Field(default_factory=list)
    # Promoted over an inadequate review packet with --force, and the gaps it had.
    forced: bool = False
    adequacy_gaps: list[str] = Field(default_factory=list)


class PatchRolledBack(Payload):
    rollback_sha256: str
    files_changed: list[str] = Field(default_factory=list)


class MissionInterrupted(Payload):
    """The run was cut off before it closed; a MissionFinalized (FAILED, interrupted) follows.

    ``bridge_stopped``: the bridge was asked to stop mid-mission. ``process_died``: a later
    start found the run open and its owner gone (kill -9, a crash, a power cut);
    ``torn_bytes`` is what that start moved aside from the log's torn last line.
    """

    cause: Literal["bridge_stopped", "process_died"]
    detail: str = ""
    torn_bytes: int = Field(default=0, ge=0)


class MissionFinalized(Payload):
    status: str
    closure_reason: str
    closed_by: Literal["runtime", "model", "bridge", "cli"] = "runtime"
    detail: str = ""


class ProjectionWritten(Payload):
    name: str
    sha256: str
    head_hash: str


PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.__name__: cls
    for cls in (
        MissionAdmitted,
        ModelCalled,
        ModelActionProposed,
        ToolCallRequested,
        ToolCallDenied,
        ToolObserved,
        CommentaryEmitted,
        BudgetExhausted,
        ReportProposed,
        ReportValidated,
        PatchIntentProposed,
        PatchValidated,
        PatchAppliedInIsolation,
        VerificationRan,
        RollbackRecorded,
        PatchPromoted,
        PatchRolledBack,
        MissionInterrupted,
        MissionFinalized,
        ProjectionWritten,
    )
}


class UnknownEventType(ValueError):
    """An event type no payload model is registered for."""


class Event(BaseModel):
    """One line of ``events.jsonl``; ``payload`` is kept as plain JSON for hashing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1)
    event_id: str
    run_id: str
    mission_id: str
    event_type: str
    source: EventSource
    created_at: str
    payload: dict[str, Any]
    prev_hash: str | None
    event_hash: str

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PAYLOAD_TYPES:
            raise ValueError(f"unknown event type {value!r}")
        return value


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with its zone."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def payload_dict(payload: Payload) -> dict[str, Any]:
    """A payload as the JSON-ready dict the envelope stores."""
    return payload.model_dump(mode="json")


def event_type_of(payload: Payload) -> str:
    name = type(payload).__name__
    if name not in PAYLOAD_TYPES:
        raise UnknownEventType(name)
    return name
