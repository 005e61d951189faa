"""The ``grep`` tool: a regex search over the files the mission may read, with a deadline.

Patterns are compiled with the ``regex`` module (:class:`SearchPattern`), whose searches take a
timeout, so one catastrophic pattern cannot hold the mission. Matching runs on redacted text,
so a pattern cannot probe a secret's value. :func:`compile_search_pattern`,
:func:`grep_block` and :func:`glob_match` are pure; :func:`grep` walks the project.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from runtime.policy import ScopeDenied, ScopePolicy
from runtime.redact import MARKER_PREFIX
from runtime.tools.caps import (
    MAX_GREP_FILE_BYTES,
    MAX_GREP_FILES,
    MAX_GREP_SCAN_BYTES,
    MAX_LINE_CHARS,
    MAX_PATTERN_CHARS,
)
from runtime.tools.context import ToolContext
from runtime.tools.files import join, listable, read_regular_file, split_lines
from runtime.tools.output import Output, ToolRefused

__all__ = ["SearchPattern", "compile_search_pattern", "grep"]

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


def grep(context: ToolContext, args: dict[str, Any], cap: int) -> Output:
    """``path:N:text`` for each hit of ``pattern`` under ``path``, until a limit stops it."""
    pattern = compile_search_pattern(args["pattern"])
    base = context.policy.resolve(args["path"], allow_scope_ancestor=True)
    limit = min(args["max_results"], context.max_grep_results)
    context_lines = args["context_lines"]
    glob = args.get("glob")
    deadline = time.monotonic() + context.grep_deadline_seconds
    blocks: list[str] = []
    hits = 0
    scanned_files = 0
    scanned_bytes = 0
    stopped = ""
    try:
        for relative, absolute in search_files(context.policy, base.relative, base.absolute):
            if glob and not glob_match(relative, glob):
                continue
            if scanned_files >= MAX_GREP_FILES or scanned_bytes >= MAX_GREP_SCAN_BYTES:
                stopped = "scan limit reached"
                break
            try:
                raw, key = read_regular_file(absolute, relative, MAX_GREP_FILE_BYTES)
            except ToolRefused:
                continue  # binary, too large, unreadable: a search skips it quietly
            scanned_files += 1
            scanned_bytes += len(raw)
            if not pattern.may_match(raw, deadline):
                continue
            # Match on the redacted text, so a pattern cannot probe a secret's value.
            lines = split_lines(context.files.redacted(raw, key))
            numbers = [i for i, line in enumerate(lines) if pattern.search_line(line, deadline)]
            if not numbers:
                continue
            take = numbers[: limit - hits]
            hits += len(take)
            blocks.append(grep_block(relative, lines, take, context_lines))
            if hits >= limit:
                stopped = f"stopped at max_results={limit}, there may be more"
                break
    except TimeoutError:
        stopped = f"time limit of {context.grep_deadline_seconds:g}s reached"
    text = "--\n".join(blocks) or f"No matches for {args['pattern']!r} under {base.relative!r}."
    if stopped:
        text += f"[{hits} hits shown; {stopped}; narrow the pattern, path or glob]\n"
    return Output(text, truncated=bool(stopped), redactions=text.count(MARKER_PREFIX))


def search_files(policy: ScopePolicy, relative: str, absolute: Path) -> Iterator[tuple[str, Path]]:
    """Files under ``relative`` a search may read: in scope, not denied, links checked."""
    if not absolute.is_dir():
        yield relative, absolute
        return
    for dirpath, dirnames, filenames in os.walk(absolute, followlinks=False):
        here = join(relative, os.path.relpath(dirpath, absolute))
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in GREP_SKIPPED_DIRS
            and not Path(dirpath, d).is_symlink()
            and policy.visible(join(here, d))
        )
        for name in sorted(filenames):
            child = join(here, name)
            if not listable(policy, child):
                continue
            path = Path(dirpath, name)
            if path.is_symlink():
                try:
                    target = policy.resolve(child)
                except ScopeDenied:
                    continue
                path = target.absolute
            yield child, path


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


def grep_block(relative: str, lines: list[str], numbers: list[int], context: int) -> str:
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


def glob_match(relative: str, glob: str) -> bool:
    """Whether ``relative`` matches ``glob`` (by base name unless the glob holds a '/')."""
    target = relative if "/" in glob else posixpath.basename(relative)
    return fnmatch.fnmatchcase(target, glob) or (
        glob.startswith("**/") and fnmatch.fnmatchcase(relative, glob[3:])
    )
