"""The ``ls`` tool: one directory's entries the mission may see, with sizes."""

from __future__ import annotations

import os
from typing import Any

from runtime.tools.caps import MAX_LS_ENTRIES
from runtime.tools.context import ToolContext
from runtime.tools.files import join
from runtime.tools.output import Output, ToolRefused

__all__ = ["ls"]


def ls(context: ToolContext, args: dict[str, Any], cap: int) -> Output:
    """Entries of directory ``path`` (or one file's size); hidden ones are only counted."""
    target = context.policy.resolve(args["path"], allow_scope_ancestor=True)
    if not target.absolute.is_dir():
        size = target.absolute.stat().st_size
        return Output(f"{target.relative}  ({size} bytes)\n", path=target.relative)
    lines: list[str] = []
    hidden = 0
    try:
        entries = sorted(os.scandir(target.absolute), key=lambda e: e.name)
    except OSError as exc:
        raise ToolRefused(
            "unreadable", f"{target.relative!r} cannot be listed ({exc.strerror})."
        ) from None
    for entry in entries:
        child = join(target.relative, entry.name)
        if not context.policy.visible(child):
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
    return Output("\n".join(lines) + "\n", path=target.relative)
