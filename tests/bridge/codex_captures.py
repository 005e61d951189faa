"""The real Codex 0.169.0 request captures, kept as fixtures under tests/fixtures/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CAPTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "codex-0.169.0"
CAPTURE_NAMES = (
    "exec_command_turn1.full.json",
    "tool_roundtrip_turn2.trimmed.json",
    "reasoning_roundtrip_turn2.full.json",
    "apply_patch_custom_tool_turn2.trimmed.json",
    "parent_spawn_turn1.full.json",
    "subagent_child_turn1.full.json",
)


def capture_body(name: str) -> dict[str, Any]:
    """The request body of one capture."""
    path = CAPTURE_DIR / name
    return json.loads(path.read_text(encoding="utf-8"))["body"]


def capture_bytes(name: str) -> bytes:
    """The body of one capture re-encoded as the bytes a client would POST."""
    return json.dumps(capture_body(name)).encode()
