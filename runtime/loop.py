"""The mission loop: ask for one action, check it, run it, record it, until a stop condition.

The loop owns no I/O of its own: the model, the tools, the log and the patch pipeline come in
through small protocols, so tests can drive it with real servers or in memory. A mission ends
by raising :class:`MissionClosed`, which carries its :class:`~runtime.closure.Closure`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from runtime import prompts
from runtime.actions import Action, ActionParseError, action_schema, max_json_chars, read_action
from runtime.canonical import canonical_json
from runtime.closure import PATCH_REASONS, Closure, Reason, Status
from runtime.commentary import Narrator
from runtime.events import (
    BudgetExhausted,
    CommentaryEmitted,
    Event,
    MissionAdmitted,
    MissionFinalized,
    ModelActionProposed,
    ModelCalled,
    Payload,
    ReportProposed,
    ReportValidated,
    ToolCallDenied,
    ToolCallRequested,
    ToolObserved,
)
from runtime.evidence import EvidenceIndex
from runtime.mission import PATCH_TIERS, Clamp, MissionV1, StopCondition
from runtime.policy import BLOCKED_REASON_CODES
from runtime.record import Fold, RunRecord
from runtime.redact import Redactor
from runtime.report import (
    ReportFormatError,
    parse_draft,
    read_draft,
    runtime_report,
    source_gaps,
    validate_report,
)
from runtime.settings import TraceMode
from runtime.source_pack import recoverable, recovery_report, recovery_status
from runtime.tools import MISTAKE_REASON_CODES
from runtime.tools.caps import MIN_OBSERVATION_BYTES

# Denials that are honest slips (a wrong line range, a typo) rather than grounds to doubt the
# report. Every other denial caps the status: blocked sources at ESCALATE, the rest (a repeated
# action, a tool outside the mission's classes, a spent budget) at PARTIAL.
HARMLESS_CODES = MISTAKE_REASON_CODES - {"duplicate_action", "unknown_tool"}
# A turn's max_tokens is sized from the longest JSON its schema admits: a few characters a
# token for JSON and English, plus slack for whitespace the grammar allows between tokens.
CHARS_PER_TOKEN = 3
TOKEN_SLACK = 48
# Sampling that discourages a token loop ("PATCH: PATCH: ..."); frequency_penalty is both an
# OpenAI-compatible parameter and one llama.cpp's server applies over its recent tokens.
FREQUENCY_PENALTY = 0.3
# With deadline_reached a stop condition, exploration stops while this much of the time
# budget is left, so the closing turn still fits: a fifth of it, within 5-30 seconds.
CLOSING_RESERVE_SHARE = 0.2
CLOSING_RESERVE_BOUNDS = (5.0, 30.0)


class EventSink(Protocol):
    def append_all(
        self,
        entries: Sequence[tuple[Payload, Any]],
        then: Callable[[Event], Sequence[tuple[Payload, Any]]] | None = None,
        *,
        sync: bool = True,
    ) -> list[Event]: ...

    def sync(self) -> None: ...


class Completion(Protocol):
    content: str | None


class ModelClient(Protocol):
    """The mission's model, bound to its route and fallback chain: one turn per ``complete``."""

    grammar: bool  # every model on the chain enforces the Action schema as a grammar

    async def complete(
        self,
        body: dict[str, Any],
        *,
        call_index: int,
        on_event: Callable[[ModelCalled], None] | None = None,
    ) -> Completion: ...


class ToolBox(Protocol):
    def run(
        self, call_id: int, tool_name: str, arguments: dict[str, Any]
    ) -> ToolObserved | ToolCallDenied: ...


class PatchStep(Protocol):
    async def __call__(self, *, action: Action, round: int, journal: Journal) -> PatchDecision: ...


@dataclass
class PatchDecision:
    """What the patch pipeline made of a proposal: a final status, or a repair request."""

    status: str
    reasons: list[str]
    repairable: bool = False
    extra_report: dict[str, Any] = field(default_factory=dict)


class MissionClosed(Exception):
    """Raised to end a mission; carries its closure and the report the runtime stands behind."""

    def __init__(
        self,
        closure: Closure,
        report: dict[str, Any],
        unresolved_refs: list[str] | None = None,
    ):
        super().__init__(f"{closure.status}: {closure.reason}")
        self.closure = closure
        self.report = report
        self.unresolved_refs = unresolved_refs or []


@dataclass
class LoopResult:
    status: str
    closure_reason: str
    report: dict[str, Any]
    input_tokens: int
    output_tokens: int


class Journal:
    """Appends events, folds each into the run's record and queues commentary for the client.

    The record (:attr:`record`) is the loop's only state of the run: budgets, caps, stop
    conditions and report validation all read it.
    """

    def __init__(self, log: EventSink, redactor: Redactor, mode: TraceMode, max_lines: int):
        self.log = log
        self.redactor = redactor
        self.max_lines = max_lines
        self.fold = Fold()
        self.events: list[Event] = []
        self.pending: list[str] = []
        self.lines_emitted = 0
        self.narrator = Narrator(mode)

    @property
    def record(self) -> RunRecord:
        return self.fold.record

    def add(self, payload: Payload, source: str = "runtime", *, sync: bool = False) -> Event:
        """Append ``payload`` and the commentary it causes in one write, and fold them.

        Written, not fsynced, unless ``sync``: the loop syncs at its durability points
        (:meth:`sync`), so a turn's events share one fsync.
        """
        comments: list[CommentaryEmitted] = []

        def commentary(event: Event) -> list[tuple[Payload, str]]:
            lines = (self._comment(line) for line in self.narrator.lines(event.seq, payload))
            comments.extend(CommentaryEmitted(text=text) for text in lines if text is not None)
            return [(comment, "runtime") for comment in comments]

        # The run's owner is its only writer (runner.open_run), so the fold sees every event;
        # were one ever missed, the fold refuses the gap (ReduceError) rather than guess.
        events = self.log.append_all([(payload, source)], then=commentary, sync=False)
        for event, made in zip(events, [payload, *comments], strict=True):
            self.events.append(event)
            self.fold.apply(event, made)
        self.pending += [comment.text for comment in comments]
        if sync:  # after the fold: a failed fsync must not leave the record behind the file
            self.sync()
        return events[0]

    def sync(self) -> None:
        """Make every event appended so far durable: before the runtime waits on the world."""
        self.log.sync()

    def _comment(self, line: str) -> str | None:
        if self.lines_emitted >= self.max_lines:
            return None
        self.lines_emitted += 1
        if self.lines_emitted == self.max_lines:
            line = "further commentary suppressed (OSS_VISIBLE_TRACE_MAX_EVENTS reached)"
        return self.redactor.redact(line).text


@dataclass
class MissionLoop:
    """One mission, from admission to closure."""

    mission: MissionV1
    clamps: list[Clamp]
    route: Any  # runtime.events.Route
    client: ModelClient
    toolbox: ToolBox
    journal: Journal
    tool_specs: dict[str, dict[str, Any]]
    patch_step: PatchStep | None = None
    on_commentary: Callable[[str], Awaitable[None]] | None = None
    clock: Callable[[], float] = time.monotonic
    max_tokens: int = 1536

    def __post_init__(self) -> None:
        allowed = {"tool_call", "final_report"}
        if self.mission.tier in PATCH_TIERS:
            allowed.add("propose_patch")
        self.allowed_types = frozenset(allowed)
        # A turn's schema: every allowed action, or (closing_only) only the closing ones.
        self.schemas = {
            closing_only: action_schema(
                {} if closing_only else self.tool_specs,
                self.allowed_types - {"tool_call"} if closing_only else self.allowed_types,
                tuple(output.value for output in self.mission.required_outputs),
            )
            for closing_only in (False, True)
        }
        self.messages: list[dict[str, str]] = []
        self.deadline = 0.0
        self.interrupted = False  # set by the runner before it cancels: the bridge is stopping

    @property
    def record(self) -> RunRecord:
        return self.journal.record

    async def run(self) -> LoopResult:
        """Run to closure; the log always ends with MissionFinalized."""
        journal = self.journal
        try:
            journal.add(
                MissionAdmitted(
                    mission=self.mission.model_dump(mode="json"),
                    route=self.route,
                    clamps=[c.model_dump() for c in self.clamps],
                )
            )
            self.deadline = self.clock() + self.mission.time_budget_seconds
            self.messages = prompts.opening_messages(self.mission, self.tool_specs)
            await self._flush()
            while True:
                await self._step()
                await self._flush()
        except MissionClosed as closed:
            return await self._finalize(closed)
        except asyncio.CancelledError:
            closed = self._runtime_closure(
                Status.FAILED,
                *(
                    (Reason.INTERRUPTED, "the bridge stopped mid-mission; mission interrupted")
                    if self.interrupted
                    else (Reason.CLIENT_DISCONNECTED, "the client went away; mission cancelled")
                ),
            )
            closed.closure.closed_by = "bridge"
            self._close(closed)
            raise

    async def _step(self) -> None:
        forced = self._forced_final()
        # Read before the turn: the record is current now, and the turn adds no tool call.
        call_id = self.record.budgets_used.tool_calls + 1
        action, redacted = await self._next_action(forced)
        if action.action_type == "tool_call":
            if forced:
                raise self._runtime_closure(
                    Status.PARTIAL,
                    _closure_reason(forced),
                    f"the model kept calling tools after exploration stopped ({forced})",
                )
            self._run_tool(call_id, action, redacted)
        elif action.action_type == "final_report":
            raise self._close_with_report(action, forced)
        else:
            await self._propose_patch(action, forced)

    def _forced_final(self) -> str | None:
        """The budget or stop condition that has been met, if the next turn must close."""
        mission, record = self.mission, self.record
        turns = _turns(record)
        if turns >= mission.max_model_calls:
            self._exhausted("max_model_calls", mission.max_model_calls, turns)
            raise self._runtime_closure(
                Status.PARTIAL,
                Reason.BUDGET_EXHAUSTED,
                "the model-call budget ran out before a report",
            )
        used = record.budgets_used
        if turns == mission.max_model_calls - 1:
            return "max_model_calls"
        if used.tool_calls >= mission.tool_budget:
            return "tool_budget"
        if mission.max_total_observation_bytes - used.observation_bytes < MIN_OBSERVATION_BYTES:
            return "max_total_observation_bytes"  # the toolbox would refuse any observation
        if mission.max_duplicate_actions is not None and (
            used.duplicate_actions > mission.max_duplicate_actions
        ):
            return "max_duplicate_actions"
        if StopCondition.DEADLINE_REACHED in mission.stop_conditions and (
            self.deadline - self.clock() <= closing_reserve(mission.time_budget_seconds)
        ):
            return StopCondition.DEADLINE_REACHED.value
        return _stop_condition(mission, record)

    async def _next_action(self, forced: str | None) -> tuple[Action, dict[str, Any]]:
        """The model's next valid action, and the redacted form the log holds of it."""
        if forced in BUDGETS and forced not in self.record.budgets_used.exhausted:
            used = self.record.budgets_used
            spent = {
                "tool_budget": used.tool_calls,
                "max_model_calls": _turns(self.record),
                "max_duplicate_actions": used.duplicate_actions,
            }
            limit = getattr(self.mission, forced)
            self._exhausted(forced, limit, spent.get(forced, limit))
        if forced:
            self.messages.append({"role": "user", "content": prompts.FORCED_FINAL.format(forced)})
        repaired = False
        while True:
            turn = _turns(self.record) + 1
            text = await self._call_model(turn, closing_only=forced is not None)
            try:
                read = read_action(text, self.allowed_types)
                action, notes = read.action, list(read.notes)
                if action.report is not None:
                    notes += read_draft(action.report)[1]
            except (ActionParseError, ReportFormatError) as error:
                self.journal.add(
                    ModelActionProposed(
                        turn=turn, action=None, valid=False, error=str(error), repaired=repaired
                    ),
                    "model",
                )
                if repaired:
                    raise self._runtime_closure(
                        Status.FAILED,
                        Reason.ACTION_PARSE_FAILED,
                        f"the model's answer was invalid twice: {error}",
                    ) from None
                repaired = True
                self.messages.append({"role": "assistant", "content": text[:4000]})
                self.messages.append({"role": "user", "content": prompts.repair(str(error))})
                await self._flush()
                continue
            redacted, _ = self.journal.redactor.redact_obj(action.model_dump(mode="json"))
            self.journal.add(
                ModelActionProposed(
                    turn=turn,
                    action=redacted,
                    valid=True,
                    repaired=repaired,
                    notes=[self.journal.redactor.redact(note).text[:300] for note in notes],
                ),
                "model",
            )
            self.messages.append({"role": "assistant", "content": canonical_json(redacted)})
            return action, redacted

    async def _call_model(self, turn: int, *, closing_only: bool = False) -> str:
        """One model turn; on a forced final turn the schema offers only closing actions."""
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            self._exhausted(
                "time_budget_seconds",
                self.mission.time_budget_seconds,
                self.mission.time_budget_seconds,
            )
            raise self._runtime_closure(
                Status.PARTIAL, Reason.DEADLINE_REACHED, "the mission's time budget ran out"
            )
        schema = self.schemas[closing_only]
        body: dict[str, Any] = {
            "messages": list(self.messages),
            "temperature": 0.2,
            "max_tokens": self._turn_max_tokens(schema),
            "frequency_penalty": FREQUENCY_PENALTY,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "action", "schema": schema},
            },
        }
        # The turn's events go to disk while the model thinks; its answer is acted on only once
        # they are there (a failed fsync then ends the mission as a runtime fault).
        flushing = asyncio.get_running_loop().run_in_executor(None, self.journal.sync)
        try:
            async with asyncio.timeout(remaining):
                result = await self.client.complete(
                    body, call_index=turn, on_event=self.journal.add
                )
        except TimeoutError:
            self._exhausted(
                "time_budget_seconds",
                self.mission.time_budget_seconds,
                self.mission.time_budget_seconds,
            )
            raise self._runtime_closure(
                Status.PARTIAL,
                Reason.DEADLINE_REACHED,
                "the model did not answer within the time budget",
            ) from None
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the client's errors carry the provider's reason
            raise self._runtime_closure(
                Status.FAILED,
                Reason.MODEL_CALL_FAILED,
                self.journal.redactor.redact(str(error)).text,
            ) from None
        finally:
            await flushing
        return result.content or ""

    def _turn_max_tokens(self, schema: dict[str, Any]) -> int:
        """Sized from the schema where every model enforces it as a grammar (the local model);
        a model that only reads the schema may write longer, so it keeps the ceiling."""
        if self.client.grammar:
            return turn_max_tokens(schema, self.max_tokens)
        return self.max_tokens

    def _run_tool(self, call_id: int, action: Action, redacted: dict[str, Any]) -> None:
        self.journal.add(
            ToolCallRequested(
                call_id=call_id,
                tool_name=action.tool_name or "",
                arguments=redacted["arguments"],
                reason=redacted["reason"][:500],
                phase=action.phase or "",
            )
        )
        outcome = self.toolbox.run(call_id, action.tool_name or "", action.arguments)
        event = self.journal.add(outcome)
        self.messages.append({"role": "user", "content": prompts.observation(event.seq, outcome)})

    def _close_with_report(self, action: Action, forced: str | None) -> MissionClosed:
        journal = self.journal
        draft_data, _ = journal.redactor.redact_obj(action.report or {})
        journal.add(ReportProposed(report=draft_data), "model")
        draft = parse_draft(draft_data)
        cap = Status.PARTIAL if forced in CAPPING_STOPS else None
        denied = denial_cap(self.record)
        if denied is not None and (cap is None or denied is Status.ESCALATE):
            cap = denied
        evidence = EvidenceIndex.of(self.record)
        validated = validate_report(draft, evidence, self.mission, status_cap=cap)
        closure = Closure(
            validated.status,
            _closure_reason(forced),
            closed_by="model",
            detail="; ".join(validated.downgrades),
            downgrades=validated.downgrades,
        )
        return MissionClosed(closure, validated.report, validated.unresolved_refs)

    async def _propose_patch(self, action: Action, forced: str | None) -> None:
        if self.patch_step is None:
            raise self._runtime_closure(
                Status.FAILED,
                Reason.PATCH_PIPELINE_UNAVAILABLE,
                "this runtime has no patch pipeline configured",
            )
        patch_round = self.record.implementation.intent_rounds + 1  # each step logs its intent
        self.journal.sync()
        decision = await self.patch_step(action=action, round=patch_round, journal=self.journal)
        if decision.repairable and patch_round == 1 and not forced:
            self.messages.append(
                {"role": "user", "content": prompts.patch_repair(decision.reasons)}
            )
            return
        closed = self._close_with_report(
            action.model_copy(update={"report": action.report or _patch_draft()}), forced
        )
        closed.report["patch"] = {
            "status": decision.status,
            "reasons": decision.reasons,
            **decision.extra_report,
        }
        closed.report["investigation_status"] = closed.report["status"]
        closure = closed.closure
        closed.report["status"] = closure.status = decision.status
        closure.reason = PATCH_REASONS.get(decision.status, Reason.PATCH_FAILED)
        closure.closed_by = "runtime"
        closure.detail = "; ".join([*decision.reasons, *closure.downgrades])
        raise closed

    def _exhausted(self, budget: str, limit: float, used: float) -> None:
        self.journal.add(BudgetExhausted(budget=budget, limit=limit, used=used))

    def _runtime_closure(self, status: Status, reason: Reason, why: str) -> MissionClosed:
        evidence = EvidenceIndex.of(self.record)
        recovering = recoverable(self.mission, reason, evidence)
        if recovering:
            status = recovery_status(status)
            why += "; the runtime packed the sources it recorded (SOURCE_PACK_RECOVERY)"
        if denial_cap(self.record) is Status.ESCALATE and status is Status.PARTIAL:
            status = Status.ESCALATE  # the model reached for a blocked source: a human looks
            why += "; the model also reached for a blocked source"
        report = runtime_report(self.mission, evidence, status, why)
        if recovering:
            report = recovery_report(report, evidence)
        return MissionClosed(Closure(status, reason, detail=why, downgrades=[why]), report)

    async def _finalize(self, closed: MissionClosed) -> LoopResult:
        self._close(closed)
        await self._flush()
        return self.result()

    def result(self) -> LoopResult:
        """What the run closed with, as the record says."""
        record = self.record
        return LoopResult(
            record.status,
            record.closure_reason or "",
            dict(record.report.report) if record.report is not None else {},
            record.model_calls.input_tokens,
            record.model_calls.output_tokens,
        )

    def _close(self, closed: MissionClosed) -> None:
        """Record the report the runtime stands behind, then close the log."""
        closure = closed.closure
        report = dict(closed.report, closure=closure.for_report())
        self.journal.add(
            ReportValidated(
                status=closure.status,
                report=report,
                downgrades=closure.downgrades,
                unresolved_refs=closed.unresolved_refs,
            )
        )
        self.journal.add(
            MissionFinalized(
                status=closure.status,
                closure_reason=closure.reason.value,
                closed_by=closure.closed_by,
                detail=closure.detail[:2000],
            ),
            "bridge" if closure.closed_by == "bridge" else "runtime",
        )  # on disk when the log closes, before the answer leaves

    async def _flush(self) -> None:
        pending, self.journal.pending = self.journal.pending, []
        if self.on_commentary is not None and pending:
            self.journal.sync()  # a client never sees a line the log could still lose
            for line in pending:
                await self.on_commentary(line)


BUDGETS = frozenset(
    {"tool_budget", "max_model_calls", "max_total_observation_bytes", "max_duplicate_actions"}
)
# Forced closings whose report is capped at PARTIAL: exploration was cut short. Running out
# of scope (every required source read) is not; a blocked source caps at ESCALATE anyway.
CAPPING_STOPS = BUDGETS | {StopCondition.DEADLINE_REACHED.value, StopCondition.BLOCKED_SOURCE.value}


def closing_reserve(time_budget_seconds: float) -> float:
    """Seconds of the time budget kept for the closing turn when deadline_reached is listed."""
    low, high = CLOSING_RESERVE_BOUNDS
    return min(high, max(low, time_budget_seconds * CLOSING_RESERVE_SHARE))


def turn_max_tokens(schema: dict[str, Any], ceiling: int) -> int:
    """The turn's ``max_tokens``: what its schema can hold at most, never above ``ceiling``."""
    chars = max_json_chars(schema)
    if chars is None:
        return ceiling
    return min(ceiling, chars // CHARS_PER_TOKEN + TOKEN_SLACK)


def _closure_reason(forced: str | None) -> Reason:
    """Why a closing turn happened: the model chose it, a budget ran out, or a stop condition."""
    if forced is None:
        return Reason.VALID_REPORT
    if forced == StopCondition.DEADLINE_REACHED.value:
        return Reason.DEADLINE_REACHED
    return Reason.BUDGET_EXHAUSTED if forced in BUDGETS else Reason(f"stop_condition_{forced}")


def _turns(record: RunRecord) -> int:
    """Model turns so far: each one's answer is recorded as one ModelActionProposed."""
    return len(record.actions)


def denial_cap(record: RunRecord) -> Status | None:
    """The status the run's denials cap a report at: ESCALATE for a blocked source, PARTIAL
    for any other denial that is not an honest slip, None when there were none of either."""
    codes = {denial.reason_code for denial in record.denials} - HARMLESS_CODES
    if not codes:
        return None
    return Status.ESCALATE if codes & BLOCKED_REASON_CODES else Status.PARTIAL


def _stop_condition(mission: MissionV1, record: RunRecord) -> str | None:
    """The mission's stop condition the run has met: a blocked source, or (with required
    sources) every one of them read."""
    stops = mission.stop_conditions
    if StopCondition.BLOCKED_SOURCE in stops and any(
        denial.reason_code in BLOCKED_REASON_CODES for denial in record.denials
    ):
        return StopCondition.BLOCKED_SOURCE.value
    if (
        StopCondition.SCOPE_EXHAUSTED in stops
        and mission.required_source_paths
        and not source_gaps(mission, EvidenceIndex.of(record))[0]
    ):
        return StopCondition.SCOPE_EXHAUSTED.value
    return None


def _patch_draft() -> dict[str, Any]:
    return {
        "status": "PARTIAL",
        "confidence": "LOW",
        "findings": [],
        "caveats": ["the model proposed a patch without a report"],
    }
