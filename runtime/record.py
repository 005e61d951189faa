"""The RunRecord: what a run did, as a pure fold over its events.

``apply(record, event)`` is one step, ``reduce(events)`` the whole fold and :class:`Fold` the
fold kept live while a run appends. All are pure: no files, no clock. Every event type has its
own arm, and an event type the reducer does not know is an error, so a new event type cannot
slip into the log without the record learning it.

The fold steps a private mutable draft whose entries are frozen models made once, as their
event comes; freezing the draft copies containers, never entries, so a 100k-event ``reduce``
stays linear and a live run can read its record after every step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.canonical import canonical_json
from runtime.events import (
    PAYLOAD_TYPES,
    BudgetExhausted,
    CommentaryEmitted,
    Event,
    MissionAdmitted,
    MissionFinalized,
    MissionInterrupted,
    ModelActionProposed,
    ModelCalled,
    PatchAppliedInIsolation,
    PatchIntentProposed,
    PatchPromoted,
    PatchRolledBack,
    PatchValidated,
    Payload,
    ProjectionWritten,
    ReportProposed,
    ReportValidated,
    RollbackRecorded,
    ToolCallDenied,
    ToolCallRequested,
    ToolObserved,
    UnknownEventType,
    VerificationRan,
    payload_dict,
)
from runtime.grounding import citable_text
from runtime.log_verify import paused_gc
from runtime.tools.arguments import normalise_arguments


class ReduceError(ValueError):
    """The events cannot be folded: unknown type, broken sequence, another run's event."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelCallStats(_Frozen):
    """Upstream model calls: attempts, outcomes and tokens."""

    count: int = 0
    ok: int = 0
    retries: int = 0
    errors: int = 0
    fallbacks: int = 0
    circuit_open: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    models: tuple[str, ...] = ()


class ActionEntry(_Frozen):
    """One action the model proposed (valid or not)."""

    seq: int
    turn: int
    action_type: str | None
    tool_name: str | None
    valid: bool
    repaired: bool
    error: str | None


class ToolCallEntry(_Frozen):
    """One tool call: requested, then observed or denied."""

    call_id: int
    tool_name: str
    arguments: dict[str, Any]
    reason: str = ""
    phase: str = ""
    status: str = "requested"  # requested | observed | denied
    requested_seq: int | None = None
    outcome_seq: int | None = None
    output_bytes: int = 0
    truncated: bool = False
    cached: bool = False
    redactions: int = 0


class DenialEntry(_Frozen):
    """A tool call the policy refused, and why."""

    seq: int
    call_id: int
    tool_name: str
    arguments: dict[str, Any]
    reason_code: str
    message: str


class EvidenceEntry(_Frozen):
    """What one ToolObserved event showed: the ranges a report may cite."""

    seq: int
    call_id: int
    tool_name: str
    path: str | None
    start_line: int | None
    end_line: int | None
    command: str = ""  # as the report's commands_run lists it
    text: str = ""  # the output as the model was shown it, for grounding (runtime.grounding)


class BudgetsUsed(_Frozen):
    """How much of the mission's budgets the run consumed."""

    tool_calls: int = 0
    model_calls: int = 0
    observation_bytes: int = 0
    files_inspected: int = 0
    denials: int = 0
    duplicate_actions: int = 0  # the most times any one tool call was repeated
    exhausted: tuple[str, ...] = ()


class ImplementationState(_Frozen):
    """The patch pipeline's state (A4+): intent, validation, isolation, verification, promotion."""

    intent: dict[str, Any] | None = None
    intent_rounds: int = 0
    report: dict[str, Any] | None = None  # the model's report with the last proposal
    validation: dict[str, Any] | None = None
    applied: dict[str, Any] | None = None
    verifications: tuple[dict[str, Any], ...] = ()
    rollback: dict[str, Any] | None = None
    promoted: dict[str, Any] | None = None
    rolled_back: dict[str, Any] | None = None


class ReportState(_Frozen):
    """The validated report, with what validation changed."""

    seq: int
    status: str
    report: dict[str, Any]
    downgrades: tuple[str, ...] = ()
    unresolved_refs: tuple[str, ...] = ()


class CommentaryEntry(_Frozen):
    """One visible-commentary line."""

    seq: int
    kind: str
    text: str


class ProjectionEntry(_Frozen):
    """A projection the run wrote, as its ProjectionWritten event says."""

    seq: int
    name: str
    sha256: str
    head_hash: str


class RunRecord(_Frozen):
    """Everything a run's log says, folded. Empty (status ``empty``) before the first event."""

    run_id: str | None = None
    mission_id: str | None = None
    mission: dict[str, Any] | None = None
    route: dict[str, Any] | None = None
    clamps: tuple[dict[str, Any], ...] = ()
    model_calls: ModelCallStats = ModelCallStats()
    actions: tuple[ActionEntry, ...] = ()
    tool_calls: tuple[ToolCallEntry, ...] = ()
    denials: tuple[DenialEntry, ...] = ()
    evidence: dict[int, EvidenceEntry] = {}
    files_inspected: tuple[str, ...] = ()
    budgets_used: BudgetsUsed = BudgetsUsed()
    budget_exhaustions: tuple[dict[str, Any], ...] = ()
    reports_proposed: int = 0
    last_report_proposed: dict[str, Any] | None = None
    report: ReportState | None = None
    implementation: ImplementationState = ImplementationState()
    commentary: tuple[CommentaryEntry, ...] = ()
    status: str = "empty"
    closure_reason: str | None = None
    closed_by: str | None = None
    closure_detail: str = ""
    started_at: str | None = None
    updated_at: str | None = None
    finalized_at: str | None = None
    head_hash: str | None = None
    event_count: int = 0
    projections: tuple[ProjectionEntry, ...] = ()


# The record's fields the draft keeps as they are; it rebuilds the others (containers) on freeze.
_LISTS = ("clamps", "actions", "denials", "budget_exhaustions", "commentary", "projections")
_NESTED = ("model_calls", "budgets_used", "implementation", "tool_calls", "evidence")
_SCALARS = tuple(set(RunRecord.model_fields) - {*_LISTS, *_NESTED, "files_inspected"})


def reduce(events: Iterable[Event]) -> RunRecord:
    """Fold ``events`` (in log order) into a RunRecord."""
    fold = Fold()
    # The fold keeps every entry alive; with the collector on, a 100k-event fold is superlinear.
    with paused_gc():
        for event in events:
            fold.apply(event)
        return fold.record


def apply(record: RunRecord, event: Event) -> RunRecord:
    """The record after one more event."""
    fold = Fold(record)
    fold.apply(event)
    return fold.record


class Fold:
    """The RunRecord kept current while a run appends: each event is one O(1) step, and the
    record is frozen only when someone reads it (cheaply: its entries are frozen as they come).

    This is the runtime's one state of a run: the loop's budgets, caps and report validation,
    the projections and promotion all read :attr:`record`.
    """

    def __init__(self, record: RunRecord | None = None) -> None:
        self._draft = _Draft(record or RunRecord())
        self._record = record or RunRecord()
        self._fresh = True

    def apply(self, event: Event, payload: Payload | None = None) -> None:
        """Step with ``event``; ``payload``, its payload as the writer made it, saves a parse."""
        _step(self._draft, event, payload)
        self._fresh = False

    @property
    def record(self) -> RunRecord:
        if not self._fresh:
            self._record, self._fresh = self._draft.freeze(), True
        return self._record


# --- the fold -------------------------------------------------------------------------------


class _Draft:
    """A RunRecord under construction: entries are frozen models made once, as their event
    comes; only the scalars and the small nested stats are plain dicts. Freezing copies the
    containers, never the entries, so reading the record mid-run stays cheap.
    """

    def __init__(self, record: RunRecord) -> None:
        self.fields: dict[str, Any] = {name: getattr(record, name) for name in _SCALARS}
        self.model_calls = record.model_calls.model_dump()
        self.budgets = record.budgets_used.model_dump()
        self.implementation = record.implementation.model_dump()
        self.implementation["verifications"] = list(self.implementation["verifications"])
        self.tool_calls = {entry.call_id: entry for entry in record.tool_calls}
        self.evidence = dict(record.evidence)
        self.lists: dict[str, list[Any]] = {name: list(getattr(record, name)) for name in _LISTS}
        # Insertion-ordered sets.
        self.files = dict.fromkeys(record.files_inspected)
        self.models = dict.fromkeys(self.model_calls["models"])
        self.exhausted = dict.fromkeys(self.budgets["exhausted"])
        self.repeats: dict[str, int] = {}
        for entry in self.tool_calls.values():
            if entry.requested_seq is not None:
                _count_repeat(self, entry.tool_name, entry.arguments)

    def freeze(self) -> RunRecord:
        return RunRecord.model_construct(
            **self.fields,
            model_calls=ModelCallStats(**dict(self.model_calls, models=tuple(self.models))),
            budgets_used=BudgetsUsed(
                **dict(
                    self.budgets,
                    files_inspected=len(self.files),
                    denials=len(self.lists["denials"]),
                    exhausted=tuple(self.exhausted),
                )
            ),
            implementation=ImplementationState(
                **dict(
                    self.implementation, verifications=tuple(self.implementation["verifications"])
                )
            ),
            tool_calls=tuple(self.tool_calls.values()),
            evidence=dict(self.evidence),
            files_inspected=tuple(self.files),
            **{name: tuple(items) for name, items in self.lists.items()},
        )


def _step(draft: _Draft, event: Event, payload: Payload | None = None) -> None:
    """One event into the draft: envelope checks, then one arm per payload type."""
    fields = draft.fields
    if event.seq != fields["event_count"] + 1:
        raise ReduceError(
            f"event seq {event.seq} does not follow seq {fields['event_count']}; reduce a whole "
            "log, in order"
        )
    if fields["run_id"] is None:
        fields["run_id"], fields["mission_id"] = event.run_id, event.mission_id
        fields["started_at"] = event.created_at
    elif event.run_id != fields["run_id"]:
        raise ReduceError(f"event seq {event.seq} belongs to run {event.run_id}")
    match _typed(event) if payload is None else payload:
        case MissionAdmitted() as payload:
            _mission_admitted(draft, event, payload)
        case ModelCalled() as payload:
            _model_called(draft, payload)
        case ModelActionProposed() as payload:
            _action_proposed(draft, event, payload)
        case ToolCallRequested() as payload:
            _tool_requested(draft, event, payload)
        case ToolCallDenied() as payload:
            _tool_denied(draft, event, payload)
        case ToolObserved() as payload:
            _tool_observed(draft, event, payload)
        case CommentaryEmitted() as payload:
            draft.lists["commentary"].append(
                CommentaryEntry(seq=event.seq, kind=payload.kind, text=payload.text)
            )
        case BudgetExhausted() as payload:
            draft.exhausted.setdefault(payload.budget)
            draft.lists["budget_exhaustions"].append(_with_seq(event, payload))
        case ReportProposed() as payload:
            fields["reports_proposed"] += 1
            fields["last_report_proposed"] = payload.report
        case ReportValidated() as payload:
            fields["report"] = ReportState(**_with_seq(event, payload))
        case PatchIntentProposed() as payload:
            # A new proposal starts over: what the state holds is always the last one's.
            draft.implementation.update(
                intent=payload.intent,
                intent_rounds=draft.implementation["intent_rounds"] + 1,
                report=payload.report,
                validation=None,
                applied=None,
                verifications=[],
                rollback=None,
            )
        case PatchValidated() as payload:
            draft.implementation["validation"] = _with_seq(event, payload)
        case PatchAppliedInIsolation() as payload:
            draft.implementation["applied"] = _with_seq(event, payload)
        case VerificationRan() as payload:
            draft.implementation["verifications"].append(_with_seq(event, payload))
        case RollbackRecorded() as payload:
            draft.implementation["rollback"] = _with_seq(event, payload)
        case PatchPromoted() as payload:
            draft.implementation["promoted"] = _with_seq(event, payload)
        case PatchRolledBack() as payload:
            draft.implementation["rolled_back"] = _with_seq(event, payload)
        case MissionInterrupted():
            pass  # the MissionFinalized that follows carries the status and the reason
        case MissionFinalized() as payload:
            fields.update(
                status=payload.status,
                closure_reason=payload.closure_reason,
                closed_by=payload.closed_by,
                closure_detail=payload.detail,
                finalized_at=event.created_at,
            )
        case ProjectionWritten() as payload:
            draft.lists["projections"].append(
                ProjectionEntry(
                    seq=event.seq,
                    name=payload.name,
                    sha256=payload.sha256,
                    head_hash=payload.head_hash,
                )
            )
        case other:
            raise UnknownEventType(
                f"event type {type(other).__name__!r} (seq {event.seq}) has no arm in the reducer"
            )
    fields["event_count"] = event.seq
    fields["head_hash"] = event.event_hash
    fields["updated_at"] = event.created_at


def _typed(event: Event) -> Payload:
    model = PAYLOAD_TYPES.get(event.event_type)
    if model is None:
        raise UnknownEventType(f"event seq {event.seq} has unknown type {event.event_type!r}")
    try:
        return model.model_validate(event.payload)
    except ValidationError as exc:
        raise ReduceError(f"event seq {event.seq} ({event.event_type}): {exc}") from None


def _with_seq(event: Event, payload: Payload) -> dict[str, Any]:
    return {"seq": event.seq, **payload_dict(payload)}


def _mission_admitted(draft: _Draft, event: Event, payload: MissionAdmitted) -> None:
    if draft.fields["mission"] is not None:
        raise ReduceError(f"event seq {event.seq}: the mission was already admitted")
    draft.fields.update(
        mission=payload.mission, route=payload_dict(payload.route), status="running"
    )
    draft.lists["clamps"].extend(payload_dict(clamp) for clamp in payload.clamps)


def _model_called(draft: _Draft, payload: ModelCalled) -> None:
    stats = draft.model_calls
    stats["count"] += 1
    stats["input_tokens"] += payload.input_tokens
    stats["output_tokens"] += payload.output_tokens
    stats["latency_ms"] += payload.latency_ms
    outcome_counter = {
        "ok": "ok",
        "retry": "retries",
        "error": "errors",
        "fallback": "fallbacks",
        "circuit_open": "circuit_open",
    }[payload.outcome]
    stats[outcome_counter] += 1
    if payload.fallback_from and payload.outcome != "fallback":
        stats["fallbacks"] += 1
    draft.models.setdefault(payload.model)
    draft.budgets["model_calls"] += 1


def _action_proposed(draft: _Draft, event: Event, payload: ModelActionProposed) -> None:
    action = payload.action or {}
    action_type = action.get("action_type")
    tool_name = action.get("tool_name")
    draft.lists["actions"].append(
        ActionEntry(
            seq=event.seq,
            turn=payload.turn,
            action_type=action_type if isinstance(action_type, str) else None,
            tool_name=tool_name if isinstance(tool_name, str) else None,
            valid=payload.valid,
            repaired=payload.repaired,
            error=payload.error,
        )
    )


def _tool_requested(draft: _Draft, event: Event, payload: ToolCallRequested) -> None:
    draft.tool_calls[payload.call_id] = ToolCallEntry(
        call_id=payload.call_id,
        tool_name=payload.tool_name,
        arguments=payload.arguments,
        reason=payload.reason,
        phase=payload.phase,
        requested_seq=event.seq,
    )
    draft.budgets["tool_calls"] += 1
    _count_repeat(draft, payload.tool_name, payload.arguments)


def _tool_denied(draft: _Draft, event: Event, payload: ToolCallDenied) -> None:
    draft.lists["denials"].append(
        DenialEntry(
            seq=event.seq,
            call_id=payload.call_id,
            tool_name=payload.tool_name,
            arguments=payload.arguments,
            reason_code=payload.reason_code,
            message=payload.message,
        )
    )
    _settle(draft, event, payload.call_id, payload.tool_name, payload.arguments, status="denied")


def _tool_observed(draft: _Draft, event: Event, payload: ToolObserved) -> None:
    draft.evidence[event.seq] = EvidenceEntry(
        seq=event.seq,
        call_id=payload.call_id,
        tool_name=payload.tool_name,
        path=payload.path,
        start_line=payload.start_line,
        end_line=payload.end_line,
        command=command_line(payload.tool_name, payload.arguments),
        text=citable_text(payload.tool_name, payload.output),
    )
    if payload.tool_name == "read" and payload.path is not None:
        # Only reads inspect a file (as the toolbox counts them); a listed folder is not one.
        draft.files.setdefault(payload.path)
    draft.budgets["observation_bytes"] += payload.output_bytes
    _settle(
        draft,
        event,
        payload.call_id,
        payload.tool_name,
        payload.arguments,
        status="observed",
        output_bytes=payload.output_bytes,
        truncated=payload.truncated,
        cached=payload.cached,
        redactions=payload.redactions,
    )


def _settle(
    draft: _Draft,
    event: Event,
    call_id: int,
    tool_name: str,
    arguments: dict[str, Any],
    **outcome: Any,
) -> None:
    """Close a requested call with its outcome (a call denied before request is recorded too)."""
    entry = draft.tool_calls.get(call_id) or ToolCallEntry(
        call_id=call_id, tool_name=tool_name, arguments=arguments
    )
    draft.tool_calls[call_id] = entry.model_copy(update=dict(outcome, outcome_seq=event.seq))


def _count_repeat(draft: _Draft, tool_name: str, arguments: dict[str, Any]) -> None:
    """Count the call against its identity as it would run; keep the most repeats of any."""
    key = action_key(tool_name, arguments)
    draft.repeats[key] = count = draft.repeats.get(key, 0) + 1
    draft.budgets["duplicate_actions"] = max(draft.budgets["duplicate_actions"], count - 1)


def command_line(tool_name: str, arguments: dict[str, Any]) -> str:
    """A tool call as the report's ``commands_run`` lists it (bounded)."""
    args = " ".join(f"{key}={value}" for key, value in sorted(arguments.items()))
    return f"{tool_name} {args}".strip()[:300]


def action_key(tool_name: str, arguments: dict[str, Any]) -> str:
    """One identity per tool call as it would run (defaults filled in), or as sent if invalid."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        arguments = normalise_arguments(tool_name, arguments)
    return canonical_json([tool_name, arguments])
