"""Source hashes per code tree, so a claim knows the code it was proven on.

The hashing itself is ``bridge.source_hash.source_hash`` (the one implementation, also shown on
``/health``), applied to one tree at a time: a claim that depends only on ``runtime/`` is not
made stale by an edit in ``bridge/``. Data files a proof relies on (snapshots, canaries) are
hashed file by file in the claim artifact's ``proof_files``. Only the standard library and
that module are imported, so ``codex-oss claim-status`` stays fast.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from bridge.source_hash import source_hash

# The trees whose code a claim can depend on (DESIGN.md: the claim artifact's source hash).
DEFAULT_TREES: tuple[str, ...] = ("bridge", "runtime", "pytest_opencode_bridge", "proof_packs")


def tree_hashes(root: Path, trees: Iterable[str] = DEFAULT_TREES) -> dict[str, str]:
    """``{tree: "sha256:..."}`` for each named tree (a folder relative to ``root``).

    A tree that does not exist hashes like an empty one, so creating it later is a change.
    """
    return {tree: source_hash(root, (tree,)) for tree in sorted(set(trees))}


def combined_hash(hashes: Mapping[str, str], trees: Iterable[str] | None = None) -> str:
    """One digest over the given trees' digests (all of ``hashes`` when ``trees`` is None)."""
    names = sorted(set(hashes) if trees is None else set(trees))
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}={hashes.get(name, 'absent')}\n".encode())
    return "sha256:" + digest.hexdigest()


def git_commit(root: Path) -> str | None:
    """The checked-out commit of the repository at ``root``, or None outside a repository."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None
