"""What the tools are: their classes, parameters, JSON-schema specs and mistake reason codes.

Pure data, no I/O: the runner offers :data:`TOOL_SPECS` to the model, the toolbox gates calls
by :data:`TOOL_CLASSES` and :func:`~runtime.tools.arguments.normalise_arguments` checks calls
against :data:`PARAMS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.mission import ToolClass
from runtime.tools.caps import MAX_CONTEXT_LINES, MAX_GIT_LOG, MAX_PATTERN_CHARS

__all__ = ["MISTAKE_REASON_CODES", "PARAMS", "TOOL_CLASSES", "TOOL_SPECS", "Param"]

TOOL_CLASSES: dict[str, ToolClass] = {
    "read": ToolClass.READ,
    "grep": ToolClass.SEARCH,
    "ls": ToolClass.LIST,
    "git_status": ToolClass.GIT,
    "git_log": ToolClass.GIT,
    "git_show_stat": ToolClass.GIT,
    "git_diff_stat": ToolClass.GIT,
}

# Denials that are a model's honest slip (a wrong name, a bad regex), not a reach for
# something forbidden; the scope denials are policy.BLOCKED_REASON_CODES.
MISTAKE_REASON_CODES = frozenset(
    {
        "not_found",
        "invalid_arguments",
        "unknown_tool",
        "is_a_directory",
        "line_out_of_range",
        "binary_file",
        "not_a_file",
        "file_too_large",
        "invalid_pattern",
        "invalid_rev",
        "unknown_rev",
        "duplicate_action",
    }
)


@dataclass(frozen=True)
class Param:
    """One tool parameter: its type, default and bounds."""

    kind: type
    default: Any = None
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None  # values above it are clamped, not refused
    max_chars: int | None = None
    description: str = ""


_PATH_DOC = "File or directory, relative to the project root."
PARAMS: dict[str, dict[str, Param]] = {
    "read": {
        "path": Param(str, required=True, max_chars=1024, description=_PATH_DOC),
        "start_line": Param(int, 1, minimum=1, description="First line (1-based)."),
        "end_line": Param(int, None, minimum=1, description="Last line, inclusive."),
    },
    "grep": {
        "pattern": Param(
            str, required=True, max_chars=MAX_PATTERN_CHARS, description="Python regex."
        ),
        "path": Param(str, ".", max_chars=1024, description=_PATH_DOC),
        "glob": Param(str, None, max_chars=256, description="Only files matching, e.g. *.py."),
        "max_results": Param(int, 20, minimum=1, maximum=200, description="Most hits shown."),
        "context_lines": Param(
            int, 0, minimum=0, maximum=MAX_CONTEXT_LINES, description="Lines around each hit."
        ),
    },
    "ls": {"path": Param(str, ".", max_chars=1024, description=_PATH_DOC)},
    "git_status": {},
    "git_log": {
        "limit": Param(int, 10, minimum=1, maximum=MAX_GIT_LOG, description="Commits shown."),
    },
    "git_show_stat": {
        "rev": Param(str, "HEAD", max_chars=200, description="Commit: sha, branch or HEAD~n."),
    },
    "git_diff_stat": {
        "path": Param(str, ".", max_chars=1024, description=_PATH_DOC),
    },
}

_DESCRIPTIONS: dict[str, str] = {
    "read": "Read lines of a text file; output lines are prefixed with their line number.",
    "grep": (
        "Search files for a regex; output lists path:line:text for each hit. Skips binaries, "
        "virtualenvs, node_modules and caches unless path points inside them."
    ),
    "ls": "List a directory: sub-directories end with '/', files show their size.",
    "git_status": "Branch and changed/untracked files (git status).",
    "git_log": "Recent commits: full sha, date, author and subject.",
    "git_show_stat": "One commit's header and per-file insertions/deletions.",
    "git_diff_stat": "Uncommitted changes against HEAD: per-file insertions/deletions.",
}


def _spec(tool: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, param in PARAMS[tool].items():
        schema: dict[str, Any] = {"type": "integer" if param.kind is int else "string"}
        if param.minimum is not None:
            schema["minimum"] = param.minimum
        if param.max_chars is not None:
            schema["maxLength"] = param.max_chars
        schema["description"] = param.description
        properties[name] = schema
    return {
        "description": _DESCRIPTIONS[tool],
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": [n for n, p in PARAMS[tool].items() if p.required],
            "additionalProperties": False,
        },
    }


TOOL_SPECS: dict[str, dict[str, Any]] = {tool: _spec(tool) for tool in PARAMS}
