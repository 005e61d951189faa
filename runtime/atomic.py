"""Atomic file writing, shared by the runtime's projections and the claim artifacts.

Only the standard library is imported, so ``codex-oss claim-status`` (which must stay fast)
can use it without loading the runtime's models.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) so that readers see the old file or the new one, never a mix.

    A temporary file in the same folder is written and renamed over ``path``; on any failure
    it is removed and the old file is left as it was. ``durable``: the file and the rename
    are flushed to disk before this returns; without it (a cache of the event log, rebuilt
    from it after a power cut) the file may be stale or missing after one.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # os-level calls: open() adds a buffer, an fstat and a tty check, which cost more
        # than the write itself for a small file.
        try:
            fd = os.open(temporary, _NEW_FILE, 0o644)
        except FileNotFoundError:  # a new folder: made here, not checked before every write
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, _NEW_FILE, 0o644)
        try:
            write_all(fd, text.encode("utf-8"))
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    if durable:
        fsync_dir(path.parent)  # the rename itself must reach the disk too


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (a new or renamed file) to disk, where the system allows it."""
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (os.write may write less than it was given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
