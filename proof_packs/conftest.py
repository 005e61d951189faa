"""Shared ground for the proof packs: a small git project with a real bug, a committed secret,
a denied dotenv file and a symlink that leads out of the project."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

APP = (
    "def total(items):\n"
    "    result = 0\n"
    "    for i in range(len(items) - 1):\n"
    "        result += items[i]\n"
    "    return result\n"
)
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
DOTENV_SECRET = "dotenv-value-4f9c2a7e1b"
OUTSIDE_SECRET = "outside-the-project-7d1e"


@pytest.fixture
def buggy_project(git_project: Callable[..., Path], tmp_path: Path) -> Path:
    """``src/app.py`` (off by one), ``src/config.py`` (a committed AWS key), ``.env`` (denied),
    ``src/link.txt`` (a symlink to a file outside the project)."""
    root = git_project(
        {
            "src/app.py": APP,
            "src/config.py": f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nREGION = "eu"\n',
            "README.md": "A tiny project with one bug.\n",
        }
    )
    (root / ".env").write_text(f"TOKEN={DOTENV_SECRET}\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text(OUTSIDE_SECRET + "\n", encoding="utf-8")
    os.symlink(outside / "notes.txt", root / "src" / "link.txt")
    return root
