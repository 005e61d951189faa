"""Which project a command acts on: the one named, else the nearest one around the cwd."""

from __future__ import annotations

from pathlib import Path

PROJECT_MARKERS = (".codex-oss", ".git")


def find_project_root(explicit: Path | None = None, start: Path | None = None) -> Path:
    """``explicit``, else the nearest ancestor of ``start`` (cwd) with ``.codex-oss``/``.git``."""
    if explicit is not None:
        return explicit.resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return here
