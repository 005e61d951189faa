"""The model -> runtime protocol: one JSON Action per turn, its schema, and a tolerant reader.

The reader takes the object plain, fenced, or wrapped in prose, as real OpenAI-compatible
models answer. What the runtime only narrates is read leniently and every liberty taken is
noted for the log: the case of enums, common key spellings, a ``phase`` outside the four the
runtime knows (normalised when it has an obvious meaning, else kept as text), keys nobody
asked for (dropped). What decides what runs stays strict: the action type, the tool name, its
arguments and the patch are taken as given and checked later by name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime.bounded_json import JsonLimitError, loads_bounded
from runtime.mission import describe_validation_errors
from runtime.model_keys import canonical_keys
from runtime.patches.intent import Operation


class Phase(StrEnum):
    PLAN = "PLAN"
    EXPLORE = "EXPLORE"
    VERIFY = "VERIFY"
    REPORT = "REPORT"


ActionType = Literal["tool_call", "final_report", "propose_patch"]
MAX_PHASE_CHARS = 40


class Action(BaseModel):
    """One proposal of the model: call a tool, close with a report, or propose a patch.

    ``phase`` is a :class:`Phase` value when the model's label has one, else its label as text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action_type: ActionType
    tool_name: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(default="", max_length=2000)
    phase: str | None = Field(default=None, max_length=MAX_PHASE_CHARS)
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


@dataclass(frozen=True)
class ReadAction:
    """An Action and the liberties the reader took to get it (for the log)."""

    action: Action
    notes: list[str] = field(default_factory=list)


KEY_ALIASES = {
    **dict.fromkeys(("action", "type", "actiontype"), "action_type"),
    **dict.fromkeys(("tool", "name", "toolname", "function"), "tool_name"),
    **dict.fromkeys(
        ("args", "parameters", "params", "input", "tool_input", "tool_args"), "arguments"
    ),
    **dict.fromkeys(("rationale", "thought", "thoughts", "reasoning", "why"), "reason"),
    **dict.fromkeys(("stage", "step"), "phase"),
    **dict.fromkeys(("final_report", "final_answer"), "report"),
}
TYPE_ALIASES = {
    **dict.fromkeys(("tool", "call_tool", "toolcall", "function_call"), "tool_call"),
    **dict.fromkeys(("report", "final", "final_answer", "finalreport", "finish"), "final_report"),
    "patch": "propose_patch",
}
# Labels models use for the four phases; anything else is kept as the model's own text.
PHASE_ALIASES = {
    **dict.fromkeys(("planning", "plan"), Phase.PLAN),
    **dict.fromkeys(
        ("explore", "exploring", "exploration", "investigate", "investigating", "investigation"),
        Phase.EXPLORE,
    ),
    **dict.fromkeys(
        ("research", "search", "read", "analyze", "analyse", "analysis"), Phase.EXPLORE
    ),
    **dict.fromkeys(("verify", "verifying", "verification", "check", "validate"), Phase.VERIFY),
    **dict.fromkeys(
        ("report", "reporting", "final", "final_report", "answer", "conclude", "done"), Phase.REPORT
    ),
}
FENCED = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)
MAX_ACTION_CHARS = 200_000


def parse_action(text: str, allowed_types: frozenset[str]) -> Action:
    """Parse one model turn into an Action whose type is in ``allowed_types``."""
    return read_action(text, allowed_types).action


def read_action(text: str, allowed_types: frozenset[str]) -> ReadAction:
    """:func:`parse_action`, keeping the notes on what the reader normalised or dropped."""
    notes: list[str] = []
    data = _json_object(text, notes)
    data = _normalise_keys(data, notes)
    try:
        action = Action.model_validate(data)
    except ValidationError as exc:
        raise ActionParseError("; ".join(describe_validation_errors(exc))) from None
    if action.action_type not in allowed_types:
        raise ActionParseError(
            f"action_type {action.action_type!r} is not allowed in this mission; "
            f"use one of {sorted(allowed_types)}"
        )
    return ReadAction(action, notes)


def _json_object(text: str, notes: list[str]) -> dict[str, Any]:
    if not text or not text.strip():
        raise ActionParseError("the answer was empty; answer with one JSON Action object")
    if len(text) > MAX_ACTION_CHARS:
        raise ActionParseError(f"the answer is over {MAX_ACTION_CHARS} characters")
    candidate = text.strip()
    blocks = [] if candidate.startswith("{") else FENCED.findall(candidate)
    if len(blocks) > 1:
        raise ActionParseError("the answer holds several fenced blocks; send exactly one")
    if blocks:
        candidate = blocks[0].strip()
        notes.append("read the Action from a fenced block")
    try:
        data = loads_bounded(candidate)  # no RecursionError on absurd nesting
    except JsonLimitError as exc:
        raise ActionParseError(f"the answer is not an Action ({exc.msg})") from None
    except json.JSONDecodeError as exc:
        error = exc  # perhaps prose around one object: looked for below, as deep as checked
    else:
        if not isinstance(data, dict):
            raise ActionParseError("the answer must be one JSON object, not " + type(data).__name__)
        return data
    objects = _objects_in(candidate)
    if len(objects) > 1:
        raise ActionParseError("the answer holds several JSON objects; send exactly one Action")
    if not objects:
        raise ActionParseError(f"the answer is not valid JSON ({error.msg} at {error.pos})")
    notes.append("read the Action from the text around it")
    return objects[0]


def _objects_in(text: str) -> list[dict[str, Any]]:
    """The top-level JSON objects embedded in ``text`` (prose around them ignored)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        index = text.find("{", end)
    return found


def _normalise_keys(data: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    out, dropped = canonical_keys(
        data, _canonical_key, twice=ActionParseError, notes=notes, where=""
    )
    if dropped:
        notes.append("ignored keys the protocol does not have: " + ", ".join(map(repr, dropped)))
    kind = out.get("action_type")
    if isinstance(kind, str):
        out["action_type"] = TYPE_ALIASES.get(kind.strip().lower(), kind.strip().lower())
    elif kind is None:
        inferred = _inferred_type(out)
        if inferred is not None:
            out["action_type"] = inferred
            notes.append(f"action_type missing; read as {inferred!r} from the fields given")
    if "phase" in out:
        out["phase"] = _phase(out["phase"], notes)
    if out.get("arguments") is None:
        out["arguments"] = {}
    if isinstance(out.get("reason"), str) and len(out["reason"]) > 2000:
        out["reason"] = out["reason"][:2000]
        notes.append("reason cut to 2000 characters")
    return out


def _canonical_key(key: str) -> str | None:
    """The Action field ``key`` names, or None for a key the protocol does not have."""
    if key in Action.model_fields:
        return key
    folded = key.strip().lower().replace("-", "_")
    if folded in Action.model_fields:
        return folded
    return KEY_ALIASES.get(folded) or KEY_ALIASES.get(folded.replace("_", ""))


def _inferred_type(data: dict[str, Any]) -> str | None:
    """The action type a typeless object plainly is: a tool name, a report, or a patch."""
    present = [
        kind
        for kind, key in (
            ("tool_call", "tool_name"),
            ("final_report", "report"),
            ("propose_patch", "patch"),
        )
        if data.get(key) is not None
    ]
    if present == ["final_report", "propose_patch"] or present == ["propose_patch"]:
        return "propose_patch"
    return present[0] if len(present) == 1 else None


def _phase(value: Any, notes: list[str]) -> str | None:
    """A Phase value where the label has one; an unknown label kept as (short) text."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.upper() in Phase.__members__:
        if text != text.upper():
            notes.append(f"phase {text!r} read as {text.upper()!r}")
        return text.upper()
    folded = text.lower().replace("-", "_").replace(" ", "_")
    if (known := PHASE_ALIASES.get(folded)) is not None:
        notes.append(f"phase {text!r} read as {known.value!r}")
        return known.value
    notes.append(f"phase {text[:MAX_PHASE_CHARS]!r} is not one of the runtime's; kept as text")
    return text[:MAX_PHASE_CHARS]


def action_schema(
    tool_specs: dict[str, dict[str, Any]],
    allowed_types: frozenset[str],
    required_outputs: tuple[str, ...] = (),
) -> dict:
    """JSON Schema of an Action, for ``response_format``: one branch per tool and per closing.

    Served as a grammar to local models, a branch per tool leaves a tiny model no way to omit
    ``tool_name`` or invent arguments (measured: 20/20 valid actions against 3/20 with one flat
    object), and bounded strings keep a runaway ``reason`` from eating the token budget.
    ``required_outputs`` (the mission's) become required keys of the report, so a grammar-driven
    model states them rather than leaving them out.
    """
    report = report_schema(required_outputs)
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
    closing = {"reason": SHORT_TEXT, "phase": {"const": "REPORT"}}
    branches.append(_closed(action_type={"const": "final_report"}, **closing, report=report))
    if "propose_patch" in allowed_types:
        patch = {"patch": PATCH_SCHEMA, "report": report}
        branches.append(_closed(action_type={"const": "propose_patch"}, **closing, **patch))
    return {"anyOf": branches}


SHORT_TEXT = {"type": "string", "maxLength": 240}
NOTE_TEXT = {"type": "string", "maxLength": 120}
# Bounded so a grammar-driven model cannot write past its token budget mid-string, and small:
# a tiny model that degenerates fills every string to its bound (measured: "PATCH: PATCH: ...").
_FINDING = {
    "type": "object",
    "properties": {
        "claim": {"type": "string", "maxLength": 160},
        "evidence_refs": {
            "type": "array",
            "items": {"type": "string", "maxLength": 80},
            "maxItems": 2,
        },
        "quote": {"type": "string", "maxLength": 120},
        "confidence": {"enum": ["HIGH", "MEDIUM", "LOW"]},
    },
    "required": ["claim", "evidence_refs", "quote", "confidence"],
    "additionalProperties": False,
}
REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"enum": ["COMPLETE", "PARTIAL", "ESCALATE", "FAILED"]},
        "confidence": {"enum": ["HIGH", "MEDIUM", "LOW"]},
        "findings": {"type": "array", "items": _FINDING, "maxItems": 3},
        "uncertainties": {"type": "array", "items": NOTE_TEXT, "maxItems": 2},
        "caveats": {"type": "array", "items": NOTE_TEXT, "maxItems": 2},
        "escalation_recommendation": {"anyOf": [NOTE_TEXT, {"type": "null"}]},
    },
    "required": ["status", "confidence", "findings"],
    "additionalProperties": False,
}


def report_schema(required_outputs: tuple[str, ...] = ()) -> dict[str, Any]:
    """REPORT_SCHEMA with the mission's required outputs among its required keys."""
    properties = REPORT_SCHEMA["properties"]
    required = list(REPORT_SCHEMA["required"])
    required += [key for key in properties if key in required_outputs and key not in required]
    return {**REPORT_SCHEMA, "required": required}


PATCH_SCHEMA = {
    "type": "object",
    "properties": {
        "edits": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "operation": {"enum": [operation.value for operation in Operation]},
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


def max_json_chars(schema: dict[str, Any]) -> int | None:
    """The longest compact JSON text ``schema`` admits, or None when nothing bounds it.

    What a turn's ``max_tokens`` is sized from: a grammar-bound model cannot write more than
    this, so a budget above it only feeds a model that has stopped making sense.
    """
    if "anyOf" in schema:
        sizes = [max_json_chars(branch) for branch in schema["anyOf"]]
        return None if None in sizes else max(size for size in sizes if size is not None)
    if "const" in schema:
        return len(json.dumps(schema["const"]))
    if "enum" in schema:
        return max(len(json.dumps(value)) for value in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        sizes = [max_json_chars({**schema, "type": one}) for one in kind]
        return None if None in sizes else max(size for size in sizes if size is not None)
    if kind == "string":
        # maxLength counts characters; a rare escape ("\\n") is within the turn's slack.
        return schema["maxLength"] + 2 if "maxLength" in schema else None
    if kind in ("integer", "number"):
        return 20
    if kind in ("boolean", "null"):
        return 5
    if kind == "array":
        item = max_json_chars(schema.get("items", {}))
        if item is None or "maxItems" not in schema:
            return None
        return 2 + schema["maxItems"] * (item + 1)
    if kind == "object":
        if schema.get("additionalProperties", True) is not False:
            return None
        total = 2
        for key, value in schema.get("properties", {}).items():
            size = max_json_chars(value)
            if size is None:
                return None
            total += len(json.dumps(key)) + 2 + size
        return total
    return None


def _arguments_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    """A tool's argument schema without descriptions, strings bounded, one key required."""
    properties: dict[str, Any] = {}
    for key, prop in parameters.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "description"}
        if prop.get("type") == "string":
            prop["maxLength"] = min(prop.get("maxLength", 160), 160)
        properties[key] = prop
    required = list(parameters.get("required") or list(properties)[:1])
    return {**_closed(**properties), "required": required}


def _closed(**properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
