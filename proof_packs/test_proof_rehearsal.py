"""Claim a6-rehearsal-only: an A6 mission runs the A5 pipeline in an isolated worktree and
reports what would change, but its patch can never be promoted into the workspace."""

from __future__ import annotations

import json

import pytest

from pytest_opencode_bridge.harness import final_action, handoff_text
from runtime.patches.promotion import PromotionRefused, promote

pytestmark = pytest.mark.claim("a6-rehearsal-only")

FIXED = "    for i in range(len(items)):\n"


async def test_an_a6_patch_is_verified_in_isolation_and_never_promoted(
    buggy_project, mission_runner
):
    before = (buggy_project / "src/app.py").read_text()
    report = final_action(refs=["event:3"], claim="the loop skips the last item")
    patch = {
        "action_type": "propose_patch",
        "reason": "fix the loop bound",
        "patch": {
            "edits": [
                {
                    "path": "src/app.py",
                    "operation": "replace_exact",
                    "old_text": "    for i in range(len(items) - 1):\n",
                    "new_text": FIXED,
                }
            ],
            "rationale": "range(len(items) - 1) skips the last item",
        },
        "report": report["action"]["report"],
    }
    handoff = handoff_text(
        "Fix total()",
        "rehearse-fix",
        "A6",
        owned_paths=["src"],
        verification={"commands": [["python", "-c", "import src.app"]], "timeout_seconds": 60},
    )
    run = await mission_runner.run(
        buggy_project, {"kimi-k2.6": [{"action": patch}]}, alias="mission-a6-kimi", handoff=handoff
    )
    packet = json.loads((run.outcome.artifacts / "review_packet.json").read_text())
    assert run.outcome.status == "VERIFIED", run.outcome.final_text
    assert packet["mode"] == "REHEARSAL"
    assert packet["changed_paths"] == ["src/app.py"]
    assert "REHEARSAL" in run.outcome.final_text
    for kwargs in ({}, {"dry_run": True}, {"allow_unverified": True, "force": True}):
        with pytest.raises(PromotionRefused, match="rehearsal_only"):
            promote(buggy_project, "rehearse-fix", **kwargs)
    assert (buggy_project / "src/app.py").read_text() == before
