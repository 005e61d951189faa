"""Claim canary-replay: every recorded canary under canaries/, replayed through the current
runtime (scripted upstream over real HTTP -> run_mission -> patch pipeline -> promote ->
rollback), gives the RunRecord in its syrupy snapshot and the canary's promoted change.

Drift fails with a diff of the normalised record showing every changed hunk (see
``pytest_opencode_bridge.replay.normalise_record`` for what is compared). After an intended
change: ``pytest proof_packs/test_proof_canaries.py --snapshot-update``, then review the diff
of ``proof_packs/__snapshots__/test_proof_canaries.ambr``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_opencode_bridge.recorder import PROOF_FILE_PROPERTY
from pytest_opencode_bridge.replay import (
    PROMOTED_STATUS,
    Canary,
    RecordSnapshotExtension,
    discover_canaries,
    replay,
)
from runtime.registry import MISSION_ALIAS
from runtime.scorecard import record_canary

ROOT = Path(__file__).resolve().parents[1]
CANARIES = discover_canaries(ROOT / "canaries")

pytestmark = pytest.mark.claim("canary-replay")


def test_there_is_at_least_one_canary():
    assert CANARIES, "no canaries/*/canary.json found"


@pytest.mark.parametrize("canary", CANARIES, ids=lambda canary: canary.name)
async def test_canary_replays_to_its_snapshot(
    canary: Canary, tmp_path: Path, snapshot, record_property, request
):
    # The canary's data files are part of the proof: editing one makes the claim stale.
    for path in canary.proof_files(ROOT):
        record_property(PROOF_FILE_PROPERTY, path)
    result = await replay(canary, tmp_path)
    if request.config.getoption("opencode_burnin"):  # the burn-in updates the scorecards
        profile = MISSION_ALIAS.match(canary.manifest["alias"])["profile"]
        matched = result.status == canary.expected["status"]
        record_canary(request.config.rootpath, profile, canary.name, matched)

    expected = snapshot.use_extension(RecordSnapshotExtension)
    # The message carries the whole diff: pytest shortens its own explanation unless -vv.
    assert result.record == expected, "\n".join(expected.get_assert_diff())
    assert result.status == canary.expected["status"], result.final_text
    assert result.patch_diff == canary.expected_path("promoted_diff").read_text(encoding="utf-8")
    assert result.promoted_files == canary.expected_files()
    if result.status == PROMOTED_STATUS:
        assert result.restored is True, "rollback did not restore the promoted files"
