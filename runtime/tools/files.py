"""Reading project files for the tools: regular text files only, redacted once and cached.

:func:`read_regular_file` is the only place a tool opens a project file (it refuses FIFOs,
devices, binaries and oversized files); :class:`RedactedFiles` redacts a file's whole text once
per version. The path helpers below are pure.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from runtime.policy import ScopePolicy
from runtime.redact import Redactor
from runtime.tools.caps import BINARY_SNIFF_BYTES
from runtime.tools.output import ToolRefused

__all__ = ["RedactedFiles", "join", "listable", "read_regular_file", "split_lines"]

# Versions of files kept redacted; a bound on memory, since a miss only costs a re-scan.
_CACHED_FILES = 256


class RedactedFiles:
    """Files' text with secrets redacted, cached by (path, mtime, size)."""

    def __init__(self, redactor: Redactor):
        self.redactor = redactor
        self._cache: dict[tuple[str, int, int], str] = {}

    def redacted(self, raw: str, key: tuple[str, int, int]) -> str:
        """``raw`` (a file's text as :func:`read_regular_file` returned it) redacted, cached:
        the whole file, so multi-line blocks are seen."""
        cached = self._cache.get(key)
        if cached is None:
            cached = self.redactor.redact(raw).text
            if len(self._cache) >= _CACHED_FILES:
                self._cache.clear()
            self._cache[key] = cached
        return cached


def read_regular_file(
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
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ToolRefused("not_a_file", f"{relative!r} is not a regular file.")
        if info.st_size > limit:
            raise ToolRefused(
                "file_too_large",
                f"{relative!r} is {info.st_size} bytes, above the {limit} byte limit; grep it "
                "for what you need.",
            )
        # Unbuffered (a file object costs more), to fstat's size and a byte (0 may be unknown).
        data, want = b"", (info.st_size or limit) + 1
        while len(data) < want and (chunk := os.read(fd, want - len(data))):
            data += chunk
    finally:
        os.close(fd)
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise ToolRefused("binary_file", f"{relative!r} is a binary file and is not shown.")
    key = (str(absolute), info.st_mtime_ns, info.st_size)
    return data.decode("utf-8", errors="replace"), key


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` without their endings (``\\r\\n`` too); no empty last line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines] if "\r" in text else lines


def join(base: str, name: str) -> str:
    """Project-relative ``base`` joined with a file-system ``name``, normalised."""
    return posixpath.normpath(posixpath.join(base, Path(name).as_posix()))


def listable(policy: ScopePolicy, relative: str) -> bool:
    """Whether a search or a git listing may name ``relative``: in scope, not denied by name."""
    return policy.in_scope(relative) and policy.is_denied_relative(relative) is None
