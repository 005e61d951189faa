"""The source hash of the code on disk and the installed version: what the running server
reports on /health and what ``doctor`` compares them with, so a server left running on old code
is noticed."""

from __future__ import annotations

import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["PACKAGES", "package_version", "source_hash"]

PACKAGES = ("bridge", "runtime")
_ROOT = Path(__file__).resolve().parent.parent


def source_hash(root: Path = _ROOT, packages: tuple[str, ...] = PACKAGES) -> str:
    """``sha256:`` over the relative paths and bytes of every ``.py`` file of ``packages``."""
    digest = hashlib.sha256()
    for package in packages:
        base = root / package
        for path in sorted(base.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root).as_posix()
            digest.update(rel.encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def package_version() -> str:
    """The installed distribution's version (``0+unknown`` when not installed)."""
    try:
        return version("opencode-bridge")
    except PackageNotFoundError:
        return "0+unknown"
