"""The mission loop: ask for one action, check it, run it, record it, until a stop condition.

The loop owns no I/O of its own: the model, the tools, the log and the patch pipeline come in
through small protocols, so tests can drive it with real servers or in memory. A mission ends
by raising :class:`MissionClosed`, which carries its status and reason as data.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from runtime import prompts
from runtime.actions import Action, ActionParseError, action_schema, max_json_chars, read_action
from runtime.canonical import canonical_json
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
from runtime.grounding import citable_text
from runtime.mission import PATCH_TIERS, Clamp, MissionV1, StopCondition
from runtime.policy import BLOCKED_REASON_CODES
from runtime.redact import Redactor
from runtime.report import (
    EvidenceIndex,
    ObservedRange,
    ReportFormatError,
    Status,
    command_line,
    parse_draft,
    read_draft,
    runtime_report,
    source_gaps,
    validate_report,
)
from runtime.settings import TraceMode
from runtime.source_pack import recoverable, recovery_report, recovery_status
from runtime.tools import MISTAKE_REASON_CODES, normalise_arguments
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
    def append(self, payload: Payload, source: str = "runtime") -> Event: ...


class ModelClient(Protocol):
    async def complete(
        self,
        chain: list[Any],
        body: dict[str, Any],
        *,
        call_index: int = 0,
        on_event: Callable[[ModelCalled], None] | None = None,
    ) -> Any: ...


class ToolBox(Protocol):
    observation_bytes: int  # spent so far; the loop stops exploring at the mission's budget

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
    """Raised to end a mission; carries the closure as data."""

    def __init__(
        self,
        status: Status | str,
        reason: str,
        *,
        closed_by: str = "runtime",
        detail: str = "",
        report: dict[str, Any] | None = None,
        downgrades: list[str] | None = None,
        unresolved_refs: list[str] | None = None,
    ):
        super().__init__(f"{status}: {reason}")
        self.status = str(status)
        self.reason = reason
        self.closed_by = closed_by
        self.detail = detail
        self.report = report or {}
        self.downgrades = downgrades or []
        self.unresolved_refs = unresolved_refs or []


@dataclass
class LoopResult:
    status: str
    closure_reason: str
    report: dict[str, Any]
    input_tokens: int
    output_tokens: int


class Journal:
    """Appends events, keeps the evidence index and queues commentary for the client."""

    def __init__(self, log: EventSink, redactor: Redactor, mode: TraceMode, max_lines: int):
        self.log = log
        self.redactor = redactor
        self.mode = mode
        self.max_lines = max_lines
        self.evidence = EvidenceIndex()
        self.pending: list[str] = []
        self.lines_emitted = 0
        self.worst_denial: Status | None = None
        self.denials: list[dict[str, Any]] = []
        self.narrator = Narrator(mode)

    def add(self, payload: Payload, source: str = "runtime") -> Event:
        event = self.log.append(payload, source)
        self._index(event.seq, payload)
        for line in self.narrator.lines(event.seq, payload):
            self._comment(line)
        return event

    def _comment(self, line: str) -> None:
        if self.lines_emitted >= self.max_lines:
            return
        self.lines_emitted += 1
        if self.lines_emitted == self.max_lines:
            line = "further commentary suppressed (OSS_VISIBLE_TRACE_MAX_EVENTS reached)"
        text = self.redactor.redact(line).text
        self.log.append(CommentaryEmitted(text=text), "runtime")
        self.pending.append(text)

    def _index(self, seq: int, payload: Payload) -> None:
        evidence = self.evidence
        if isinstance(payload, ToolObserved):
            evidence.observations[seq] = ObservedRange(
                seq,
                payload.tool_name,
                payload.path,
                payload.start_line,
                payload.end_line,
                citable_text(payload.tool_name, payload.output),
            )
            if payload.tool_name == "read" and payload.path not in evidence.files_read:
                evidence.files_read.append(payload.path or "")
            evidence.commands_run.append(command_line(payload.tool_name, payload.arguments))
        elif isinstance(payload, ToolCallDenied):
            path = payload.arguments.get("path")
            if isinstance(path, str):
                evidence.denied_paths.add(path.removeprefix("./"))
                if payload.reason_code in BLOCKED_REASON_CODES:
                    evidence.blocked_paths.add(posixpath.normpath(path))
            self.denials.append(
                {
                    "tool_name": payload.tool_name,
                    "reason_code": payload.reason_code,
                    "message": payload.message,
                }
            )
            if payload.reason_code not in HARMLESS_CODES:
                cap = (
                    Status.ESCALATE
                    if payload.reason_code in BLOCKED_REASON_CODES
                    else Status.PARTIAL
                )
                if self.worst_denial is None or cap is Status.ESCALATE:
                    self.worst_denial = cap


@dataclass
class MissionLoop:
    """One mission, from admission to closure."""

    mission: MissionV1
    clamps: list[Clamp]
    route: Any  # runtime.events.Route
    chain: list[Any]
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
        self.messages: list[dict[str, str]] = []
        self.model_calls = 0
        self.tool_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.patch_round = 0
        self.deadline = 0.0
        self._announced: str | None = None
        self.stop_condition: str | None = None  # a met stop condition forces the final turn
        self.interrupted = False  # set by the runner before it cancels: the bridge is stopping
        self.action_counts: dict[str, int] = {}  # each distinct tool call, denied or not
        self.most_repeats = 0

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
                    ("interrupted", "the bridge stopped mid-mission; mission interrupted")
                    if self.interrupted
                    else ("client_disconnected", "the client went away; mission cancelled")
                ),
            )
            closed.closed_by = "bridge"
            self._close(closed)
            raise

    async def _step(self) -> None:
        forced = self._forced_final()
        action = await self._next_action(forced)
        if action.action_type == "tool_call":
            if forced:
                raise self._runtime_closure(
                    Status.PARTIAL,
                    _closure_reason(forced),
                    f"the model kept calling tools after exploration stopped ({forced})",
                )
            self._run_tool(action)
        elif action.action_type == "final_report":
            raise self._close_with_report(action, forced)
        else:
            await self._propose_patch(action, forced)

    def _forced_final(self) -> str | None:
        """The budget that has run out, if the next turn must be the final report."""
        mission = self.mission
        if self.model_calls >= mission.max_model_calls:
            self._exhausted("max_model_calls", mission.max_model_calls, self.model_calls)
            raise self._runtime_closure(
                Status.PARTIAL, "budget_exhausted", "the model-call budget ran out before a report"
            )
        if self.model_calls == mission.max_model_calls - 1:
            return "max_model_calls"
        if self.tool_calls >= mission.tool_budget:
            return "tool_budget"
        if _spent(self.toolbox, mission):
            return "max_total_observation_bytes"
        if mission.max_duplicate_actions is not None and (
            self.most_repeats > mission.max_duplicate_actions
        ):
            return "max_duplicate_actions"
        if StopCondition.DEADLINE_REACHED in mission.stop_conditions and (
            self.deadline - self.clock() <= closing_reserve(mission.time_budget_seconds)
        ):
            return StopCondition.DEADLINE_REACHED.value
        return self.stop_condition

    async def _next_action(self, forced: str | None) -> Action:
        if forced in BUDGETS and self._announced != forced:
            self._announced = forced
            used = {
                "tool_budget": self.tool_calls,
                "max_model_calls": self.model_calls,
                "max_duplicate_actions": self.most_repeats,
            }
            limit = getattr(self.mission, forced)
            self._exhausted(forced, limit, used.get(forced, limit))
        if forced:
            self.messages.append({"role": "user", "content": prompts.FORCED_FINAL.format(forced)})
        repaired = False
        while True:
            text = await self._call_model(closing_only=forced is not None)
            turn = self.model_calls
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
                        "action_parse_failed",
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
            return action

    async def _call_model(self, *, closing_only: bool = False) -> str:
        """One model turn; on a forced final turn the schema offers only closing actions."""
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            self._exhausted(
                "time_budget_seconds",
                self.mission.time_budget_seconds,
                self.mission.time_budget_seconds,
            )
            raise self._runtime_closure(
                Status.PARTIAL, "deadline_reached", "the mission's time budget ran out"
            )
        self.model_calls += 1
        schema = action_schema(
            {} if closing_only else self.tool_specs,
            self.allowed_types - {"tool_call"} if closing_only else self.allowed_types,
            tuple(output.value for output in self.mission.required_outputs),
        )
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
        try:
            result = await asyncio.wait_for(
                self.client.complete(
                    self.chain, body, call_index=self.model_calls, on_event=self.journal.add
                ),
                timeout=remaining,
            )
        except TimeoutError:
            self._exhausted(
                "time_budget_seconds",
                self.mission.time_budget_seconds,
                self.mission.time_budget_seconds,
            )
            raise self._runtime_closure(
                Status.PARTIAL,
                "deadline_reached",
                "the model did not answer within the time budget",
            ) from None
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the client's errors carry the provider's reason
            raise self._runtime_closure(
                Status.FAILED, "model_call_failed", self.journal.redactor.redact(str(error)).text
            ) from None
        usage = getattr(result, "usage", None)
        self.input_tokens += getattr(usage, "input_tokens", 0)
        self.output_tokens += getattr(usage, "output_tokens", 0)
        return result.content or ""

    def _turn_max_tokens(self, schema: dict[str, Any]) -> int:
        """Sized from the schema where every profile enforces it as a grammar (the local
        model); a model that only reads the schema may write longer, so it keeps the ceiling."""
        if self.chain and all(getattr(p, "supports_json_schema", False) for p in self.chain):
            return turn_max_tokens(schema, self.max_tokens)
        return self.max_tokens

    def _run_tool(self, action: Action) -> None:
        self.tool_calls += 1
        call_id = self.tool_calls
        arguments, _ = self.journal.redactor.redact_obj(action.arguments)
        self.journal.add(
            ToolCallRequested(
                call_id=call_id,
                tool_name=action.tool_name or "",
                arguments=arguments,
                reason=action.reason[:500],
                phase=action.phase or "",
            )
        )
        key = _action_key(action.tool_name or "", action.arguments)
        self.action_counts[key] = self.action_counts.get(key, 0) + 1
        self.most_repeats = max(self.most_repeats, self.action_counts[key] - 1)
        outcome = self.toolbox.run(call_id, action.tool_name or "", action.arguments)
        event = self.journal.add(outcome)
        self.messages.append({"role": "user", "content": prompts.observation(event.seq, outcome)})
        if (
            isinstance(outcome, ToolCallDenied)
            and outcome.reason_code in BLOCKED_REASON_CODES
            and StopCondition.BLOCKED_SOURCE in self.mission.stop_conditions
        ):
            self.stop_condition = StopCondition.BLOCKED_SOURCE.value
        elif (
            self.stop_condition is None
            and StopCondition.SCOPE_EXHAUSTED in self.mission.stop_conditions
            and self.mission.required_source_paths
            and not source_gaps(self.mission, self.journal.evidence)[0]
        ):
            self.stop_condition = StopCondition.SCOPE_EXHAUSTED.value

    def _close_with_report(self, action: Action, forced: str | None) -> MissionClosed:
        journal = self.journal
        draft_data, _ = journal.redactor.redact_obj(action.report or {})
        journal.add(ReportProposed(report=draft_data), "model")
        draft = parse_draft(draft_data)
        cap = Status.PARTIAL if forced in CAPPING_STOPS else None
        if journal.worst_denial is not None and (
            cap is None or journal.worst_denial is Status.ESCALATE
        ):
            cap = journal.worst_denial
        validated = validate_report(draft, journal.evidence, self.mission, status_cap=cap)
        return MissionClosed(
            validated.status,
            _closure_reason(forced),
            closed_by="model",
            detail="; ".join(validated.downgrades),
            report=validated.report,
            downgrades=validated.downgrades,
            unresolved_refs=validated.unresolved_refs,
        )

    async def _propose_patch(self, action: Action, forced: str | None) -> None:
        if self.patch_step is None:
            raise self._runtime_closure(
                Status.FAILED,
                "patch_pipeline_unavailable",
                "this runtime has no patch pipeline configured",
            )
        self.patch_round += 1
        decision = await self.patch_step(
            action=action, round=self.patch_round, journal=self.journal
        )
        if decision.repairable and self.patch_round == 1 and not forced:
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
        closed.report["status"] = closed.status = decision.status
        closed.reason = _patch_reason(decision.status)
        closed.closed_by = "runtime"
        closed.detail = "; ".join([*decision.reasons, *closed.downgrades])
        raise closed

    def _exhausted(self, budget: str, limit: float, used: float) -> None:
        self.journal.add(BudgetExhausted(budget=budget, limit=limit, used=used))

    def _runtime_closure(self, status: Status, reason: str, why: str) -> MissionClosed:
        evidence = self.journal.evidence
        recovering = recoverable(self.mission, reason, evidence)
        if recovering:
            status = recovery_status(status)
            why += "; the runtime packed the sources it recorded (SOURCE_PACK_RECOVERY)"
        if self.journal.worst_denial is Status.ESCALATE and status is Status.PARTIAL:
            status = Status.ESCALATE  # the model reached for a blocked source: a human looks
            why += "; the model also reached for a blocked source"
        report = runtime_report(self.mission, evidence, status, why)
        if recovering:
            report = recovery_report(report, evidence)
        return MissionClosed(status, reason, detail=why, report=report, downgrades=[why])

    async def _finalize(self, closed: MissionClosed) -> LoopResult:
        report = self._close(closed)
        await self._flush()
        return LoopResult(
            closed.status, closed.reason, report, self.input_tokens, self.output_tokens
        )

    def _close(self, closed: MissionClosed) -> dict[str, Any]:
        """Record the report the runtime stands behind, then close the log."""
        report = dict(closed.report)
        report["closure"] = {
            "closed_by": closed.closed_by,
            "reason": closed.reason,
            "detail": closed.detail[:2000],
            "downgrades": closed.downgrades,
        }
        self.journal.add(
            ReportValidated(
                status=closed.status,
                report=report,
                downgrades=closed.downgrades,
                unresolved_refs=closed.unresolved_refs,
            )
        )
        self.journal.add(
            MissionFinalized(
                status=closed.status,
                closure_reason=closed.reason,
                closed_by=closed.closed_by,
                detail=closed.detail[:2000],
            ),
            "bridge" if closed.closed_by == "bridge" else "runtime",
        )
        return report

    async def _flush(self) -> None:
        pending, self.journal.pending = self.journal.pending, []
        if self.on_commentary is not None:
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


def _closure_reason(forced: str | None) -> str:
    """Why a closing turn happened: the model chose it, a budget ran out, or a stop condition."""
    if forced is None:
        return "valid_report"
    if forced == StopCondition.DEADLINE_REACHED.value:
        return "deadline_reached"
    return "budget_exhausted" if forced in BUDGETS else f"stop_condition_{forced}"


def _action_key(tool_name: str, arguments: dict[str, Any]) -> str:
    """One identity per tool call as it would run (defaults filled in), or as sent if invalid."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        arguments = normalise_arguments(tool_name, arguments)
    return canonical_json([tool_name, arguments])


def _spent(toolbox: ToolBox, mission: MissionV1) -> bool:
    """Whether the toolbox would refuse any further observation (less than its minimum left)."""
    left = mission.max_total_observation_bytes - toolbox.observation_bytes
    return left < MIN_OBSERVATION_BYTES


def _patch_draft() -> dict[str, Any]:
    return {
        "status": "PARTIAL",
        "confidence": "LOW",
        "findings": [],
        "caveats": ["the model proposed a patch without a report"],
    }


def _patch_reason(status: str) -> str:
    return {
        "VALIDATED": "patch_validated",
        "VERIFIED": "patch_verified",
        "VERIFICATION_FAILED": "verification_failed",
        "REJECTED": "patch_rejected",
        "ESCALATE": "patch_escalated",
    }.get(status, "patch_failed")
