"""The tools ``codex-oss mcp`` offers, as data: names, input schemas, annotations, and the
checks that turn a ``run_mission`` call into a handoff or into an error naming the field.

Pure: no server, no files. The schema of ``run_mission``'s ``mission`` argument is MissionV1's
own JSON Schema with every ``$ref`` inlined and ``X | null`` collapsed to ``X``, because a
tool schema reaches the model through Codex's converter, which keeps properties, enums,
descriptions and ``required`` but drops numeric limits such as ``maximum``: so each limit is
also stated in the field's description, where the model does see it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime.mission import (
    BUDGET_FIELDS,
    MODE_OF_TIER,
    REPORT_SCHEMA,
    TIER_BUDGETS,
    MissionContractError,
    mission_json_schema,
)

SERVER_NAME = "opencode_bridge"
RUN_MISSION = "run_mission"
MISSION_REPORT = "mission_report"
MISSION_SUMMARY = "mission_summary"
MISSION_TRACE = "mission_trace"
PROMOTE_PATCH = "promote_patch"
ROLLBACK_PATCH = "rollback_patch"

# What each MissionV1 field means, for the model that fills it in.
FIELD_NOTES: dict[str, str] = {
    "schema_version": 'Always "oss_agent_mission.v1".',
    "mission_id": "Your id for this mission, unique per mission (its evidence is filed under it).",
    "tier": "A2 quick lookup, A3 read-only investigation, A4 patch proposal (never applied), "
    "A5 bounded implementation in an isolated git worktree, A6 critical-path rehearsal. "
    "Must not exceed the tier of the model alias.",
    "mode": "Optional; if given it must match the tier: "
    + ", ".join(f"{tier.value} {mode.value}" for tier, mode in MODE_OF_TIER.items())
    + ".",
    "objective": "What the mission must find or change, stated fully: the worker sees nothing "
    "else of your conversation.",
    "risk_tier": "low, medium or critical.",
    "write_allowed": "Optional; false below A5, true for A5/A6.",
    "allowed_roots": "Project-relative directories the mission may read ('.' is the whole "
    "project). allowed_roots or allowed_paths must name the scope.",
    "allowed_paths": "Project-relative files the mission may read.",
    "forbidden_roots": "Project-relative directories the mission must never read.",
    "critical_path_read_allowed": "Allow reading critical paths (needs critical_path_reason).",
    "critical_path_reason": "Why critical paths must be read.",
    "owned_paths": "A4 and above (required there): the files the patch may change, inside the "
    "allowed scope.",
    "allowed_tool_classes": "Tool classes the worker may use: read, search, list, git.",
    "stop_conditions": "When the worker should stop and report.",
    "report_schema": f'Always "{REPORT_SCHEMA}".',
    "required_outputs": "What the report must contain.",
    "verification": "A5/A6 only: argv commands (lists, no shell) the runtime runs in the "
    "worktree to verify the patch, and their timeout.",
}
_BUDGET_NOTES = {
    "tool_budget": "Tool calls the worker may make.",
    "time_budget_seconds": "Wall-clock seconds for the whole mission.",
    "max_model_calls": "Model turns.",
    "max_files_to_inspect": "Distinct files the worker may read.",
    "max_total_observation_bytes": "Bytes of tool output the worker may see in total.",
    "max_duplicate_actions": "Repeated identical actions tolerated before the runtime stops it.",
    "max_files_changed": "A4 and above: files the patch may change.",
    "max_patch_bytes": "A4 and above: size of the patch.",
}
# JSON Schema limits in words, in the order they are stated; a zero minimum says nothing.
_LIMIT_WORDS = {
    "pattern": "must match {}",
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "exclusiveMinimum": "greater than {}",
    "minimum": "at least {}",
    "maximum": "at most {}",
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
}
_SILENT_WHEN_ZERO = ("minLength", "minItems")


class ToolCallError(ValueError):
    """A call that cannot become a mission; the message names each field and the fix."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool as ``tools/list`` shows it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool
    destructive: bool = False


def tool_specs(mission_aliases: Iterable[str]) -> list[ToolSpec]:
    """Every tool of the server; ``mission_aliases`` become the enum of ``model``."""
    mission_id = {
        "type": "string",
        "description": "The mission_id you gave run_mission.",
    }
    by_id = _object({"mission_id": mission_id}, ["mission_id"])
    patch_args = _object(
        {
            "mission_id": mission_id,
            "dry_run": {
                "type": "boolean",
                "description": "Check everything and change nothing (default false).",
            },
        },
        ["mission_id"],
    )
    return [
        ToolSpec(RUN_MISSION, RUN_MISSION_DESCRIPTION, run_mission_schema(mission_aliases), False),
        ToolSpec(
            MISSION_REPORT,
            "The report.json of a finished mission (the same report run_mission returned).",
            by_id,
            True,
        ),
        ToolSpec(
            MISSION_SUMMARY,
            "The human summary (summary.md) of a mission: status, budgets used, evidence.",
            by_id,
            True,
        ),
        ToolSpec(
            MISSION_TRACE,
            "A mission's trace, one line per recorded event (what the worker did, in order).",
            by_id,
            True,
        ),
        ToolSpec(
            PROMOTE_PATCH,
            "Apply a VERIFIED A5 patch of a mission to the workspace (changes your files; "
            "rollback_patch undoes it). Refused unless the patch was verified and the files "
            "are still as it was verified against.",
            patch_args,
            False,
            destructive=True,
        ),
        ToolSpec(
            ROLLBACK_PATCH,
            "Undo a promoted patch, restoring the exact prior bytes (changes your files).",
            patch_args,
            False,
            destructive=True,
        ),
    ]


RUN_MISSION_DESCRIPTION = (
    "Delegate a bounded task to an open-source model under the OpenCode Bridge runtime. The "
    "runtime owns the tools, the scope, the budgets and the evidence log; the model only "
    "proposes actions. Returns the mission's final message: a short summary, then the full "
    "machine report between <OSS_REPORT_JSON> and </OSS_REPORT_JSON> (status COMPLETE, "
    "PARTIAL, ESCALATE or FAILED, findings with evidence refs, caveats; for A4/A5 the patch "
    "status and review packet). Treat the findings as evidence to check, not as truth. "
    "PARTIAL/ESCALATE/FAILED are answers too: narrow the mission or do the work yourself. "
    "An A5 patch lands only through promote_patch."
)


def run_mission_schema(mission_aliases: Iterable[str]) -> dict[str, Any]:
    """The input schema of ``run_mission``: ``{"mission": MissionV1, "model": alias}``."""
    aliases = sorted(mission_aliases)
    mission = inline_mission_schema()
    model = {
        "type": "string",
        "description": "The mission alias that runs it, mission-a<tier>-<profile>; its tier "
        "must be at least the mission's tier (e.g. mission-a3-kimi runs A2 and A3 missions).",
    }
    if aliases:
        model["enum"] = aliases
    return _object({"mission": mission, "model": model}, ["mission", "model"])


def inline_mission_schema() -> dict[str, Any]:
    """MissionV1's JSON Schema, self-contained, with limits restated in descriptions."""
    schema = mission_json_schema()
    defs = schema.get("$defs", {})
    body = {k: v for k, v in schema.items() if k not in ("$defs", "$schema", "$id", "title")}
    inlined = _inline(body, defs)
    for name, prop in inlined["properties"].items():
        note = FIELD_NOTES.get(name) or _budget_note(name)
        prop["description"] = _join(note, prop.get("description"))
    _describe_limits(inlined)
    inlined["description"] = (
        "A MissionV1 contract (oss_agent_mission.v1). Unknown fields are refused. Budgets "
        "left out take the tier's default; budgets above the tier's cap are lowered to it."
    )
    return inlined


def check_run_mission(
    arguments: Mapping[str, Any] | None, aliases: Iterable[str]
) -> tuple[dict[str, Any], str]:
    """``(mission, alias)`` from a call's arguments, or ToolCallError naming the field."""
    args = dict(arguments or {})
    problems: list[str] = []
    unknown = sorted(set(args) - {"mission", "model"})
    if unknown:
        problems.append(
            f"{', '.join(unknown)}: unknown argument; run_mission takes only mission and model"
        )
    mission = args.get("mission")
    if isinstance(mission, str):
        mission = _parse_mission_text(mission, problems)
    if mission is None and "mission" not in args:
        problems.append("mission: missing; give the MissionV1 object")
    elif not isinstance(mission, dict) and not problems:
        problems.append(f"mission: must be a JSON object, not {type(mission).__name__}")
    alias = args.get("model")
    known = sorted(aliases)
    if not isinstance(alias, str) or not alias:
        problems.append(f"model: missing; give a mission alias such as {_example(known)}")
    elif alias not in known:
        problems.append(
            f"model: {alias!r} is not a mission alias of this bridge; use one of "
            f"{', '.join(known) or '(none configured)'}"
        )
    if problems:
        raise ToolCallError(format_problems(problems))
    assert isinstance(mission, dict) and isinstance(alias, str)
    return mission, alias


def contract_problems(exc: MissionContractError) -> str:
    """A MissionV1 rejection, each line prefixed with the argument path ``mission.``."""
    lines = []
    for error in exc.errors:
        if error.startswith("mission:"):
            lines.append(error)
        else:
            lines.append(f"mission.{error}")
    return format_problems(lines)


def format_problems(problems: list[str]) -> str:
    """The text of a refused call: every problem on its line, then how to go on."""
    return "\n".join(
        [
            "run_mission refused the call; nothing ran. Fix these and call it again:",
            *(f"- {problem}" for problem in problems),
            "(`codex-oss mission template --tier A3` prints a valid mission to start from.)",
        ]
    )


def handoff_text(mission: Mapping[str, Any]) -> str:
    """The one-block handoff a mission alias expects, built from the checked mission."""
    return (
        "Run this mission.\n<OSS_HANDOFF_JSON>"
        + json.dumps(mission, ensure_ascii=False)
        + "</OSS_HANDOFF_JSON>"
    )


def _parse_mission_text(text: str, problems: list[str]) -> Any:
    # Some models send a nested object as a JSON string; accept it when it parses.
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"mission: a string that is not JSON ({exc.msg}); send the object")
        return None


def _example(aliases: list[str]) -> str:
    return "mission-a3-kimi" if "mission-a3-kimi" in aliases or not aliases else aliases[0]


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    options = node.get("anyOf")
    if isinstance(options, list):
        concrete = [o for o in options if o != {"type": "null"}]
        if len(concrete) == 1:
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
            return _inline({**concrete[0], **rest}, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k != "title"}


def _describe_limits(node: Any) -> None:
    """Append each property's limits to its description, at every depth."""
    if not isinstance(node, dict):
        return
    for prop in (node.get("properties") or {}).values():
        if isinstance(prop, dict):
            prop["description"] = _join(prop.get("description"), _limits(prop))
            _describe_limits(prop)
    _describe_limits(node.get("items"))


def _budget_note(name: str) -> str | None:
    if name not in BUDGET_FIELDS:
        return None
    caps = []
    for tier, budgets in TIER_BUDGETS.items():
        limits = budgets.get(name)
        if limits is not None:
            caps.append(f"{tier.value} default {limits[0]}, cap {limits[1]}")
    return f"{_BUDGET_NOTES.get(name, '')} Optional; per tier: {'; '.join(caps)}.".strip()


def _limits(prop: Mapping[str, Any]) -> str | None:
    """The schema's limits in words (Codex drops the keywords themselves)."""
    words = [f"exactly {json.dumps(prop['const'])}"] if "const" in prop else []
    words += [
        words_of.format(prop[key])
        for key, words_of in _LIMIT_WORDS.items()
        if key in prop and not (key in _SILENT_WHEN_ZERO and prop[key] == 0)
    ]
    items = prop.get("items")
    if isinstance(items, dict) and "maxLength" in items:
        words.append(f"each at most {items['maxLength']} characters")
    return f"Limits: {', '.join(words)}." if words else None


def _join(*parts: str | None) -> str:
    return " ".join(part.strip() for part in parts if part and part.strip())
