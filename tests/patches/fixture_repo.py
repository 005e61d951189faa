"""The fixture project for patch tests: a real git repository with a real bug, and a
byte-level snapshot of everything a patch step must leave alone."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_opencode_bridge.harness import make_git_project
from runtime.canonical import sha256_hex
from runtime.mission import MissionV1, Tier, compile_mission, template

BUGGY = '''"""Small statistics helpers."""


def moving_sum(values, window):
    """The sum of every run of ``window`` consecutive values."""
    return [sum(values[i : i + window]) for i in range(len(values) - window)]
'''
TESTS = """from calc.stats import moving_sum


def test_moving_sum_covers_every_window():
    assert moving_sum([1, 2, 3, 4], 2) == [3, 5, 7]


def test_moving_sum_of_one_window():
    assert moving_sum([5, 6], 2) == [11]
"""
FIX_OLD = "range(len(values) - window)"
FIX_NEW = "range(len(values) - window + 1)"
# The fixture's verification command. The two plugins blocked here are this venv's slowest
# to import (hypothesis, the bridge's own); the fixture's tests need neither.
PYTEST = [
    sys.executable,
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:opencode_bridge",
    "tests",
]

FIXTURE_FILES = {
    ".gitignore": ".codex-oss/\n__pycache__/\n",
    "README.md": "# calc\n\nTiny helpers with a known bug.\n",
    "calc/__init__.py": "",
    "calc/stats.py": BUGGY,
    "tests/__init__.py": "",
    "tests/test_stats.py": TESTS,
    "deploy/release.py": "VERSION = '1.0'\n",
    "docs/notes.md": "notes\n",
}


def make_fixture_repo(root: Path) -> Path:
    """A git repository at ``root`` holding FIXTURE_FILES in one commit."""
    return make_git_project(root, FIXTURE_FILES)


def workspace_snapshot(root: Path) -> dict[str, Any]:
    """Everything the patch step must not change: files, status, index, HEAD (bytes)."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative.split("/")[0] in (".git", ".codex-oss") or not path.is_file():
            continue
        files[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    git_dir = root / ".git"
    # The index first: --no-optional-locks keeps `git status` from refreshing it.
    index = sha256_hex((git_dir / "index").read_bytes())
    status = subprocess.run(
        ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, check=True
    ).stdout
    return {
        "files": files,
        "index": index,
        "status": status,
        "head": head,
        "head_ref": (git_dir / "HEAD").read_bytes(),
    }


def mission_of(tier: Tier, mission_id: str = "fix-moving-sum", **fields: Any) -> MissionV1:
    """A compiled mission over the fixture project."""
    fields.setdefault("owned_paths", ["calc"])
    if tier in (Tier.A5, Tier.A6):
        fields.setdefault("verification", {"commands": [PYTEST], "timeout_seconds": 60})
    data = template(tier, "Fix the off-by-one in calc.stats.moving_sum", mission_id, **fields)
    return compile_mission(data).mission


def good_intent(**extra: Any) -> dict[str, Any]:
    """The intent that fixes the fixture's bug."""
    return {
        "edits": [
            {
                "path": "calc/stats.py",
                "operation": "replace_exact",
                "old_text": FIX_OLD,
                "new_text": FIX_NEW,
                "expected_sha256": sha256_hex(BUGGY),
            }
        ],
        "rationale": "range() stops one window early, so the last window is never summed.",
        **extra,
    }
