"""The project toolbox: the only code that reads the project on a mission's behalf.

:class:`ProjectToolBox` runs one tool call at a time and answers with an event payload: a
:class:`~runtime.events.ToolObserved` holding redacted, capped output, or a
:class:`~runtime.events.ToolCallDenied` with a reason code and a plain message. It never
raises for a model's mistake. Every path goes through :class:`~runtime.policy.ScopePolicy`
before a byte is read; listings and searches silently leave out what the policy hides.

Budgets it enforces: bytes per observation and per mission, distinct files read, grep results,
and repeated calls (served from the cache up to ``max_duplicate_actions`` times, then denied).
The tool-call count and the clock are the loop's to enforce.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from runtime.canonical import canonical_json
from runtime.events import ToolCallDenied, ToolObserved
from runtime.mission import MissionV1, ToolClass
from runtime.policy import DEFAULT_CRITICAL_ROOTS, ScopeDenied, ScopePolicy
from runtime.redact import MARKER_PREFIX, Redactor

__all__ = [
    "MISTAKE_REASON_CODES",
    "TOOL_CLASSES",
    "TOOL_SPECS",
    "ProjectToolBox",
    "SearchPattern",
    "ToolRefused",
    "compile_search_pattern",
    "normalise_arguments",
]

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

DEFAULT_READ_LINES = 1000
MAX_READ_FILE_BYTES = 4 * 1024 * 1024
MAX_LINE_CHARS = 2000
MAX_PATTERN_CHARS = 256
MAX_GREP_FILE_BYTES = 1024 * 1024
MAX_GREP_FILES = 5000
MAX_GREP_SCAN_BYTES = 64 * 1024 * 1024
GREP_DEADLINE_SECONDS = 5.0
MAX_CONTEXT_LINES = 5
MAX_LS_ENTRIES = 500
MAX_GIT_LOG = 50
MAX_STATUS_ENTRIES = 500
BINARY_SNIFF_BYTES = 8192
# Directories a search walks past (as ripgrep would): environments, dependencies, caches.
# Searching inside one by naming it as the path still works.
GREP_SKIPPED_DIRS = frozenset(
    {
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
    }
)
# Below this many bytes of mission budget nothing useful fits: the call is refused instead.
MIN_OBSERVATION_BYTES = 128


@dataclass(frozen=True)
class _Param:
    kind: type
    default: Any = None
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None  # values above it are clamped, not refused
    max_chars: int | None = None
    description: str = ""


_PATH_DOC = "File or directory, relative to the project root."
_PARAMS: dict[str, dict[str, _Param]] = {
    "read": {
        "path": _Param(str, required=True, max_chars=1024, description=_PATH_DOC),
        "start_line": _Param(int, 1, minimum=1, description="First line (1-based)."),
        "end_line": _Param(int, None, minimum=1, description="Last line, inclusive."),
    },
    "grep": {
        "pattern": _Param(
            str, required=True, max_chars=MAX_PATTERN_CHARS, description="Python regex."
        ),
        "path": _Param(str, ".", max_chars=1024, description=_PATH_DOC),
        "glob": _Param(str, None, max_chars=256, description="Only files matching, e.g. *.py."),
        "max_results": _Param(int, 20, minimum=1, maximum=200, description="Most hits shown."),
        "context_lines": _Param(
            int, 0, minimum=0, maximum=MAX_CONTEXT_LINES, description="Lines around each hit."
        ),
    },
    "ls": {"path": _Param(str, ".", max_chars=1024, description=_PATH_DOC)},
    "git_status": {},
    "git_log": {
        "limit": _Param(int, 10, minimum=1, maximum=MAX_GIT_LOG, description="Commits shown."),
    },
    "git_show_stat": {
        "rev": _Param(str, "HEAD", max_chars=200, description="Commit: sha, branch or HEAD~n."),
    },
    "git_diff_stat": {
        "path": _Param(str, ".", max_chars=1024, description=_PATH_DOC),
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


def _spec(tool: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, param in _PARAMS[tool].items():
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
            "required": [n for n, p in _PARAMS[tool].items() if p.required],
            "additionalProperties": False,
        },
    }


TOOL_SPECS: dict[str, dict[str, Any]] = {tool: _spec(tool) for tool in _PARAMS}


def normalise_arguments(tool_name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Canonical arguments for ``tool_name``: aliases mapped, types coerced, defaults filled
    (None-valued ones left out), ranges clamped. Unknown tools/arguments raise ValueError."""
    if tool_name not in _PARAMS:
        raise ValueError(f"unknown tool {tool_name!r}; tools: {', '.join(_PARAMS)}")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ValueError(f"{tool_name} arguments must be a JSON object")
    params = _PARAMS[tool_name]
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


def _coerce(tool: str, name: str, param: _Param, value: Any) -> Any:
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


class ToolRefused(Exception):
    """A tool call refused for a reason other than scope; same shape as ScopeDenied."""

    def __init__(self, reason_code: str, message: str):
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class _Output:
    text: str
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    truncated: bool = False
    redactions: int = 0  # secrets already replaced while producing ``text``
    # True when ``text`` is final: redacted and within the cap (a read's line range depends on
    # its exact content, so it must not be redacted or cut again).
    redacted: bool = False


class ProjectToolBox:
    """Runs the mission's tool calls against one project, within its scope and budgets."""

    def __init__(
        self,
        project_root: Path,
        mission: MissionV1,
        redactor: Redactor,
        *,
        critical_roots: Sequence[str] = DEFAULT_CRITICAL_ROOTS,
        max_observation_bytes_per_call: int = 16_384,
        max_grep_results: int = 50,
    ):
        self.policy = ScopePolicy(project_root, mission, critical_roots)
        self.project_root = self.policy.project_root
        self.mission = mission
        self.redactor = redactor
        self.max_observation_bytes_per_call = max_observation_bytes_per_call
        self.max_grep_results = max_grep_results
        self.grep_deadline_seconds = GREP_DEADLINE_SECONDS
        self.max_total_observation_bytes = _budget(mission.max_total_observation_bytes)
        self.max_files_to_inspect = _budget(mission.max_files_to_inspect)
        self.max_duplicate_actions = (
            mission.max_duplicate_actions if mission.max_duplicate_actions is not None else 2
        )
        self.observation_bytes = 0
        self._inspected: dict[str, None] = {}
        self._cache: dict[str, ToolObserved] = {}
        self._repeats: dict[str, int] = {}
        self._file_cache: dict[tuple[str, int, int], str] = {}
        self._git: _GitView | None = None
        self._handlers: dict[str, Callable[[dict[str, Any], int], _Output]] = {
            "read": self._read,
            "grep": self._grep,
            "ls": self._ls,
            "git_status": self._git_status,
            "git_log": self._git_log,
            "git_show_stat": self._git_show_stat,
            "git_diff_stat": self._git_diff_stat,
        }

    @property
    def files_inspected(self) -> int:
        """Distinct files whose content a ``read`` returned."""
        return len(self._inspected)

    @property
    def inspected_paths(self) -> tuple[str, ...]:
        """Project-relative paths read so far, in the order first read."""
        return tuple(self._inspected)

    def run(self, call_id: int, tool_name: str, arguments: dict) -> ToolObserved | ToolCallDenied:
        """Run one tool call; a refusal of any kind comes back as ToolCallDenied."""
        shown, _ = self.redactor.redact_obj(arguments if isinstance(arguments, dict) else {})

        def deny(reason_code: str, message: str) -> ToolCallDenied:
            text = self.redactor.redact(message).text
            return ToolCallDenied(
                call_id=call_id,
                tool_name=str(tool_name),
                arguments=shown,
                reason_code=reason_code,
                message=text,
            )

        tool_class = TOOL_CLASSES.get(tool_name)
        if tool_class is None:
            return deny(
                "unknown_tool",
                f"There is no tool {tool_name!r}; use one of: {', '.join(TOOL_CLASSES)}.",
            )
        if tool_class not in self.mission.allowed_tool_classes:
            allowed = ", ".join(c.value for c in self.mission.allowed_tool_classes)
            return deny(
                "tool_class_not_allowed",
                f"{tool_name} is a {tool_class.value} tool and this mission allows only: "
                f"{allowed}.",
            )
        try:
            args = normalise_arguments(tool_name, arguments)
        except ValueError as exc:
            return deny("invalid_arguments", f"{exc}.")
        shown, _ = self.redactor.redact_obj(args)
        key = canonical_json([tool_name, args])
        remaining = self.max_total_observation_bytes - self.observation_bytes

        previous = self._cache.get(key)
        if previous is not None:
            repeats = self._repeats.get(key, 0)
            if repeats >= self.max_duplicate_actions:
                return deny(
                    "duplicate_action",
                    f"This exact {tool_name} call was already made {repeats + 1} times; its "
                    "result is in your earlier observations. Try something else.",
                )
            if previous.output_bytes > remaining:
                return deny("budget_exhausted", self._budget_message())
            self._repeats[key] = repeats + 1
            self.observation_bytes += previous.output_bytes
            return previous.model_copy(update={"call_id": call_id, "cached": True})

        if remaining < MIN_OBSERVATION_BYTES:
            return deny("budget_exhausted", self._budget_message())
        cap = min(self.max_observation_bytes_per_call, remaining)
        try:
            out = self._handlers[tool_name](args, cap)
        except (ScopeDenied, ToolRefused) as exc:
            return deny(exc.reason_code, exc.message)
        # Redact first and cut after, so a cut can never leave half a secret behind.
        if out.redacted:
            text, redactions = out.text, out.redactions
        else:
            redacted = self.redactor.redact(out.text)
            text, redactions = redacted.text, out.redactions + redacted.count
        text, cut = _cap_bytes(text, cap)
        observed = ToolObserved(
            call_id=call_id,
            tool_name=tool_name,
            arguments=shown,
            path=out.path,
            start_line=out.start_line,
            end_line=out.end_line,
            output=text,
            output_bytes=len(text.encode("utf-8")),
            truncated=out.truncated or cut,
            redactions=redactions,
        )
        self.observation_bytes += observed.output_bytes
        self._cache[key] = observed
        return observed

    def _budget_message(self) -> str:
        return (
            f"The mission's observation budget ({self.max_total_observation_bytes} bytes) is "
            "spent; write your report from what you have observed."
        )

    # -- read ------------------------------------------------------------------------------

    def _read(self, args: dict[str, Any], cap: int) -> _Output:
        target = self.policy.resolve(args["path"])
        if target.absolute.is_dir():
            raise ToolRefused(
                "is_a_directory", f"{target.relative!r} is a directory; use ls to list it."
            )
        if target.relative not in self._inspected and self.files_inspected >= (
            self.max_files_to_inspect
        ):
            raise ToolRefused(
                "budget_exhausted",
                f"The mission may inspect at most {self.max_files_to_inspect} files and has; "
                f"{target.relative!r} would be one more. Re-read a file already inspected or "
                "write your report.",
            )
        text = self._redacted_file(target.absolute, target.relative, MAX_READ_FILE_BYTES)
        lines = _split_lines(text)
        self._inspected.setdefault(target.relative, None)
        if not lines:
            return _Output("(empty file)", path=target.relative)
        start = args["start_line"]
        if start > len(lines):
            raise ToolRefused(
                "line_out_of_range",
                f"{target.relative!r} has {len(lines)} lines; start_line {start} is past the end.",
            )
        explicit_end = args.get("end_line")
        wanted_end = explicit_end or start + DEFAULT_READ_LINES - 1
        body, last, truncated = _line_window(
            lines, start, wanted_end, cap, always_note=explicit_end is None
        )
        return _Output(
            body,
            path=target.relative,
            start_line=start,
            end_line=last,
            truncated=truncated,
            redactions=body.count(MARKER_PREFIX),
            redacted=True,
        )

    def _redacted_file(self, absolute: Path, relative: str, limit: int) -> str:
        """The file's text with secrets redacted (whole file, so multi-line blocks are seen)."""
        raw, key = _read_regular_file(absolute, relative, limit)
        cached = self._file_cache.get(key)
        if cached is None:
            cached = self.redactor.redact(raw).text
            if len(self._file_cache) >= 256:
                self._file_cache.clear()  # a bound on memory; misses only cost a re-scan
            self._file_cache[key] = cached
        return cached

    # -- grep ------------------------------------------------------------------------------

    def _grep(self, args: dict[str, Any], cap: int) -> _Output:
        pattern = compile_search_pattern(args["pattern"])
        base = self.policy.resolve(args["path"], allow_scope_ancestor=True)
        limit = min(args["max_results"], self.max_grep_results)
        context = args["context_lines"]
        glob = args.get("glob")
        deadline = time.monotonic() + self.grep_deadline_seconds
        blocks: list[str] = []
        hits = 0
        scanned_files = 0
        scanned_bytes = 0
        stopped = ""
        try:
            for relative, absolute in self._search_files(base.relative, base.absolute):
                if glob and not _glob_match(relative, glob):
                    continue
                if scanned_files >= MAX_GREP_FILES or scanned_bytes >= MAX_GREP_SCAN_BYTES:
                    stopped = "scan limit reached"
                    break
                try:
                    raw, _ = _read_regular_file(absolute, relative, MAX_GREP_FILE_BYTES)
                except ToolRefused:
                    continue  # binary, too large, unreadable: a search skips it quietly
                scanned_files += 1
                scanned_bytes += len(raw)
                if not pattern.may_match(raw, deadline):
                    continue
                # Match on the redacted text, so a pattern cannot probe a secret's value.
                lines = _split_lines(self._redacted_file(absolute, relative, MAX_GREP_FILE_BYTES))
                numbers = [i for i, line in enumerate(lines) if pattern.search_line(line, deadline)]
                if not numbers:
                    continue
                take = numbers[: limit - hits]
                hits += len(take)
                blocks.append(_grep_block(relative, lines, take, context))
                if hits >= limit:
                    stopped = f"stopped at max_results={limit}, there may be more"
                    break
        except TimeoutError:
            stopped = f"time limit of {self.grep_deadline_seconds:g}s reached"
        if not blocks:
            text = f"No matches for {args['pattern']!r} under {base.relative!r}."
        else:
            text = "--\n".join(blocks)
        if stopped:
            text += f"[{hits} hits shown; {stopped}; narrow the pattern, path or glob]\n"
        return _Output(text, truncated=bool(stopped), redactions=text.count(MARKER_PREFIX))

    def _search_files(self, relative: str, absolute: Path) -> Iterator[tuple[str, Path]]:
        """Files under ``relative`` a search may read: in scope, not denied, links checked."""
        if not absolute.is_dir():
            yield relative, absolute
            return
        for dirpath, dirnames, filenames in os.walk(absolute, followlinks=False):
            here = _join(relative, os.path.relpath(dirpath, absolute))
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in GREP_SKIPPED_DIRS
                and self._walkable_dir(_join(here, d), Path(dirpath, d))
            )
            for name in sorted(filenames):
                child = _join(here, name)
                if not self.policy.in_scope(child) or self.policy.is_denied_relative(child):
                    continue
                path = Path(dirpath, name)
                if path.is_symlink():
                    try:
                        target = self.policy.resolve(child)
                    except ScopeDenied:
                        continue
                    path = target.absolute
                yield child, path

    def _walkable_dir(self, relative: str, path: Path) -> bool:
        return not path.is_symlink() and self.policy.visible(relative)

    # -- ls --------------------------------------------------------------------------------

    def _ls(self, args: dict[str, Any], cap: int) -> _Output:
        target = self.policy.resolve(args["path"], allow_scope_ancestor=True)
        if not target.absolute.is_dir():
            size = target.absolute.stat().st_size
            return _Output(f"{target.relative}  ({size} bytes)\n", path=target.relative)
        lines: list[str] = []
        hidden = 0
        try:
            entries = sorted(os.scandir(target.absolute), key=lambda e: e.name)
        except OSError as exc:
            raise ToolRefused(
                "unreadable", f"{target.relative!r} cannot be listed ({exc.strerror})."
            ) from None
        for entry in entries:
            child = _join(target.relative, entry.name)
            if not self.policy.visible(child):
                hidden += 1
                continue
            if len(lines) >= MAX_LS_ENTRIES:
                lines.append(f"[listing stopped at {MAX_LS_ENTRIES} entries]")
                break
            try:
                if entry.is_symlink():
                    lines.append(f"{entry.name}@")
                elif entry.is_dir():
                    lines.append(f"{entry.name}/")
                else:
                    lines.append(f"{entry.name}  ({entry.stat().st_size} bytes)")
            except OSError:
                lines.append(entry.name)
        if not lines:
            lines.append("(empty)")
        if hidden:
            lines.append(f"({hidden} entries hidden by the mission's scope policy)")
        return _Output("\n".join(lines) + "\n", path=target.relative)

    # -- git -------------------------------------------------------------------------------

    def _gitview(self) -> _GitView:
        if self._git is None:
            self._git = _GitView(self.project_root)
        return self._git

    def _git_status(self, args: dict[str, Any], cap: int) -> _Output:
        view = self._gitview()
        branch, entries = view.status()
        lines = [f"## {branch}"]
        hidden = 0
        for code, repo_path in entries:
            relative = view.to_project(repo_path)
            if (
                relative is None
                or not self.policy.visible(relative)
                or not (self.policy.in_scope(relative))
            ):
                hidden += 1
                continue
            if len(lines) > MAX_STATUS_ENTRIES:
                lines.append(f"[stopped at {MAX_STATUS_ENTRIES} entries]")
                break
            lines.append(f"{code} {relative}")
        if len(lines) == 1:
            lines.append("(clean: no changes in scope)")
        if hidden:
            lines.append(f"({hidden} entries outside the mission's scope or policy not shown)")
        return _Output("\n".join(lines) + "\n")

    def _git_log(self, args: dict[str, Any], cap: int) -> _Output:
        commits = self._gitview().log(args["limit"])
        if not commits:
            return _Output("(no commits yet)\n")
        return _Output("\n".join(commits) + "\n")

    def _git_show_stat(self, args: dict[str, Any], cap: int) -> _Output:
        rev = args["rev"]
        _check_rev(rev)
        view = self._gitview()
        header, stats = view.show_stat(rev)
        return _Output(header + self._stat_table(view, stats))

    def _git_diff_stat(self, args: dict[str, Any], cap: int) -> _Output:
        target = self.policy.resolve(args["path"], allow_scope_ancestor=True, must_exist=False)
        view = self._gitview()
        stats = view.diff_stat(target.relative)
        if stats is None:
            return _Output("(no commits yet: nothing to diff against)\n")
        return _Output(
            f"Uncommitted changes under {target.relative!r}:\n" + self._stat_table(view, stats)
        )

    def _stat_table(self, view: _GitView, stats: list[tuple[str, str, str]]) -> str:
        lines = []
        hidden = 0
        for added, deleted, repo_path in stats:
            relative = view.to_project(repo_path)
            if (
                relative is None
                or not self.policy.visible(relative)
                or not (self.policy.in_scope(relative))
            ):
                hidden += 1
                continue
            lines.append(f"{relative} | +{added} -{deleted}")
        if not lines:
            lines.append("(no file changes in scope)")
        else:
            lines.append(f"{len(lines)} files changed")
        if hidden:
            lines.append(f"({hidden} files outside the mission's scope or policy not shown)")
        return "\n".join(lines) + "\n"


# -- git, read-only, through GitPython ------------------------------------------------------

_REV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/~^\-]*$")


def _check_rev(rev: str) -> None:
    if rev.startswith("-"):
        raise ToolRefused(
            "invalid_rev", f"rev {rev!r} starts with '-'; give a commit, branch or HEAD~n."
        )
    if not _REV.match(rev) or ".." in rev:
        raise ToolRefused(
            "invalid_rev",
            f"rev {rev!r} is not a single commit name; give a sha, a branch, a tag or HEAD~n.",
        )


class _GitView:
    """Read-only git queries for the repository holding the project (never writes a lock)."""

    def __init__(self, project_root: Path):
        import git  # GitPython: imported here so a mission without git tools never loads it

        self._git = git
        try:
            self.repo = git.Repo(project_root, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise ToolRefused(
                "not_a_git_repository", "The project is not inside a git repository."
            ) from None
        top = os.path.realpath(self.repo.working_tree_dir or project_root)
        prefix = os.path.relpath(project_root, top)
        self.prefix = "" if prefix == "." else Path(prefix).as_posix() + "/"

    def to_project(self, repo_path: str) -> str | None:
        """A repository-relative path as project-relative, or None if outside the project."""
        if not self.prefix:
            return repo_path
        if repo_path.startswith(self.prefix):
            return repo_path[len(self.prefix) :]
        return None

    def _run(self, *argv: str) -> str:
        try:
            with self.repo.git.custom_environment(GIT_OPTIONAL_LOCKS="0", GIT_PAGER="cat"):
                return self.repo.git.execute(["git", *argv], strip_newline_in_stdout=False)
        except self._git.GitCommandError as exc:
            detail = (exc.stderr or "").strip().splitlines()
            raise ToolRefused(
                "git_error", f"git {argv[0]} failed: {detail[-1] if detail else exc.status}."
            ) from None

    def has_head(self) -> bool:
        try:
            self.repo.head.commit  # noqa: B018 - resolving HEAD is the test
        except ValueError:
            return False
        return True

    def status(self) -> tuple[str, list[tuple[str, str]]]:
        out = self._run("status", "--porcelain=v1", "-z", "--branch", "--no-renames")
        records = out.split("\0")
        branch = records[0].removeprefix("## ") if records and records[0].startswith("##") else "?"
        entries = [(r[:2], r[3:]) for r in records[1:] if len(r) > 3]
        return branch, entries

    def log(self, limit: int) -> list[str]:
        if not self.has_head():
            return []
        lines = []
        for commit in self.repo.iter_commits("HEAD", max_count=limit):
            when = commit.committed_datetime.isoformat(timespec="seconds")
            lines.append(f"{commit.hexsha} {when} {commit.author.name}: {commit.summary}")
        return lines

    def show_stat(self, rev: str) -> tuple[str, list[tuple[str, str, str]]]:
        try:
            commit = self.repo.commit(rev)
        except (self._git.BadName, ValueError, self._git.GitCommandError):
            raise ToolRefused(
                "unknown_rev", f"rev {rev!r} does not name a commit in this repository."
            ) from None
        if commit.parents:
            out = self._run(
                "diff",
                "--numstat",
                "-z",
                "--no-renames",
                "--no-ext-diff",
                "--no-textconv",
                commit.parents[0].hexsha,
                commit.hexsha,
                "--",
            )
        else:
            out = self._run(
                "diff-tree",
                "-r",
                "--root",
                "--numstat",
                "-z",
                "--no-renames",
                "--no-commit-id",
                commit.hexsha,
                "--",
            )
        message = commit.message.strip()
        if len(message) > 2000:
            message = message[:2000] + " [message cut]"
        header = (
            f"commit {commit.hexsha}\n"
            f"Author: {commit.author.name}\n"
            f"Date:   {commit.committed_datetime.isoformat(timespec='seconds')}\n\n"
            + "".join(f"    {line}\n" for line in message.splitlines())
            + "\n"
        )
        return header, _numstat(out)

    def diff_stat(self, relative: str) -> list[tuple[str, str, str]] | None:
        if not self.has_head():
            return None
        pathspec = (
            (self.prefix + relative).rstrip("/")
            if relative != "."
            else (self.prefix.rstrip("/") or ".")
        )
        out = self._run(
            "diff",
            "--numstat",
            "-z",
            "--no-renames",
            "--no-ext-diff",
            "--no-textconv",
            "HEAD",
            "--",
            ":(literal)" + pathspec,
        )
        return _numstat(out)


def _numstat(out: str) -> list[tuple[str, str, str]]:
    """Parse ``--numstat -z`` output (renames off): added, deleted, path per record."""
    rows = []
    for record in out.split("\0"):
        parts = record.strip("\n").split("\t", 2)
        if len(parts) == 3 and parts[2]:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


# -- pure helpers --------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPattern:
    """A grep pattern compiled twice: per line (what grep means) and per file (a prefilter).

    Compiled with the ``regex`` module, whose searches take a timeout: Python's ``re`` cannot be
    interrupted, and a pattern such as ``.*.*.*x`` takes minutes on one long line there.
    """

    text: str
    line: Any
    whole: Any

    def search_line(self, line: str, deadline: float) -> bool:
        """Whether ``line`` matches; TimeoutError once ``deadline`` (monotonic) has passed."""
        return self.line.search(line[:MAX_LINE_CHARS], timeout=_left(deadline)) is not None

    def may_match(self, text: str, deadline: float) -> bool:
        """False only when no line of ``text`` can match (one multi-line scan, fast in C)."""
        return self.whole.search(text, timeout=_left(deadline)) is not None


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def compile_search_pattern(pattern: str) -> SearchPattern:
    """Compile a grep pattern (Python regex syntax) or refuse it with ``invalid_pattern``."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ToolRefused(
            "invalid_pattern", f"The pattern is longer than {MAX_PATTERN_CHARS} characters."
        )
    try:
        line = regex.compile(pattern, regex.VERSION0)
        whole = regex.compile(pattern, regex.VERSION0 | regex.MULTILINE)
    except (regex.error, ValueError, OverflowError) as exc:
        raise ToolRefused(
            "invalid_pattern", f"The pattern {pattern!r} is not a valid Python regex: {exc}."
        ) from None
    return SearchPattern(pattern, line, whole)


def _read_regular_file(
    absolute: Path, relative: str, limit: int
) -> tuple[str, tuple[str, int, int]]:
    """Text of a regular file (no FIFOs, devices or binaries) and a cache key for it."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(absolute, flags)
    except OSError as exc:
        raise ToolRefused(
            "unreadable", f"{relative!r} cannot be opened ({exc.strerror})."
        ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ToolRefused("not_a_file", f"{relative!r} is not a regular file.")
        if info.st_size > limit:
            raise ToolRefused(
                "file_too_large",
                f"{relative!r} is {info.st_size} bytes, above the {limit} byte limit; grep it "
                "for what you need.",
            )
        data = handle.read(limit + 1)
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise ToolRefused("binary_file", f"{relative!r} is a binary file and is not shown.")
    key = (str(absolute), info.st_mtime_ns, info.st_size)
    return data.decode("utf-8", errors="replace"), key


def _line_window(
    lines: list[str], start: int, wanted_end: int, cap: int, *, always_note: bool = False
) -> tuple[str, int, bool]:
    """Numbered lines from ``start`` that fit in ``cap`` bytes with the continuation note.

    Returns the text, the last line number included and whether the window was cut short of
    ``wanted_end``. The note appears when cut short, or (``always_note``) when the file goes
    on. The first line is always included, shortened if even it does not fit.
    """
    end = min(wanted_end, len(lines))
    chunks: list[str] = []
    used = 0
    for number in range(start, end + 1):
        line = lines[number - 1]
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + " [line cut]"
        entry = f"{number}\t{line}\n"
        used += len(entry.encode("utf-8"))
        chunks.append(entry)
        if used > cap:
            break
    while True:
        last = start + len(chunks) - 1
        truncated = last < end
        note = (
            f"[shown lines {start}-{last} of {len(lines)}; continue with read "
            f"start_line={last + 1}]\n"
            if truncated or (always_note and last < len(lines))
            else ""
        )
        body = "".join(chunks) + note
        size = len(body.encode("utf-8"))
        if size <= cap:
            return body, last, truncated
        if len(chunks) > 1:
            chunks.pop()
            continue
        # One line that does not fit: keep its head, marked, so the range stays honest.
        if cap - len(note.encode("utf-8")) < 32:
            note = ""  # a cap too small for the note: the truncated flag still says so
        room = max(0, cap - len(note.encode("utf-8")) - len(" [line cut]\n"))
        head = chunks[0].encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip("\n")
        chunks[0] = head + " [line cut]\n"
        body = chunks[0] + note
        return body, last, truncated


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _grep_block(relative: str, lines: list[str], numbers: list[int], context: int) -> str:
    """``path:N:text`` for hits and ``path-N-text`` for context, grep style."""
    hits = set(numbers)
    shown: list[int] = []
    for index in numbers:
        for near in range(max(0, index - context), min(len(lines), index + context + 1)):
            if not shown or near > shown[-1]:
                shown.append(near)
    out = []
    previous = None
    for index in shown:
        if previous is not None and index != previous + 1:
            out.append("--\n")
        sep = ":" if index in hits else "-"
        line = lines[index]
        if len(line) > 300:
            line = line[:300] + " [line cut]"
        out.append(f"{relative}{sep}{index + 1}{sep}{line}\n")
        previous = index
    return "".join(out)


def _glob_match(relative: str, glob: str) -> bool:
    target = relative if "/" in glob else posixpath.basename(relative)
    return fnmatch.fnmatchcase(target, glob) or (
        glob.startswith("**/") and fnmatch.fnmatchcase(relative, glob[3:])
    )


def _join(base: str, name: str) -> str:
    return posixpath.normpath(posixpath.join(base, Path(name).as_posix()))


def _cap_bytes(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut at a line boundary to at most ``limit`` UTF-8 bytes, with a note."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    note = f"[output cut at {limit} bytes of {len(data)}]\n"
    room = max(0, limit - len(note.encode("utf-8")))
    head = data[:room].decode("utf-8", errors="ignore")
    if "\n" in head:
        head = head[: head.rindex("\n") + 1]
    result = head + note
    if len(result.encode("utf-8")) > limit:  # a budget smaller than the note itself
        result = result.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    return result, True


def _budget(value: int | None) -> int:
    # Uncompiled missions leave budgets None; compile_mission resolves them. Unlimited here.
    return value if value is not None else 1 << 62
