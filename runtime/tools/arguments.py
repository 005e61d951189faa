"""Argument normalisation: the model's tool arguments made canonical, or refused with a reason.

Pure: aliases a model commonly uses are mapped to the real parameter names, values coerced to
their type, defaults filled and ranges clamped, so equal calls get equal arguments (the
toolbox's duplicate cache keys on them).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from runtime.tools.specs import PARAMS, Param

__all__ = ["normalise_arguments"]

# Names models commonly use for a parameter. Tool-specific entries win over the common ones.
_COMMON_ALIASES: dict[str, str] = {
    "file": "path",
    "filepath": "path",
    "file_path": "path",
    "filename": "path",
    "dir": "path",
    "directory": "path",
    "folder": "path",
    "start": "start_line",
    "line_start": "start_line",
    "from_line": "start_line",
    "first_line": "start_line",
    "end": "end_line",
    "line_end": "end_line",
    "to_line": "end_line",
    "last_line": "end_line",
    "query": "pattern",
    "regex": "pattern",
    "search": "pattern",
    "include": "glob",
    "file_glob": "glob",
    "file_pattern": "glob",
    "context": "context_lines",
    "n": "limit",
    "count": "limit",
    "max_count": "limit",
    "number": "limit",
    "commit": "rev",
    "sha": "rev",
    "revision": "rev",
    "ref": "rev",
    "hash": "rev",
}
_TOOL_ALIASES: dict[str, dict[str, str]] = {
    "grep": {"limit": "max_results", "max_count": "max_results", "count": "max_results"},
}


def normalise_arguments(tool_name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Canonical arguments for ``tool_name``: aliases mapped, types coerced, defaults filled
    (None-valued ones left out), ranges clamped. Unknown tools/arguments raise ValueError."""
    if tool_name not in PARAMS:
        raise ValueError(f"unknown tool {tool_name!r}; tools: {', '.join(PARAMS)}")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ValueError(f"{tool_name} arguments must be a JSON object")
    params = PARAMS[tool_name]
    aliases = {**_COMMON_ALIASES, **_TOOL_ALIASES.get(tool_name, {})}
    named: dict[str, Any] = {}
    unknown = []
    for key, value in arguments.items():
        name = key if key in params else aliases.get(str(key).lower(), key)
        if name not in params:
            unknown.append(str(key))
            continue
        if value is None:
            continue
        if name in named and named[name] != value:
            raise ValueError(f"{tool_name}: {name!r} is given twice with different values")
        named[name] = value
    if unknown:
        expected = ", ".join(params) or "none"
        raise ValueError(
            f"{tool_name}: unknown argument(s) {', '.join(sorted(unknown))}; expected: {expected}"
        )
    result: dict[str, Any] = {}
    for name, param in params.items():
        if name not in named:
            if param.required:
                raise ValueError(f"{tool_name}: argument {name!r} is required")
            if param.default is not None:
                result[name] = param.default
            continue
        result[name] = _coerce(tool_name, name, param, named[name])
    end_line = result.get("end_line")
    if tool_name == "read" and end_line is not None and end_line < result["start_line"]:
        raise ValueError(f"read: end_line {end_line} is before start_line {result['start_line']}")
    return result


def _coerce(tool: str, name: str, param: Param, value: Any) -> Any:
    where = f"{tool}.{name}"
    if param.kind is int:
        if isinstance(value, bool):
            raise ValueError(f"{where} must be an integer, not a boolean")
        whole_float = isinstance(value, float) and value.is_integer()
        if whole_float or (isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,9}\s*", value)):
            value = int(value)
        if not isinstance(value, int):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        if param.minimum is not None and value < param.minimum:
            raise ValueError(f"{where} must be at least {param.minimum}, got {value}")
        if param.maximum is not None:
            value = min(value, param.maximum)
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and name == "rev":
        value = str(value)  # a short sha that happens to be all digits
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__}")
    if param.max_chars is not None and len(value) > param.max_chars:
        raise ValueError(f"{where} is longer than {param.max_chars} characters")
    if name == "path":
        stripped = value.strip()
        value = posixpath.normpath(stripped) if stripped else "."
    elif name == "pattern" and not value:
        raise ValueError(f"{where} must not be empty")
    return value
