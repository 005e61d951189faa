"""Replay every recorded canary under canaries/ against the current runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_opencode_bridge.recorder import PROOF_FILE_PROPERTY
from tests.patches.canary_replay import Canary, replay

CANARIES = Path(__file__).resolve().parents[2] / "canaries"
NAMES = sorted(path.parent.name for path in CANARIES.glob("*/canary.json"))


def test_there_is_at_least_one_canary():
    assert NAMES


@pytest.mark.parametrize("name", NAMES)
async def test_canary_replays_to_its_recorded_outcome(tmp_path, name, record_property):
    canary = Canary.load(CANARIES / name)
    record_property(PROOF_FILE_PROPERTY, f"canaries/{name}/canary.json")
    result = await replay(canary, tmp_path)

    assert result.status == canary.manifest["expected"]["status"], result.final_text
    expected_record = json.loads(canary.expected_path("run_record").read_text())
    assert result.record == expected_record
    assert result.patch_diff == canary.expected_path("promoted_diff").read_text()
    for path, expected in canary.manifest["expected"]["promoted_files"].items():
        assert result.promoted_files[path] == (canary.root / expected).read_text()
