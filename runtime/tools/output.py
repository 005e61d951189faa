"""What a tool handler hands back to the toolbox: an :class:`Output`, or a :class:`ToolRefused`.

Also :func:`cap_bytes`, the last cut every observation goes through. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Output", "ToolRefused", "cap_bytes"]


class ToolRefused(Exception):
    """A tool call refused for a reason other than scope; same shape as ScopeDenied."""

    def __init__(self, reason_code: str, message: str):
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class Output:
    """A handler's answer, before the toolbox redacts, caps and records it."""

    text: str
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    truncated: bool = False
    redactions: int = 0  # secrets already replaced while producing ``text``
    # True when ``text`` is final: redacted and within the cap (a read's line range depends on
    # its exact content, so it must not be redacted or cut again).
    redacted: bool = False


def cap_bytes(text: str, limit: int) -> tuple[str, bool]:
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
