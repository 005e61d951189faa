"""The project's local bridge key: generated once by ``codex-oss install``, kept 0600.

Codex reads it through the provider's auth command (``codex-oss print-bridge-key``), so no key
has to live in the user's shell; the bridge accepts it as ``PROXY_API_KEY`` when that variable
is unset and the project has this file. A bridge started before ``install`` makes the file
itself (:func:`ensure_bridge_key`), so it never serves a request that carries no key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BRIDGE_KEY_FILE = Path(".codex-oss/env/bridge.key")
KEY_PREFIX = "cob-"  # recognisable in logs and by secret scanners, never a real upstream key


def generate_bridge_key() -> str:
    """A fresh random key (256 bits, URL-safe, no characters a header or TOML would mangle)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def bridge_key_path(project: Path) -> Path:
    """Where ``project`` keeps its bridge key."""
    return project / BRIDGE_KEY_FILE


def read_bridge_key(project: Path) -> str | None:
    """The bridge key of ``project``, or None when it has none (or the file is empty)."""
    try:
        text = bridge_key_path(project).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    key = text.strip()
    return key or None


def find_bridge_key(start: Path) -> Path | None:
    """The bridge key file of the nearest project at or above ``start``, if any.

    Codex runs the provider's auth command in its own working directory, so one user-level
    provider block serves every installed project: the key is the one of the project Codex
    was started in.
    """
    here = start.resolve()
    for candidate in (here, *here.parents):
        path = bridge_key_path(candidate)
        if path.is_file():
            return path
    return None


def ensure_bridge_key(project: Path) -> str:
    """``project``'s bridge key, generated (0600, in a 0700 folder) when it has none yet."""
    existing = read_bridge_key(project)
    if existing:
        return existing
    path = bridge_key_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    key = generate_bridge_key()
    try:  # O_EXCL: of two bridges starting at once, one writes and the other reads its key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_bridge_key(project) or key
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key
