"""A run's blobs: texts stored once under the run's folder, named by their sha256.

An event names a blob by its tagged hash (``sha256:<hex>``) and the blob is written, atomically,
before that event is appended, so a log never names a blob that is not on disk. A blob is
read back only when its bytes still hash to its name; anything else is as good as missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from runtime.atomic import atomic_write_text, fsync_dir
from runtime.canonical import tagged_sha256
from runtime.eventlog import run_log_path

BLOBS_DIR = "blobs"
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


def blob_dir(project_root: Path, run_id: str) -> Path:
    """``<project>/.codex-oss/runs/<run_id>/blobs``."""
    return run_log_path(project_root, run_id).parent / BLOBS_DIR


def write_blob(folder: Path, text: str) -> str:
    """Store ``text`` in ``folder`` (once) and return its tagged hash."""
    digest = tagged_sha256(text)
    path = folder / digest.removeprefix("sha256:")
    if not path.is_file():
        new_folder = not folder.is_dir()
        atomic_write_text(path, text)
        if new_folder:  # the folder's own entry in the run's folder must survive a crash too
            fsync_dir(folder.parent)
    return digest


def read_blobs(folder: Path, digests: Iterable[str | None]) -> dict[str, str]:
    """The blobs of ``digests`` that ``folder`` holds intact, by tagged hash."""
    found = {}
    for digest in digests:
        match = _DIGEST.match(digest or "")
        if match is None:
            continue
        try:
            data = (folder / match.group(1)).read_bytes()
        except OSError:
            continue
        if tagged_sha256(data) == digest:
            found[digest] = data.decode("utf-8")
    return found
