"""What the runtime tells the model: the protocol, the mission, observations, repairs.

Short on purpose: small local models have small context windows, and every byte here is
resent on every turn.
"""

from __future__ import annotations

from typing import Any

from runtime.canonical import canonical_json
from runtime.events import ToolCallDenied, ToolObserved
from runtime.mission import PATCH_TIERS, MissionV1, Mode
from runtime.obligations import questions_of

# Every example value is a <placeholder>: small models copy a worked example word for word
# (they grep for its sentence and cite a file that does not exist).
SYSTEM = """You are an investigator working under a runtime that owns every tool.
You never touch files yourself: each turn you answer with exactly ONE JSON object (an Action):
{"action_type": "tool_call", "tool_name": "<tool>", "arguments": {<arguments>}, "reason": "<why>", "phase": "PLAN|EXPLORE|VERIFY|REPORT"}
or, when you are done:
{"action_type": "final_report", "reason": "<why>", "phase": "REPORT", "report": {"status": "COMPLETE|PARTIAL|ESCALATE|FAILED", "confidence": "HIGH|MEDIUM|LOW", "findings": [{"claim": "<claim>", "evidence_refs": ["file:<path>#L<a>-<b>"], "quote": "<text copied exactly from those lines>", "confidence": "HIGH|MEDIUM|LOW"}], "uncertainties": [], "caveats": [], "escalation_recommendation": null}}
Rules: every finding cites evidence the runtime returned to you (a line range you actually read, or
the event number of an observation, event:<n>) and quotes the words in it that support the
claim, copied exactly. Unsupported or unquoted claims are rejected. [] means none. Paths are
relative to the project. Denied paths stay denied; do not retry them, nor repeat a call.
Report honestly: PARTIAL or ESCALATE is better than an unsupported COMPLETE."""

PATCH_RULES = """This mission may propose a patch. Close with:
{"action_type": "propose_patch", "reason": "<why>", "phase": "REPORT", "patch": {"edits": [{"path": "<owned path>", "operation": "replace_exact", "old_text": "<exact current text>", "new_text": "<replacement>"}], "rationale": "<why this change>", "verification_plan": [<argv lists copied from the mission's verification commands>]}, "report": {<report as above>}}
Operations: insert_before/insert_after (anchor), replace_exact (old_text, new_text),
replace_range (start_line, end_line, new_text), append (new_text), create (new_text).
Only owned paths may change. Never send a raw diff."""

FORCED_FINAL = (
    "The runtime stopped exploration ({}). Answer now with your final action "
    "(final_report, or propose_patch where allowed) using only the evidence you already have."
)


def opening_messages(mission: MissionV1, tool_specs: dict[str, dict[str, Any]]) -> list[dict]:
    """The system protocol and the mission as the model sees them."""
    system = SYSTEM
    if mission.tier in PATCH_TIERS:
        system += "\n" + PATCH_RULES
    tools = "\n".join(
        f"- {name}: {spec.get('description', '')} arguments: "
        f"{canonical_json(spec.get('parameters', {}).get('properties', {}))}"
        for name, spec in tool_specs.items()
    )
    scope = ", ".join([*mission.allowed_roots, *mission.allowed_paths]) or "."
    lines = [
        f"Mission {mission.mission_id} (tier {mission.tier.value}, risk {mission.risk_tier.value})",
        f"Objective: {mission.objective}",
        f"Scope: {scope}",
    ]
    if mission.required_source_paths:
        lines.append(
            "Required sources (read each before reporting COMPLETE): "
            + ", ".join(mission.required_source_paths)
        )
    if mission.effective_mode is Mode.OPEN_INVESTIGATION:
        lines.append(
            "Open investigation: answer each question with a finding that quotes the lines "
            "it cites; an unanswered question keeps the report below COMPLETE."
        )
        lines += [f"- {question}" for question in questions_of(mission)]
    if mission.owned_paths:
        lines.append("Owned paths (may be changed by a patch): " + ", ".join(mission.owned_paths))
    if mission.verification is not None and mission.verification.commands:
        commands = "; ".join(canonical_json(argv) for argv in mission.verification.commands)
        lines.append(f"Verification commands the runtime may run: {commands}")
    lines += [
        f"Budgets: {mission.tool_budget} tool calls, {mission.max_model_calls} turns, "
        f"{mission.time_budget_seconds}s.",
        "Required outputs: " + ", ".join(o.value for o in mission.required_outputs),
        "Tools:",
        tools,
        "Start with PLAN, then EXPLORE. One JSON object per answer.",
    ]
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "\n".join(lines)},
    ]


def observation(seq: int, outcome: ToolObserved | ToolCallDenied) -> str:
    """The tool result as the model reads it, named by its event number for citing."""
    if isinstance(outcome, ToolCallDenied):
        return f"event:{seq} DENIED {outcome.tool_name}: {outcome.message}"
    where = ""
    if outcome.path and outcome.start_line is not None:
        where = f" file:{outcome.path}#L{outcome.start_line}-{outcome.end_line}"
    note = " (truncated)" if outcome.truncated else ""
    return f"event:{seq} {outcome.tool_name}{where}{note}\n{outcome.output}"


def repair(error: str) -> str:
    return (
        f"Your last answer was not a valid Action: {error}. "
        "Answer again with exactly one JSON object following the protocol."
    )


def patch_repair(reasons: list[str]) -> str:
    return (
        "The runtime rejected your patch: " + "; ".join(reasons) + ". "
        "You have one chance to propose a corrected patch."
    )
