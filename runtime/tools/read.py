"""The ``read`` tool: numbered lines of one text file, within the files-inspected budget.

:func:`line_window` (which lines fit in the cap, and the note saying where to continue) is
pure; :func:`read` does the scope check and the file access through its context.
"""

from __future__ import annotations

from typing import Any

from runtime.redact import MARKER_PREFIX
from runtime.tools.caps import DEFAULT_READ_LINES, MAX_LINE_CHARS, MAX_READ_FILE_BYTES
from runtime.tools.context import ToolContext
from runtime.tools.files import read_regular_file, split_lines
from runtime.tools.output import Output, ToolRefused

__all__ = ["line_window", "read"]


def read(context: ToolContext, args: dict[str, Any], cap: int) -> Output:
    """Lines ``start_line``..``end_line`` of ``path`` (a window of the file if no end)."""
    target = context.policy.resolve(args["path"])
    if target.absolute.is_dir():
        raise ToolRefused(
            "is_a_directory", f"{target.relative!r} is a directory; use ls to list it."
        )
    inspected = context.inspected
    if target.relative not in inspected and len(inspected) >= context.max_files_to_inspect:
        raise ToolRefused(
            "budget_exhausted",
            f"The mission may inspect at most {context.max_files_to_inspect} files and has; "
            f"{target.relative!r} would be one more. Re-read a file already inspected or "
            "write your report.",
        )
    raw, key = read_regular_file(target.absolute, target.relative, MAX_READ_FILE_BYTES)
    lines = split_lines(context.files.redacted(raw, key))
    inspected.setdefault(target.relative, None)
    if not lines:
        return Output("(empty file)", path=target.relative)
    start = args["start_line"]
    if start > len(lines):
        raise ToolRefused(
            "line_out_of_range",
            f"{target.relative!r} has {len(lines)} lines; start_line {start} is past the end.",
        )
    explicit_end = args.get("end_line")
    wanted_end = explicit_end or start + DEFAULT_READ_LINES - 1
    body, last, truncated = line_window(
        lines, start, wanted_end, cap, always_note=explicit_end is None
    )
    return Output(
        body,
        path=target.relative,
        start_line=start,
        end_line=last,
        truncated=truncated,
        redactions=body.count(MARKER_PREFIX),
        redacted=True,
    )


def line_window(
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
    for number, line in enumerate(lines[start - 1 : end], start):
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + " [line cut]"
        entry = f"{number}\t{line}\n"
        used += len(entry) if entry.isascii() else len(entry.encode("utf-8"))
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
        if (len(body) if body.isascii() else len(body.encode("utf-8"))) <= cap:
            return body, last, truncated
        if len(chunks) == 1:
            break
        chunks.pop()
    # One line that does not fit: keep its head, marked, so the range stays honest.
    if cap - len(note.encode("utf-8")) < 32:
        note = ""  # a cap too small for the note: the truncated flag still says so
    room = max(0, cap - len(note.encode("utf-8")) - len(" [line cut]\n"))
    head = chunks[0].encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip("\n")
    return head + " [line cut]\n" + note, last, truncated
