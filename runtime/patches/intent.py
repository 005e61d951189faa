"""PatchIntentV1: what a model may propose instead of a diff.

The model names edits by intent (insert next to an anchor, replace exact text, replace a line
range, append, create); the runtime turns them into a unified diff itself, so a raw diff from
the model is never applied. Validation is strict and every error names the edit and field, so
one repair round can tell the model exactly what to fix.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runtime.mission import SCHEMA_VERSION as MISSION_SCHEMA
from runtime.mission import check_argv_lists, describe_validation_errors, normalise_scope_path

INTENT_SCHEMA_VERSION = "patch_intent.v1"
SHA256_HEX = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


class Operation(StrEnum):
    INSERT_BEFORE = "insert_before"
    INSERT_AFTER = "insert_after"
    REPLACE_EXACT = "replace_exact"
    REPLACE_RANGE = "replace_range"
    APPEND = "append"
    CREATE = "create"


# The fields each operation needs; any other edit field must be absent or null.
REQUIRED_FIELDS: dict[Operation, frozenset[str]] = {
    Operation.INSERT_BEFORE: frozenset({"anchor", "new_text"}),
    Operation.INSERT_AFTER: frozenset({"anchor", "new_text"}),
    Operation.REPLACE_EXACT: frozenset({"old_text", "new_text"}),
    Operation.REPLACE_RANGE: frozenset({"start_line", "end_line", "new_text"}),
    Operation.APPEND: frozenset({"new_text"}),
    Operation.CREATE: frozenset({"new_text"}),
}
OPTIONAL_FIELDS = frozenset({"anchor", "old_text", "new_text", "start_line", "end_line"})
# Text that must not be empty for the edit to mean anything.
NON_EMPTY_TEXT: dict[Operation, tuple[str, ...]] = {
    Operation.INSERT_BEFORE: ("anchor", "new_text"),
    Operation.INSERT_AFTER: ("anchor", "new_text"),
    Operation.REPLACE_EXACT: ("old_text",),
    Operation.APPEND: ("new_text",),
    Operation.CREATE: ("new_text",),
}
MAX_TEXT = 262_144
Text = Annotated[str, Field(max_length=MAX_TEXT)]
LineNumber = Annotated[int, Field(strict=True, ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EditV1(_Strict):
    """One edit of one file, expressed by intent rather than as diff text."""

    path: Annotated[str, Field(min_length=1, max_length=512)]
    operation: Operation
    anchor: Text | None = None
    old_text: Text | None = None
    new_text: Text | None = None
    start_line: LineNumber | None = None
    end_line: LineNumber | None = None
    expected_sha256: str | None = None

    @field_validator("path")
    @classmethod
    def _project_relative(cls, path: str) -> str:
        return normalise_scope_path(path)

    @field_validator("expected_sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = SHA256_HEX.match(value.strip().lower())
        if not match:
            raise ValueError("must be 64 hex digits (optionally prefixed 'sha256:')")
        return match.group(1)

    @model_validator(mode="after")
    def _fields_of_operation(self) -> EditV1:
        required = REQUIRED_FIELDS[self.operation]
        op = self.operation.value
        missing = sorted(name for name in required if getattr(self, name) is None)
        if missing:
            raise ValueError(f"operation {op!r} needs {', '.join(missing)}")
        extra = sorted(
            name for name in OPTIONAL_FIELDS - required if getattr(self, name) is not None
        )
        if extra:
            raise ValueError(f"operation {op!r} does not take {', '.join(extra)}; leave it out")
        for name in NON_EMPTY_TEXT.get(self.operation, ()):
            if not getattr(self, name):
                raise ValueError(f"operation {op!r} needs a non-empty {name}")
        if self.operation is Operation.REPLACE_RANGE:
            assert self.start_line is not None and self.end_line is not None
            if self.end_line < self.start_line:
                raise ValueError(f"end_line {self.end_line} is before start_line {self.start_line}")
        if self.operation is Operation.CREATE and self.expected_sha256 is not None:
            raise ValueError("operation 'create' makes a new file; expected_sha256 does not apply")
        return self


class PatchIntentV1(_Strict):
    """The patch a model proposes: edits, why, and which allowlisted commands verify it."""

    schema_version: Literal["patch_intent.v1"] = INTENT_SCHEMA_VERSION
    edits: list[EditV1] = Field(min_length=1, max_length=64)
    rationale: Annotated[str, Field(max_length=8000)] = ""
    verification_plan: list[list[str]] = Field(default_factory=list, max_length=16)

    @field_validator("verification_plan", mode="before")
    @classmethod
    def _argv_lists(cls, value: Any) -> Any:
        # The mission's own argv rules; a bare string gets a hint of its own.
        if isinstance(value, str):
            raise ValueError(
                f"is a string {value!r}; give a list of argv lists copied from the mission's "
                "verification commands"
            )
        return check_argv_lists(value, "verification_plan")

    def paths(self) -> list[str]:
        """The distinct paths the edits touch, in first-mention order."""
        return list(dict.fromkeys(edit.path for edit in self.edits))


class IntentError(ValueError):
    """The model's patch object is not a valid PatchIntentV1; ``errors`` name each field."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid PatchIntentV1: " + "; ".join(errors))


def parse_intent(data: Any) -> PatchIntentV1:
    """Validate ``data`` as PatchIntentV1, or raise IntentError naming every bad field."""
    if not isinstance(data, dict):
        raise IntentError([f"patch: must be a JSON object, got {type(data).__name__}"])
    try:
        return PatchIntentV1.model_validate(data)
    except ValidationError as exc:
        lines = [
            line.replace(f"not part of {MISSION_SCHEMA}", f"not part of {INTENT_SCHEMA_VERSION}")
            for line in describe_validation_errors(exc)
        ]
        raise IntentError(["patch." + line for line in lines]) from None
