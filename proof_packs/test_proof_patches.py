"""Claims a4-validation and a5-isolation-rollback, end to end: whole A4/A5 missions, driven
through ``mission_runner`` (scripted upstream over real HTTP -> ``run_mission`` -> the patch
pipeline). The runtime validates the model's patch intent, applies it only in an isolated git
worktree, verifies it with the mission's allowlisted argv commands and proves the rollback;
the workspace stays byte-for-byte untouched until ``promote``, and ``rollback`` restores it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_opencode_bridge.harness import handoff_text, make_git_project, tool_action

BUGGY = (
    "def moving_sum(values, window):\n"
    "    return [sum(values[i : i + window]) for i in range(len(values) - window)]\n"
)
CHECK = (
    "from calc.stats import moving_sum\n\n\n"
    "def test_every_window():\n    assert moving_sum([1, 2, 3, 4], 2) == [3, 5, 7]\n"
)
FILES = {
    "calc/__init__.py": "",
    "calc/stats.py": BUGGY,
    "checks/__init__.py": "",
    "checks/test_stats.py": CHECK,
    "deploy/release.py": "VERSION = '1.0'\n",
    ".gitignore": ".codex-oss/\n__pycache__/\n",
}
MISSION_ID = "fix-sum"
# The verification argv: plain pytest in the worktree, without this project's plugins.
VERIFY = [
    sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
    "-p", "no:opencode_bridge", "-p", "no:hypothesispytest", "checks",
]  # fmt: skip
READ = tool_action("read", reason="read the buggy function", path="calc/stats.py")
EVIDENCE = "file:calc/stats.py#L1-L2"
PATCH_EVENTS = (
    "PatchIntentProposed",
    "PatchValidated",
    "PatchAppliedInIsolation",
    "VerificationRan",
    "RollbackRecorded",
)


def intent(old: str, new: str, path: str = "calc/stats.py", base: str = BUGGY, **extra) -> dict:
    """A one-edit replace_exact intent pinned to ``base``'s hash."""
    return {
        "edits": [
            {
                "path": path,
                "operation": "replace_exact",
                "old_text": old,
                "new_text": new,
                "expected_sha256": hashlib.sha256(base.encode()).hexdigest(),
            }
        ],
        "rationale": "range() stops one window early.",
        **extra,
    }


GOOD = intent("range(len(values) - window)", "range(len(values) - window + 1)")
WRONG = intent("range(len(values) - window)", "range(len(values) - window - 1)")


def propose(patch: dict[str, Any]) -> dict[str, Any]:
    """A scripted turn whose Action proposes ``patch`` with an evidence-backed report."""
    finding = {"claim": "range() stops one window early", "evidence_refs": [EVIDENCE]}
    return {
        "action": {
            "action_type": "propose_patch",
            "reason": "the fix is one token",
            "phase": "REPORT",
            "patch": patch,
            "report": {"status": "COMPLETE", "confidence": "HIGH", "findings": [finding]},
        }
    }


async def run_mission(runner, project: Path, tier: str, *turns: dict[str, Any]):
    """One whole mission of ``tier`` on ``project``, the model playing ``turns``."""
    fields: dict[str, Any] = {"owned_paths": ["calc"]}
    if tier in ("A5", "A6"):
        fields["verification"] = {"commands": [VERIFY], "timeout_seconds": 60}
    handoff = handoff_text("Fix moving_sum", mission_id=MISSION_ID, tier=tier, **fields)
    return await runner.run(
        project,
        {"kimi-k2.6": [READ, *turns]},
        alias=f"mission-{tier.lower()}-kimi",
        handoff=handoff,
    )


def snapshot(root: Path) -> dict:
    """Every workspace file's hash, plus git's view of HEAD, the index and the worktrees."""
    files = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] not in (".git", ".codex-oss")
    }

    def git(*argv: str) -> bytes:
        return subprocess.run(
            ["git", "--no-optional-locks", *argv], cwd=root, capture_output=True, check=True
        ).stdout

    return {
        "files": files,
        "status": git("status", "--porcelain", "--untracked-files=all"),
        "head": git("rev-parse", "HEAD"),
        "index": hashlib.sha256((root / ".git" / "index").read_bytes()).hexdigest(),
        "worktrees": git("worktree", "list", "--porcelain").count(b"worktree "),
    }


def types_of(run, prefixes: tuple[str, ...] = ("Patch", "Verification", "Rollback")) -> list:
    return [event.event_type for event in run.events() if event.event_type.startswith(prefixes)]


@pytest.fixture
def calc_project(tmp_path: Path) -> Path:
    return make_git_project(tmp_path / "calc-project", FILES)


@pytest.mark.claim("a4-validation")
async def test_an_a4_mission_validates_the_proposal_and_never_applies_it(
    calc_project, mission_runner
):
    before = snapshot(calc_project)
    run = await run_mission(mission_runner, calc_project, "A4", propose(GOOD))

    assert run.outcome.status == "VALIDATED", run.outcome.final_text
    assert types_of(run)[:2] == ["PatchIntentProposed", "PatchValidated"]
    assert not run.events_of("PatchAppliedInIsolation") and not run.events_of("VerificationRan")
    validated = run.events_of("PatchValidated")[0].payload
    assert validated["ok"] is True and validated["files_changed"] == ["calc/stats.py"]
    diff = (run.outcome.artifacts / "patch.diff").read_text(encoding="utf-8")
    assert "+    return [sum(values[i : i + window]) for i in range(len(values) - window + 1)]" in (
        diff
    )
    assert run.outcome.report["patch"]["status"] == "VALIDATED"
    assert snapshot(calc_project) == before


@pytest.mark.claim("a4-validation")
@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        (intent("assert", "assert not", "checks/test_stats.py", CHECK), "not_owned"),
        (intent("range(len(values) - window)", "range(len(values))", base="stale\n"), "sha256"),
        (intent("no such text", "x"), "old_text"),
        (intent("x", "y", path="../outside.py", base=""), "escapes the project"),
    ],
    ids=["not-owned", "stale-hash", "missing-old-text", "escape"],
)  # fmt: skip
async def test_an_a4_mission_rejects_a_proposal_that_breaks_a_rule_after_one_repair(
    calc_project, mission_runner, patch, fragment
):
    before = snapshot(calc_project)
    run = await run_mission(mission_runner, calc_project, "A4", propose(patch), propose(patch))

    assert run.outcome.status == "REJECTED", run.outcome.final_text
    assert fragment in run.outcome.final_text
    # The model was told why before its second (last) proposal.
    assert fragment in json.dumps(run.requests[2].body)
    assert len(run.events_of("PatchIntentProposed")) == 2
    assert not run.events_of("PatchAppliedInIsolation")
    assert snapshot(calc_project) == before


@pytest.mark.claim("a4-validation")
async def test_an_a4_proposal_touching_a_critical_path_escalates_at_once(
    calc_project, mission_runner
):
    release = intent("'1.0'", "'2.0'", "deploy/release.py", "VERSION = '1.0'\n")
    before = snapshot(calc_project)
    run = await run_mission(mission_runner, calc_project, "A4", propose(release), propose(release))

    assert run.outcome.status == "ESCALATE", run.outcome.final_text
    assert "critical_root" in run.outcome.final_text
    assert len(run.requests) == 2  # no repair round: a human decides
    assert run.events_of("PatchValidated")[0].payload["escalate"] is True
    assert snapshot(calc_project) == before


@pytest.mark.claim("a5-isolation-rollback")
async def test_an_a5_mission_verifies_in_isolation_then_promote_and_rollback_are_exact(
    calc_project, mission_runner
):
    from runtime.eventlog import verify_log
    from runtime.patches import promote, rollback

    before = snapshot(calc_project)
    run = await run_mission(mission_runner, calc_project, "A5", propose(GOOD))

    assert run.outcome.status == "VERIFIED", run.outcome.final_text
    assert types_of(run) == list(PATCH_EVENTS)
    applied = run.events_of("PatchAppliedInIsolation")[0].payload
    assert applied["worktree"].startswith(f".codex-oss/worktrees/{MISSION_ID}")
    ran = run.events_of("VerificationRan")[0].payload
    assert (ran["argv"], ran["exit_code"]) == (VERIFY, 0)
    assert run.events_of("RollbackRecorded")[0].payload["proven"] is True
    assert verify_log(run.log_path).ok
    assert snapshot(calc_project) == before  # nothing lands until promote

    promote(calc_project, MISSION_ID)
    assert "window + 1" in (calc_project / "calc/stats.py").read_text(encoding="utf-8")
    assert subprocess.run(VERIFY, cwd=calc_project, capture_output=True).returncode == 0
    rollback(calc_project, MISSION_ID)
    assert snapshot(calc_project) == before


@pytest.mark.claim("a5-isolation-rollback")
async def test_an_a5_fix_that_fails_verification_is_reported_and_cannot_be_promoted(
    calc_project, mission_runner
):
    from runtime.patches import PromotionRefused, promote

    before = snapshot(calc_project)
    run = await run_mission(mission_runner, calc_project, "A5", propose(WRONG))

    assert run.outcome.status == "VERIFICATION_FAILED", run.outcome.final_text
    assert run.events_of("VerificationRan")[0].payload["exit_code"] != 0
    assert snapshot(calc_project) == before
    with pytest.raises(PromotionRefused, match="not VERIFIED"):
        promote(calc_project, MISSION_ID)
    assert snapshot(calc_project) == before


@pytest.mark.claim("a5-isolation-rollback")
async def test_an_a5_mission_never_runs_a_command_outside_the_allowlist(
    calc_project, mission_runner
):
    sneaky = dict(GOOD, verification_plan=[[sys.executable, "-c", "open('pwned', 'w')"]])
    before = snapshot(calc_project)
    run = await run_mission(mission_runner, calc_project, "A5", propose(sneaky), propose(sneaky))

    assert run.outcome.status == "REJECTED", run.outcome.final_text
    assert "not_allowlisted" in run.outcome.final_text
    assert not run.events_of("VerificationRan")
    assert not list(calc_project.rglob("pwned"))
    assert snapshot(calc_project) == before
