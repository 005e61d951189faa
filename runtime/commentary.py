"""Visible commentary: short narration derived from runtime state, never from model text.

Lines are built only from fields the runtime itself decided (tool names, scope-checked paths,
line numbers, reason codes, counts), so no file content, prompt or secret can ride along.
"""

from __future__ import annotations

import os

from runtime.events import (
    BudgetExhausted,
    MissionAdmitted,
    MissionFinalized,
    ModelCalled,
    PatchValidated,
    Payload,
    ReportValidated,
    ToolCallDenied,
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


def _clip(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"
