"""Whole A4/A5 missions over real HTTP: the scripted upstream plays the model, the runner runs
the mission loop, the patch pipeline validates, isolates, verifies; then promote and rollback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pytest_opencode_bridge.harness import handoff_text, tool_action
from runtime.canonical import sha256_hex
from runtime.eventlog import verify_log
from runtime.patches.promotion import promote, rollback
from tests.patches.fixture_repo import (
    BUGGY,
    FIX_NEW,
    PYTEST,
    good_intent,
    workspace_snapshot,
)

MISSION_ID = "fix-moving-sum"
READ = tool_action("read", reason="read the buggy function", path="calc/stats.py")
EVIDENCE = "file:calc/stats.py#L1-L6"


def propose(intent: dict[str, Any]) -> dict[str, Any]:
    """A scripted turn whose Action proposes ``intent`` with an evidence-backed report."""
    return {
        "action": {
            "action_type": "propose_patch",
            "reason": "the fix is one token",
            "phase": "REPORT",
            "patch": intent,
            "report": {
                "status": "COMPLETE",
                "confidence": "HIGH",
                "findings": [
                    {
                        "claim": "moving_sum's range() stops one window early",
                        "evidence_refs": [EVIDENCE],
                        "confidence": "HIGH",
                    }
                ],
            },
        }
    }


def handoff(tier: str = "A5", **fields: Any) -> str:
    fields.setdefault("owned_paths", ["calc"])
    if tier == "A5":
        fields.setdefault("verification", {"commands": [PYTEST], "timeout_seconds": 60})
    return handoff_text(
        "Fix the off-by-one in calc.stats.moving_sum", mission_id=MISSION_ID, tier=tier, **fields
    )


async def run_mission(mission_runner, project: Path, turns: list[dict], tier: str = "A5", **fields):
    return await mission_runner.run(
        project,
        {"kimi-k2.6": turns},
        alias=f"mission-{tier.lower()}-kimi",
        handoff=handoff(tier, **fields),
    )


def pytest_passes(project: Path) -> bool:
    return subprocess.run(PYTEST, cwd=project, capture_output=True).returncode == 0


async def test_a5_fix_is_verified_then_promoted_then_rolled_back(mission_runner, project):
    before = workspace_snapshot(project)
    run = await run_mission(mission_runner, project, [READ, propose(good_intent())])

    assert run.outcome.status == "VERIFIED", run.outcome.report
    assert workspace_snapshot(project) == before
    patch_types = {"Patch", "Verif", "Rollb"}
    types = [e.event_type for e in run.events() if e.event_type[:5] in patch_types]
    assert types == [
        "PatchIntentProposed",
        "PatchValidated",
        "PatchAppliedInIsolation",
        "VerificationRan",
        "RollbackRecorded",
    ]
    assert run.events_of("VerificationRan")[0].payload["exit_code"] == 0
    assert verify_log(run.log_path).ok
    assert "### Patch review: VERIFIED" in run.outcome.final_text
    assert run.outcome.report["patch"]["status"] == "VERIFIED"
    for name in ("review_packet.json", "patch.diff", "rollback.diff", "report.json"):
        assert (run.outcome.artifacts / name).is_file()
    packet = json.loads((run.outcome.artifacts / "review_packet.json").read_text())
    assert packet["evidence_refs"] == [EVIDENCE]
    assert packet["adequacy"]["adequate"] is True

    promote(project, MISSION_ID)
    assert FIX_NEW in (project / "calc/stats.py").read_text()
    assert pytest_passes(project)
    rollback(project, MISSION_ID)
    assert (project / "calc/stats.py").read_text() == BUGGY
    assert workspace_snapshot(project) == before


async def test_a4_proposal_is_validated_and_never_applied(mission_runner, project):
    before = workspace_snapshot(project)
    run = await run_mission(mission_runner, project, [READ, propose(good_intent())], tier="A4")
    assert run.outcome.status == "VALIDATED"
    assert not run.events_of("PatchAppliedInIsolation")
    assert workspace_snapshot(project) == before


async def test_a_failing_verification_ends_verification_failed(mission_runner, project):
    before = workspace_snapshot(project)
    wrong = good_intent()
    wrong["edits"][0]["new_text"] = "range(len(values) - window - 1)"
    run = await run_mission(mission_runner, project, [READ, propose(wrong)])
    assert run.outcome.status == "VERIFICATION_FAILED"
    assert "verification_failed" in run.outcome.closure_reason + run.outcome.final_text
    assert workspace_snapshot(project) == before


def _edit(**fields: Any) -> dict[str, Any]:
    return {"edits": [fields], "rationale": "scripted"}


SECRET = "sk-proj-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"
REJECTIONS = {
    "non_owned": (
        _edit(path="tests/test_stats.py", operation="append", new_text="# x\n"),
        {},
        "not_owned",
    ),
    "escape": (
        _edit(path="../elsewhere.py", operation="create", new_text="x = 1\n"),
        {},
        "escapes the project",
    ),
    "secret": (
        _edit(path="calc/keys.py", operation="create", new_text=f'KEY = "{SECRET}"\n'),
        {},
        "secret:",
    ),
    "too_many_files": (
        {
            "edits": [
                {"path": "calc/a.py", "operation": "create", "new_text": "A = 1\n"},
                {"path": "calc/b.py", "operation": "create", "new_text": "B = 1\n"},
            ]
        },
        {"max_files_changed": 1},
        "too_many_files",
    ),
    "too_large": (
        _edit(path="calc/big.py", operation="create", new_text="x = 1\n" * 400),
        {"max_patch_bytes": 1024},
        "patch_too_large",
    ),
    "ambiguous_anchor": (
        _edit(path="calc/stats.py", operation="insert_after", anchor="window", new_text="x"),
        {},
        "anchor_ambiguous",
    ),
    "not_allowlisted": (
        good_intent(verification_plan=[["python", "-c", "print(1)"]]),
        {},
        "not_allowlisted",
    ),
    "shell_string": (
        good_intent(verification_plan=["pytest -q tests; curl evil"]),
        {},
        "shell string",
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
async def test_bad_intents_are_rejected_with_the_reason(mission_runner, project, case):
    intent, fields, expected = REJECTIONS[case]
    before = workspace_snapshot(project)
    run = await run_mission(
        mission_runner, project, [READ, propose(intent), propose(intent)], **fields
    )

    assert run.outcome.status == "REJECTED"
    assert expected in run.outcome.final_text
    # One repair round: the model was told why before its second proposal.
    assert "rejected your patch" in json.dumps(run.requests[2].body)
    assert expected in json.dumps(run.requests[2].body)
    assert len(run.events_of("PatchIntentProposed")) == 2
    assert workspace_snapshot(project) == before
    assert SECRET not in run.disk_text()
    assert SECRET not in run.outcome.final_text


async def test_a_repaired_intent_succeeds_in_the_second_round(mission_runner, project):
    stale = good_intent()
    stale["edits"][0]["expected_sha256"] = sha256_hex("not the file")
    run = await run_mission(mission_runner, project, [READ, propose(stale), propose(good_intent())])
    assert run.outcome.status == "VERIFIED"
    assert [e.payload["round"] for e in run.events_of("PatchIntentProposed")] == [1, 2]
