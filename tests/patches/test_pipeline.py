"""The patch step end to end at pipeline level: real git, real worktrees, real subprocesses."""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any

from runtime.canonical import sha256_hex, tagged_sha256
from runtime.eventlog import MissionEventLog, new_run_id, verify_log
from runtime.events import MissionAdmitted, Route
from runtime.mission import MissionV1, Tier
from runtime.patches.artifacts import review_packet
from runtime.patches.pipeline import PatchOutcome, run_patch_step
from runtime.patches.review import render_markdown
from runtime.patches.verdict import PatchVerdict
from runtime.patches.worktree import worktree_path
from runtime.projections import MISSIONS_DIR, project_log
from runtime.record import reduce
from runtime.redact import Redactor
from tests.patches.fixture_repo import (
    BUGGY,
    FIX_NEW,
    PYTEST,
    good_intent,
    make_fixture_repo,
    mission_of,
    workspace_snapshot,
)

ROUTE = Route(alias="mission-a5-kimi", profile="kimi", upstream_model="kimi-k2.6")
FINDING = {"claim": "the window count is off by one", "evidence_refs": ["file:calc/stats.py#L4-L6"]}


async def step(project, log, mission: MissionV1, intent, round=1) -> PatchOutcome:
    """One patch step in ``log`` (admitting ``mission`` first, as a run does)."""
    if log.seq == 0:
        log.append(MissionAdmitted(mission=mission.model_dump(mode="json"), route=ROUTE))
    return await run_patch_step(
        project_root=project,
        mission=mission,
        intent_data=intent,
        round=round,
        redactor=Redactor(["configured-upstream-key-123"]),
        report={"findings": [FINDING], "caveats": []},
        append=log.append,
    )


def packet_of(log, outcome: PatchOutcome) -> dict[str, Any]:
    """The review packet the loop builds from its live record after the step."""
    record = reduce(log.events())
    verdict = PatchVerdict(outcome.status, outcome.reasons)
    packet = review_packet(record, verdict, outcome.diff, MISSIONS_DIR / str(record.mission_id))
    assert packet is not None
    return packet


def types(log) -> list[str]:
    return [event.event_type for event in log.events()][1:]  # after MissionAdmitted


async def test_a_good_intent_ends_verified_and_leaves_the_workspace_untouched(project, event_log):
    before = workspace_snapshot(project)
    log = event_log()
    outcome = await step(project, log, mission_of(Tier.A5), good_intent())
    assert outcome.status == "VERIFIED", outcome.reasons
    assert workspace_snapshot(project) == before
    assert types(log) == [
        "PatchIntentProposed",
        "PatchValidated",
        "PatchAppliedInIsolation",
        "VerificationRan",
        "RollbackRecorded",
    ]
    ran = log.events()[4].payload
    assert ran["exit_code"] == 0 and "2 passed" in ran["output"]
    assert not worktree_path(project, "fix-moving-sum").exists()
    assert verify_log(log.path).ok


async def test_a_verified_outcome_projects_its_diff_rollback_and_review_packet(project, event_log):
    log = event_log()
    outcome = await step(project, log, mission_of(Tier.A5), good_intent())
    folder = project / ".codex-oss/missions/fix-moving-sum"
    assert not folder.exists()  # the step writes blobs only; the files are projections
    project_log(project, log)
    diff = (folder / "patch.diff").read_text()
    assert diff == outcome.diff and f"+{FIX_NEW}" not in diff and FIX_NEW in diff
    assert (folder / "rollback.diff").read_text() == outcome.rollback_diff
    text = (folder / "review_packet.json").read_text()
    packet = json.loads(text)
    assert text == json.dumps(packet_of(log, outcome), indent=2, ensure_ascii=False)
    assert packet["status"] == "VERIFIED"
    assert packet["diff_sha256"] == tagged_sha256(diff)
    assert packet["changed_paths"] == ["calc/stats.py"]
    assert packet["verification"][0]["passed"] is True
    assert packet["adequacy"] == {"adequate": True, "gaps": []}
    validated = log.events()[2].payload
    assert validated["base_sha256"] == {"calc/stats.py": sha256_hex(BUGGY)}
    assert "### Patch review: VERIFIED" in render_markdown(packet)


async def test_an_a4_intent_is_validated_without_a_worktree(project, event_log):
    before = workspace_snapshot(project)
    log = event_log()
    outcome = await step(project, log, mission_of(Tier.A4), good_intent())
    assert outcome.status == "VALIDATED", outcome.reasons
    assert types(log) == ["PatchIntentProposed", "PatchValidated", "RollbackRecorded"]
    assert log.events()[3].payload["proven"] is True
    assert not (project / ".codex-oss/worktrees").exists()
    assert workspace_snapshot(project) == before
    assert "validated but never run" in " ".join(packet_of(log, outcome)["review_questions"])


async def test_a_failing_verification_ends_verification_failed_and_untouched(project, event_log):
    before = workspace_snapshot(project)
    log = event_log()
    not_a_fix = {
        "edits": [
            {
                "path": "calc/stats.py",
                "operation": "insert_before",
                "anchor": "def moving_sum",
                "new_text": "# TODO: check the range\n",
            }
        ],
        "rationale": "a comment only",
    }
    outcome = await step(project, log, mission_of(Tier.A5), not_a_fix)
    assert outcome.status == "VERIFICATION_FAILED"
    assert outcome.reasons[0].startswith("verification_failed: ")
    assert "exited 1" in outcome.reasons[0]
    assert workspace_snapshot(project) == before
    assert not worktree_path(project, "fix-moving-sum").exists()
    assert packet_of(log, outcome)["adequacy"]["adequate"] is False


async def test_a_non_owned_path_is_rejected_and_repairable_once(project, event_log):
    log = event_log()
    intent = good_intent()
    intent["edits"][0] |= {"path": "tests/test_stats.py", "expected_sha256": None}
    first = await step(project, log, mission_of(Tier.A5), intent, round=1)
    assert first.status == "REJECTED" and first.repairable
    assert first.reasons[0].startswith("not_owned: tests/test_stats.py")
    second = await step(project, log, mission_of(Tier.A5), intent, round=2)
    assert second.status == "REJECTED" and not second.repairable
    assert types(log) == ["PatchIntentProposed", "PatchValidated"] * 2


async def test_a_path_escaping_the_project_is_rejected(project, event_log):
    intent = good_intent()
    intent["edits"][0]["path"] = "../outside.py"
    outcome = await step(project, event_log(), mission_of(Tier.A5), intent)
    assert outcome.status == "REJECTED"
    assert "escapes the project" in outcome.reasons[0]
    assert not (project.parent / "outside.py").exists()


async def test_an_added_secret_is_rejected_and_never_logged(project, event_log):
    secret = "sk-proj-" + "Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY"
    intent = {
        "edits": [
            {"path": "calc/config.py", "operation": "create", "new_text": f'KEY = "{secret}"\n'}
        ]
    }
    log = event_log()
    outcome = await step(project, log, mission_of(Tier.A5), intent)
    assert outcome.status == "REJECTED"
    assert outcome.reasons[0].startswith("secret: ")
    assert secret not in log.path.read_text()
    assert not (project / "calc/config.py").exists()


async def test_limits_on_files_and_bytes_are_enforced(project, event_log):
    two_files = {
        "edits": [
            {"path": "calc/a.py", "operation": "create", "new_text": "A = 1\n"},
            {"path": "calc/b.py", "operation": "create", "new_text": "B = 1\n"},
        ]
    }
    narrow = mission_of(Tier.A5, max_files_changed=1)
    outcome = await step(project, event_log(), narrow, two_files)
    assert outcome.reasons == ["too_many_files: the patch changes 2 files; the mission allows 1"]
    small = mission_of(Tier.A5, mission_id="small", max_patch_bytes=64)
    outcome = await step(project, event_log("small"), small, good_intent())
    assert outcome.status == "REJECTED"
    assert outcome.reasons[0].startswith("patch_too_large: the diff is ")


async def test_an_ambiguous_anchor_is_rejected(project, event_log):
    intent = {
        "edits": [
            {
                "path": "calc/stats.py",
                "operation": "insert_after",
                "anchor": "window",
                "new_text": "x",
            }
        ]
    }
    outcome = await step(project, event_log(), mission_of(Tier.A5), intent)
    assert outcome.status == "REJECTED"
    assert outcome.reasons[0].startswith("anchor_ambiguous: edits[0]")


async def test_a_verification_command_off_the_allowlist_is_rejected(project, event_log):
    intent = good_intent(verification_plan=[[sys.executable, "-c", "print('ok')"]])
    outcome = await step(project, event_log(), mission_of(Tier.A5), intent)
    assert outcome.status == "REJECTED"
    assert outcome.reasons[0].startswith("not_allowlisted: verification_plan[0]")
    allowed = good_intent(verification_plan=[PYTEST])
    assert (await step(project, event_log(), mission_of(Tier.A5), allowed)).status == "VERIFIED"


async def test_a_shell_string_verification_command_is_rejected(project, event_log):
    intent = good_intent(verification_plan=["pytest -q tests && rm -rf /"])
    outcome = await step(project, event_log(), mission_of(Tier.A5), intent)
    assert outcome.status == "REJECTED"
    assert outcome.reasons[0].startswith("invalid_intent: patch.verification_plan")
    assert "shell string" in outcome.reasons[0]


async def test_a_critical_path_escalates_without_a_repair_round(project, event_log):
    mission = mission_of(Tier.A5, owned_paths=["calc", "deploy"])
    intent = {
        "edits": [{"path": "deploy/release.py", "operation": "append", "new_text": "DEBUG = 1\n"}]
    }
    outcome = await step(project, event_log(), mission, intent)
    assert outcome.status == "ESCALATE"
    assert not outcome.repairable
    assert outcome.reasons[0].startswith("critical_root:")


async def test_a_symlinked_target_is_rejected(project, event_log):
    (project / "calc/link.py").symlink_to(project / "calc/stats.py")
    intent = {"edits": [{"path": "calc/link.py", "operation": "append", "new_text": "# x\n"}]}
    outcome = await step(project, event_log(), mission_of(Tier.A5), intent)
    assert outcome.status == "REJECTED"
    assert outcome.reasons[0].startswith("symlink: calc/link.py")


async def test_a_binary_target_is_rejected(project, event_log):
    (project / "calc/blob.bin").write_bytes(b"\x00\x01\x02")
    intent = {"edits": [{"path": "calc/blob.bin", "operation": "append", "new_text": "x"}]}
    outcome = await step(project, event_log(), mission_of(Tier.A5), intent)
    assert outcome.reasons[0].startswith("binary: calc/blob.bin: binary file")


async def test_a_stale_base_hash_is_rejected(project, event_log):
    (project / "calc/stats.py").write_text(BUGGY + "\n# edited by the user\n")
    outcome = await step(project, event_log(), mission_of(Tier.A5), good_intent())
    assert outcome.status == "REJECTED"
    assert outcome.reasons[0].startswith("base_mismatch: edits[0]")


async def test_uncommitted_owned_changes_are_what_the_worktree_verifies(project, event_log):
    # The user already fixed a second function locally; the worktree must see that content.
    (project / "calc/extra.py").write_text("def double(x):\n    return 2 * x\n")
    (project / "tests/test_extra.py").write_text(
        "from calc.extra import double\n\n\ndef test_double():\n    assert double(2) == 4\n"
    )
    log = event_log()
    outcome = await step(project, log, mission_of(Tier.A5), good_intent())
    # tests/test_extra.py is not owned, so the worktree (HEAD) lacks it: only 2 tests run.
    assert outcome.status == "VERIFIED"
    assert "2 passed" in packet_of(log, outcome)["verification"][0]["output_tail"]


async def test_a_stale_worktree_from_a_killed_run_is_replaced(project, event_log):
    stale = worktree_path(project, "fix-moving-sum")
    stale.mkdir(parents=True)
    (stale / "leftover.txt").write_text("from a killed run")
    outcome = await step(project, event_log(), mission_of(Tier.A5), good_intent())
    assert outcome.status == "VERIFIED"
    assert not stale.exists()


async def test_a5_without_git_history_fails_honestly(tmp_path):
    bare = tmp_path / "nogit"
    make_fixture_repo(bare)
    shutil.rmtree(bare / ".git")
    with MissionEventLog.create(bare, new_run_id(), "fix-moving-sum") as log:
        outcome = await step(bare, log, mission_of(Tier.A5), good_intent())
    assert outcome.status == "FAILED"
    assert "not a git repository" in outcome.reasons[0]


async def test_an_a5_mission_without_verification_commands_escalates(project, event_log):
    mission = mission_of(Tier.A5, verification={"commands": [], "timeout_seconds": 30})
    outcome = await step(project, event_log(), mission, good_intent())
    assert outcome.status == "ESCALATE"
    assert outcome.reasons[0].startswith("no_verification_commands")


async def test_an_invalid_intent_names_the_field(project, event_log):
    intent = {"edits": [{"path": "calc/stats.py", "operation": "replace_exact", "new_text": "x"}]}
    outcome = await step(project, event_log(), mission_of(Tier.A5), intent)
    assert outcome.status == "REJECTED" and outcome.repairable
    assert outcome.reasons == [
        "invalid_intent: patch.edits.0: operation 'replace_exact' needs old_text"
    ]
