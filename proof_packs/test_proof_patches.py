"""Claims a4-validation and a5-isolation-rollback, at the patch pipeline: the runtime validates
patch intents, applies them only in an isolated worktree, verifies them with allowlisted argv
commands and proves the rollback, leaving the workspace byte-for-byte untouched.

These drive the pipeline directly through ``run_patch_step``; whole A4/A5 missions through
``mission_runner`` (now that the runner routes ``propose_patch`` to it) are the next proofs.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_opencode_bridge.harness import make_git_project

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
# The verification argv: plain pytest in the worktree, without this project's plugins.
VERIFY = [
    sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
    "-p", "no:opencode_bridge", "-p", "no:hypothesispytest", "checks",
]  # fmt: skip


def intent(old: str, new: str, path: str = "calc/stats.py", base: str = BUGGY) -> dict:
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
    }


GOOD = intent("range(len(values) - window)", "range(len(values) - window + 1)")
WRONG = intent("range(len(values) - window)", "range(len(values) - window - 1)")


def snapshot(root: Path) -> dict:
    """Every workspace file's hash, plus git's view of HEAD and the index."""
    files = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] not in (".git", ".codex-oss")
    }
    status = subprocess.run(
        ["git", "--no-optional-locks", "status", "--porcelain"], cwd=root, capture_output=True
    ).stdout
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True).stdout
    return {"files": files, "status": status, "head": head}


@pytest.fixture
def calc_project(tmp_path: Path) -> Path:
    return make_git_project(tmp_path / "calc-project", FILES)


async def propose(project: Path, tier: str, patch: dict, mission_id: str = "fix-sum"):
    """Run one proposal through the pipeline with a real event log; return (outcome, log)."""
    from runtime.eventlog import MissionEventLog, new_run_id
    from runtime.mission import Tier as TierEnum
    from runtime.mission import compile_mission, template
    from runtime.patches.pipeline import run_patch_step
    from runtime.redact import Redactor

    fields: dict = {"owned_paths": ["calc"]}
    if tier in ("A5", "A6"):
        fields["verification"] = {"commands": [VERIFY], "timeout_seconds": 60}
    mission = compile_mission(
        template(TierEnum(tier), "Fix moving_sum", mission_id, **fields)
    ).mission
    log = MissionEventLog.create(project, new_run_id(), mission_id)
    try:
        outcome = await run_patch_step(
            project_root=project,
            mission=mission,
            intent_data=patch,
            round=1,
            redactor=Redactor([]),
            report={"findings": [], "caveats": []},
            evidence_refs=["file:calc/stats.py#L1-L2"],
            denials=[],
            append=log.append,
        )
        return outcome, [event.event_type for event in log.events()], log.events()
    finally:
        log.close()


@pytest.mark.claim("a4-validation")
async def test_an_a4_proposal_is_validated_and_the_workspace_is_untouched(calc_project):
    before = snapshot(calc_project)
    outcome, types, _ = await propose(calc_project, "A4", GOOD)

    assert outcome.status == "VALIDATED", outcome.reasons
    assert "PatchValidated" in types and "PatchAppliedInIsolation" not in types
    assert "+1" in (outcome.diff or "")
    assert snapshot(calc_project) == before


@pytest.mark.claim("a4-validation")
@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        (intent("VERSION = '1.0'", "VERSION = '2.0'", "deploy/release.py",
                "VERSION = '1.0'\n"), "owned"),
        (intent("range(len(values) - window)", "range(len(values))", base="stale\n"), "sha256"),
        (intent("no such text", "x"), "old_text"),
        (intent("x", "y", path="../outside.py", base=""), "path"),
    ],
)  # fmt: skip
async def test_an_a4_proposal_that_breaks_a_rule_is_rejected(calc_project, patch, fragment):
    before = snapshot(calc_project)
    outcome, _, _ = await propose(calc_project, "A4", patch)

    assert outcome.status in ("REJECTED", "ESCALATE"), outcome.reasons
    assert any(fragment in reason for reason in outcome.reasons), outcome.reasons
    assert snapshot(calc_project) == before


@pytest.mark.claim("a5-isolation-rollback")
async def test_an_a5_fix_is_verified_in_isolation_with_a_proven_rollback(calc_project):
    before = snapshot(calc_project)
    outcome, types, events = await propose(calc_project, "A5", GOOD)

    assert outcome.status == "VERIFIED", outcome.reasons
    assert types[-3:] == ["PatchAppliedInIsolation", "VerificationRan", "RollbackRecorded"]
    applied = events[types.index("PatchAppliedInIsolation")].payload
    assert Path(applied["worktree"]).resolve() != calc_project.resolve()
    assert events[-1].payload["proven"] is True
    assert outcome.rollback_diff
    assert snapshot(calc_project) == before


@pytest.mark.claim("a5-isolation-rollback")
async def test_an_a5_fix_that_fails_verification_is_reported_and_never_applied(calc_project):
    before = snapshot(calc_project)
    outcome, types, events = await propose(calc_project, "A5", WRONG)

    assert outcome.status == "VERIFICATION_FAILED", outcome.reasons
    ran = events[types.index("VerificationRan")].payload
    assert ran["exit_code"] != 0
    assert snapshot(calc_project) == before
