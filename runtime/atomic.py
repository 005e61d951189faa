"""Atomic file writing, shared by the runtime's projections and the claim artifacts.

Only the standard library is imported, so ``codex-oss claim-status`` (which must stay fast)
can use it without loading the runtime's models.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    atomic_write_texts(path.parent, {path.name: text})


def atomic_write_texts(directory: Path, texts: dict[str, str]) -> None:
    """Write each of ``texts`` (file name to text) in ``directory`` atomically.

    Each goes to a temporary file in the folder, flushed to disk and renamed over its name;
    on any failure that temporary file is removed and the old file is left as it was. The
    folder is flushed once, after the last rename.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        path = directory / name
        temporary = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
    fsync_dir(directory)  # the renames themselves must reach the disk too


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (a new or renamed file) to disk, where the system allows it."""
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
