"""The model -> runtime protocol: one JSON Action per turn, its schema, and a forgiving parser.

The parser accepts the object plain or in one fenced block, maps the few spellings models
commonly use (``tool`` for ``tool_name``, ``args`` for ``arguments`` ...) and refuses anything
else by name, so a repair prompt can say exactly what to fix.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime.bounded_json import loads_bounded
from runtime.mission import describe_validation_errors


class Phase(StrEnum):
    PLAN = "PLAN"
    EXPLORE = "EXPLORE"
    VERIFY = "VERIFY"
    REPORT = "REPORT"


ActionType = Literal["tool_call", "final_report", "propose_patch"]


class Action(BaseModel):
    """One proposal of the model: call a tool, close with a report, or propose a patch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action_type: ActionType
    tool_name: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(default="", max_length=2000)
    phase: Phase | None = None
    report: dict[str, Any] | None = None
    patch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> Action:
        if self.action_type == "tool_call" and not self.tool_name:
            raise ValueError("a tool_call needs tool_name")
        if self.action_type == "final_report" and self.report is None:
            raise ValueError("a final_report needs a report object")
        if self.action_type == "propose_patch" and self.patch is None:
            raise ValueError("a propose_patch needs a patch object (PatchIntentV1)")
        return self


class ActionParseError(ValueError):
    """The model's turn is not one valid Action; the message is fit for a repair prompt."""


KEY_ALIASES = {
    "action": "action_type",
    "type": "action_type",
    "tool": "tool_name",
    "name": "tool_name",
    "args": "arguments",
    "parameters": "arguments",
    "params": "arguments",
    "input": "arguments",
    "rationale": "reason",
    "thought": "reason",
    "final_report": "report",
}
TYPE_ALIASES = {
    "tool": "tool_call",
    "call_tool": "tool_call",
    "report": "final_report",
    "final": "final_report",
    "final_answer": "final_report",
    "finish": "final_report",
    "patch": "propose_patch",
}
FENCED = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
MAX_ACTION_CHARS = 200_000


def parse_action(text: str, allowed_types: frozenset[str]) -> Action:
    """Parse one model turn into an Action whose type is in ``allowed_types``."""
    data = _json_object(text)
    data = _normalise_keys(data)
    try:
        action = Action.model_validate(data)
    except ValidationError as exc:
        raise ActionParseError("; ".join(describe_validation_errors(exc))) from None
    if action.action_type not in allowed_types:
        raise ActionParseError(
            f"action_type {action.action_type!r} is not allowed in this mission; "
            f"use one of {sorted(allowed_types)}"
        )
    return action


def _json_object(text: str) -> dict[str, Any]:
    if not text or not text.strip():
        raise ActionParseError("the answer was empty; answer with one JSON Action object")
    if len(text) > MAX_ACTION_CHARS:
        raise ActionParseError(f"the answer is over {MAX_ACTION_CHARS} characters")
    candidate = text.strip()
    if not candidate.startswith("{"):
        blocks = FENCED.findall(candidate)
        if len(blocks) > 1:
            raise ActionParseError("the answer holds several fenced blocks; send exactly one")
        if blocks:
            candidate = blocks[0].strip()
    try:
        data = loads_bounded(candidate)  # no RecursionError on absurd nesting
    except json.JSONDecodeError as exc:
        raise ActionParseError(f"the answer is not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(data, dict):
        raise ActionParseError("the answer must be one JSON object, not " + type(data).__name__)
    return data


def _normalise_keys(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        canonical = key if key in Action.model_fields else KEY_ALIASES.get(key, key)
        if canonical in out:
            raise ActionParseError(f"field {canonical!r} is given twice (as {key!r})")
        out[canonical] = value
    kind = out.get("action_type")
    if isinstance(kind, str):
        out["action_type"] = TYPE_ALIASES.get(kind.strip().lower(), kind.strip().lower())
    phase = out.get("phase")
    if isinstance(phase, str):
        out["phase"] = phase.strip().upper() or None
    if out.get("arguments") is None:
        out["arguments"] = {}
    return out


def action_schema(tool_specs: dict[str, dict[str, Any]], allowed_types: frozenset[str]) -> dict:
    """JSON Schema of an Action, for ``response_format``: one branch per tool and per closing.

    Served as a grammar to local models, a branch per tool leaves a tiny model no way to omit
    ``tool_name`` or invent arguments (measured: 20/20 valid actions against 3/20 with one flat
    object), and bounded strings keep a runaway ``reason`` from eating the token budget.
    """
    phase = {"enum": [p.value for p in Phase]}
    branches = [
        _closed(
            action_type={"const": "tool_call"},
            tool_name={"const": name},
            arguments=_arguments_schema(spec.get("parameters", {})),
            reason=SHORT_TEXT,
            phase=phase,
        )
        for name, spec in sorted(tool_specs.items())
    ]
    branches.append(
        _closed(
            action_type={"const": "final_report"},
            reason=SHORT_TEXT,
            phase={"const": "REPORT"},
            report=REPORT_SCHEMA,
        )
    )
    if "propose_patch" in allowed_types:
        branches.append(
            _closed(
                action_type={"const": "propose_patch"},
                reason=SHORT_TEXT,
                phase={"const": "REPORT"},
                patch=PATCH_SCHEMA,
                report=REPORT_SCHEMA,
            )
        )
    return {"anyOf": branches}


SHORT_TEXT = {"type": "string", "maxLength": 240}
_FINDING = {
    "type": "object",
    "properties": {
        "claim": {"type": "string", "maxLength": 240},
        "evidence_refs": {
            "type": "array",
            "items": {"type": "string", "maxLength": 120},
            "maxItems": 4,
        },
        "confidence": {"enum": ["HIGH", "MEDIUM", "LOW"]},
    },
    "required": ["claim", "evidence_refs", "confidence"],
    "additionalProperties": False,
}
REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"enum": ["COMPLETE", "PARTIAL", "ESCALATE", "FAILED"]},
        "confidence": {"enum": ["HIGH", "MEDIUM", "LOW"]},
        # Bounded so a grammar-driven model cannot write past its token budget mid-string.
        "findings": {"type": "array", "items": _FINDING, "maxItems": 6},
        "uncertainties": {"type": "array", "items": SHORT_TEXT, "maxItems": 4},
        "caveats": {"type": "array", "items": SHORT_TEXT, "maxItems": 4},
        "escalation_recommendation": {"type": ["string", "null"]},
    },
    "required": ["status", "confidence", "findings"],
    "additionalProperties": False,
}
PATCH_SCHEMA = {
    "type": "object",
    "properties": {
        "edits": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "operation": {
                        "enum": [
                            "insert_before",
                            "insert_after",
                            "replace_exact",
                            "replace_range",
                            "append",
                            "create",
                        ]
                    },
                    "anchor": {"type": "string"},
                    "old_text": {"type": "string"},
                    "new_text": {"type": "string"},
                    "start_line": {"type": "integer"},
                    "end_line": {"type": "integer"},
                    "expected_sha256": {"type": "string"},
                },
                "required": ["path", "operation"],
            },
        },
        "rationale": {"type": "string"},
        "verification_plan": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["edits"],
}


def _arguments_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    """A tool's argument schema without descriptions, strings bounded, one key required."""
    properties: dict[str, Any] = {}
    for key, prop in parameters.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "description"}
        if prop.get("type") == "string":
            prop["maxLength"] = min(prop.get("maxLength", 160), 160)
        properties[key] = prop
    required = list(parameters.get("required") or list(properties)[:1])
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _closed(**properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
