"""Atomic file writing, shared by the runtime's projections and the claim artifacts.

Only the standard library is imported, so ``codex-oss claim-status`` (which must stay fast)
can use it without loading the runtime's models.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def atomic_write_text(path: Path, text: str, *, sync_folder: bool = True) -> None:
    """Write ``text`` (UTF-8) so that readers see the old file or the new one, never a mix.

    A temporary file in the same folder is written, flushed to disk and renamed over ``path``;
    on any failure it is removed and the old file is left as it was. Without ``sync_folder``
    the caller flushes the folder (:func:`fsync_dir`) once after writing several files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
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
    if sync_folder:
        fsync_dir(path.parent)  # the rename itself must reach the disk too


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (a new or renamed file) to disk, where the system allows it."""
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
