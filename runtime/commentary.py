"""Visible commentary: short narration derived from runtime state and the model's declared reason.

Lines are built from fields the runtime itself decided (tool names, scope-checked paths, line
numbers, reason codes, counts, evidence refs) plus, bounded and redacted by the journal, the
``reason`` the model declared with its action. Never the model's hidden reasoning, file
contents, command output, prompts or secrets.

``describe`` narrates one event alone; ``Narrator`` keeps the state the origin document's
coverage and phase lines need ("Current phase is REPORT. Evidence refs now available: ...").
``CommentaryDelivery`` counts what was streamed and writes ``commentary_delivery.json`` (a
report, not evidence: written atomically but not fsynced, like the projections).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.atomic import atomic_write_text
from runtime.canonical import indented_json
from runtime.events import (
    BudgetExhausted,
    MissionAdmitted,
    MissionFinalized,
    ModelCalled,
    PatchValidated,
    Payload,
    ReportProposed,
    ReportValidated,
    ToolCallDenied,
    ToolCallRequested,
    ToolObserved,
    VerificationRan,
)
from runtime.settings import TraceMode

DENIAL_WORDS = {
    "secret_path": "secret path",
    "git_internals": "git internals",
    "outside_scope": "outside the mission's scope",
    "path_escape": "escapes the project",
    "forbidden_root": "forbidden root",
    "critical_root": "critical path",
    "duplicate_action": "repeated action",
    "budget_exhausted": "budget spent",
    "tool_class_not_allowed": "tool not allowed in this mission",
}
MAX_LINE = 160
MAX_NARRATION = 280  # a line carrying the model's stated reason may run longer
REASON_CHARS = {TraceMode.SUMMARY: 80, TraceMode.DETAILED: 160}
MAX_REFS_SHOWN = 6
DELIVERY_FILE = "commentary_delivery.json"


def describe(payload: Payload, mode: TraceMode) -> str | None:
    """One commentary line for ``payload`` under ``mode``, or None when it stays silent."""
    if mode is TraceMode.OFF:
        return None
    line = _summary_line(payload)
    if line is None and mode is TraceMode.DETAILED:
        line = _detailed_line(payload)
    return _clip(line) if line else None


def _summary_line(payload: Payload) -> str | None:
    match payload:
        case MissionAdmitted(route=route):
            tier = payload.mission.get("tier", "?")
            return f"mission admitted: tier {tier} on {route.profile} ({route.upstream_model})"
        case ToolObserved(tool_name="read", path=path, start_line=start, end_line=end):
            cached = " (cached)" if payload.cached else ""
            return f"reading {path} lines {start}-{end}{cached}"
        case ToolObserved(tool_name="grep"):
            pattern = str(payload.arguments.get("pattern", ""))[:40]
            where = payload.arguments.get("path") or "."
            return f"searching {where} for {pattern!r}"
        case ToolObserved(tool_name="ls"):
            return f"listing {payload.arguments.get('path') or '.'}"
        case ToolObserved(tool_name=name):
            return f"running {name}"
        case ToolCallDenied(tool_name=name, reason_code=code):
            target = payload.arguments.get("path") or payload.arguments.get("rev") or name
            return f"denied {target}: {DENIAL_WORDS.get(code, code.replace('_', ' '))}"
        case BudgetExhausted(budget=budget):
            return f"budget exhausted: {budget} ({payload.used:g}/{payload.limit:g})"
        case ReportValidated(status=status, downgrades=downgrades):
            extra = f", {len(downgrades)} downgrade(s)" if downgrades else ""
            return f"report validated: {status}{extra}"
        case PatchValidated(ok=ok, files_changed=files):
            verdict = "accepted" if ok else "rejected"
            return f"patch {verdict}: {len(files)} file(s)"
        case VerificationRan(argv=argv, exit_code=code, timed_out=timed_out):
            outcome = "timed out" if timed_out else f"exit {code}"
            # The program's name, not its path: the line must read the same on every machine.
            command = " ".join([os.path.basename(argv[0]), *argv[1:]])[:60]
            return f"verification {command}: {outcome}"
        case MissionFinalized(status=status, closure_reason=reason):
            return f"mission closed: {status} ({reason})"
    return None


def _detailed_line(payload: Payload) -> str | None:
    match payload:
        case ModelCalled(outcome="ok"):
            return f"model call {payload.call_index} answered by {payload.model}"
        case ModelCalled(outcome=outcome):
            status = f" {payload.status_code}" if payload.status_code else ""
            return f"model call {payload.call_index} to {payload.model}: {outcome}{status}"
    return None


def _clip(line: str, limit: int = MAX_LINE) -> str:
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class Narrator:
    """Commentary for a mission's events in order, with the state coverage and phase need."""

    mode: TraceMode
    allowed_paths: list[str] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    phase: str = ""

    def lines(self, seq: int, payload: Payload) -> list[str]:
        """Every line ``payload`` (event ``seq``) adds under this mode, in order."""
        if self.mode is TraceMode.OFF:
            return []
        lines: list[str] = []
        match payload:
            case MissionAdmitted():
                self.allowed_paths = list(payload.mission.get("allowed_paths") or [])
                lines.append("I'm loading the compiled MissionV1 contract.")
            case ModelCalled() if self.mode is TraceMode.DETAILED:
                lines.append("I'm asking the OSS model for the next safe investigation action.")
            case ToolCallRequested(tool_name=name, arguments=arguments, reason=reason):
                lines += self._phase(payload.phase)
                lines.append(self._chose(name, arguments, reason))
            case ReportProposed():
                lines += self._phase("report")
        line = describe(payload, self.mode)
        if line is not None:
            lines.append(line)
        if isinstance(payload, ToolObserved):
            lines += self._observed(seq, payload)
        return [_clip(line, MAX_NARRATION) for line in lines]

    def _chose(self, name: str, arguments: dict[str, Any], reason: str) -> str:
        target = arguments.get("path") or arguments.get("pattern") or arguments.get("rev")
        on = f" on {target}" if isinstance(target, str) and target else ""
        line = f"The model chose {name}{on} as the next investigation step."
        limit = REASON_CHARS.get(self.mode, 0)
        if limit and (reason := _clip(reason, limit)):
            line += f" Its stated reason: {reason}"
        return line

    def _phase(self, phase: str) -> list[str]:
        if not phase or phase.lower() == self.phase.lower():
            return []
        self.phase = phase
        refs = ", ".join(self.refs[:MAX_REFS_SHOWN]) or "none yet"
        if len(self.refs) > MAX_REFS_SHOWN:
            refs += f" (+{len(self.refs) - MAX_REFS_SHOWN} more)"
        return [f"Current phase is {phase.upper()}. Evidence refs now available: {refs}"]

    def _observed(self, seq: int, observed: ToolObserved) -> list[str]:
        new_file = observed.path is not None and observed.path not in self.files_read
        if observed.tool_name == "read" and observed.path and new_file:
            self.files_read.append(observed.path)
        if observed.tool_name == "read" and observed.path and observed.start_line is not None:
            self.refs.append(f"file:{observed.path}#L{observed.start_line}-{observed.end_line}")
        self.refs.append(f"event:{seq}")
        if self.mode is TraceMode.SUMMARY and not new_file:
            return []
        return [f"I finished {observed.tool_name}. {self._coverage()}"]

    def _coverage(self) -> str:
        if self.allowed_paths:
            read = sum(path in self.files_read for path in self.allowed_paths)
            files = f"{read} of {len(self.allowed_paths)} allowed path(s) read"
        else:
            files = f"{len(self.files_read)} file(s) read under the allowed roots"
        return f"The runtime refreshed coverage: {files}, {len(self.refs)} evidence ref(s)."


@dataclass
class CommentaryDelivery:
    """Counts the commentary lines handed to the live consumer (the bridge's SSE stream or a
    terminal), and says what it knows in the final message and in commentary_delivery.json.

    Whether a consumer rendered the lines is not something the bridge can see: that stays
    ``consumer_observed: 0`` unless a consumer probe (``app-server-visible-commentary-probe``)
    records what it observed.
    """

    consumer: Callable[[str], Awaitable[None]] | None
    mode: TraceMode
    sse_emitted: int = 0
    sse_failed: int = 0

    @property
    def callback(self) -> Callable[[str], Awaitable[None]] | None:
        """The callback to give the loop (None when nothing streams)."""
        return self._send if self.consumer is not None else None

    async def _send(self, line: str) -> None:
        assert self.consumer is not None
        try:
            await self.consumer(line)
        except Exception:
            self.sse_failed += 1
            raise
        self.sse_emitted += 1

    def status_line(self, recorded: int) -> str:
        """The ``Delivery status:`` line of the final message."""
        if self.mode is TraceMode.OFF:
            return "Delivery status: commentary off (OSS_VISIBLE_TRACE=off)."
        streamed = (
            f"{self.sse_emitted} streamed live"
            if self.consumer is not None
            else "none streamed (OSS_VISIBLE_TRACE_STREAM=0 or a non-streaming request)"
        )
        return (
            f"Delivery status: {recorded} commentary line(s) recorded in "
            f"visible_commentary.jsonl, {streamed}; the bridge cannot see whether the "
            "client rendered them (commentary_delivery.json)."
        )

    def write(self, directory: Path, mission_id: str, run_id: str, recorded: int) -> Path:
        """Write commentary_delivery.json into the mission's directory."""
        document = {
            "mission_id": mission_id,
            "run_id": run_id,
            "trace_mode": self.mode.value,
            "stream_enabled": self.consumer is not None,
            "commentary_recorded": recorded,
            "sse_emitted": self.sse_emitted,
            "sse_failed": self.sse_failed,
            "consumer_observed": 0,
            "consumer": None,
        }
        path = directory / DELIVERY_FILE  # ASCII names: as json.dumps(indent=2) spells it
        atomic_write_text(path, indented_json(document, sort_keys=False) + "\n", durable=False)
        return path


def record_consumer_observation(directory: Path, consumer: str, observed: int) -> Path:
    """Record in commentary_delivery.json how many lines a real consumer was seen to render."""
    path = directory / DELIVERY_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(consumer_observed=observed, consumer=consumer)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n", durable=False)
    return path
