"""The patch state read off the RunRecord: verdicts, hashes and promotion, from real logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.eventlog import MissionEventLog
from runtime.events import (
    MissionAdmitted,
    PatchAppliedInIsolation,
    PatchIntentProposed,
    PatchPromoted,
    PatchRolledBack,
    PatchValidated,
    ReportValidated,
    RollbackRecorded,
    Route,
    VerificationRan,
)
from runtime.explain import explain
from runtime.patches.promotion import PromotionRefused, promote, rollback
from runtime.patches.verdict import NO_VERIFICATION_COMMANDS, PatchState, patch_state
from runtime.record import reduce

ROUTE = Route(alias="mission-a5-kimi", profile="kimi", upstream_model="kimi-k2.6")
DIFF, ROLLBACK = "sha256:" + "d" * 64, "sha256:" + "r" * 64
CHECK = ["python", "-m", "pytest"]


def mission(tier: str = "A5", commands: int = 1) -> dict:
    verification = {"commands": [CHECK] * commands, "timeout_seconds": 30}
    return {"mission_id": "m-1", "tier": tier, "objective": "fix", "verification": verification}


def validated(ok: bool = True, **fields) -> PatchValidated:
    if not ok:
        return PatchValidated(ok=False, reasons=["not_owned: x"], **fields)
    return PatchValidated(ok=True, diff_sha256=DIFF, files_changed=["calc/stats.py"], **fields)


def ran(exit_code: int | None = 0, timed_out: bool = False) -> VerificationRan:
    return VerificationRan(argv=CHECK, exit_code=exit_code, timed_out=timed_out, duration_ms=1.0)


APPLIED = PatchAppliedInIsolation(
    worktree=".codex-oss/worktrees/m-1", base_commit="c0", diff_sha256=DIFF
)
CLOSED = RollbackRecorded(diff_sha256=DIFF, rollback_sha256=ROLLBACK, proven=True)
VERIFIED_RUN = [PatchIntentProposed(intent={}), validated(), APPLIED, ran(), CLOSED]


def write_log(root: Path, payloads: list[Any], tier: str = "A5", commands: int = 1) -> Path:
    with MissionEventLog.create(root, "run-1", "m-1") as log:
        log.append(MissionAdmitted(mission=mission(tier, commands), route=ROUTE))
        for payload in payloads:
            log.append(
                payload,
                "cli" if isinstance(payload, PatchPromoted | PatchRolledBack) else "runtime",
            )
        return log.path


def state(root: Path, payloads: list[Any], **kwargs) -> PatchState | None:
    with MissionEventLog.open(write_log(root, payloads, **kwargs)) as log:
        return patch_state(reduce(log.events()))


def test_a_run_without_a_proposal_has_no_patch_state(tmp_path: Path) -> None:
    assert state(tmp_path, []) is None


def test_a_verified_run_carries_its_hashes(tmp_path: Path) -> None:
    found = state(tmp_path, VERIFIED_RUN)
    assert found is not None and found.verdict is not None
    assert (found.verdict.status, found.verdict.reasons) == ("VERIFIED", [])
    assert (found.diff_sha256, found.rollback_sha256) == (DIFF, ROLLBACK)
    assert found.files_changed == ["calc/stats.py"] and not found.promoted


@pytest.mark.parametrize(
    ("payloads", "status", "reasons"),
    [
        ([PatchIntentProposed(intent={}), validated(ok=False)], "REJECTED", ["not_owned: x"]),
        (
            [PatchIntentProposed(intent={}), validated(ok=False, escalate=True)],
            "ESCALATE",
            ["not_owned: x"],
        ),
        (
            [PatchIntentProposed(intent={}), validated(), APPLIED, ran(1), CLOSED],
            "VERIFICATION_FAILED",
            ["verification_failed: python -m pytest exited 1"],
        ),
        (
            [PatchIntentProposed(intent={}), validated(), APPLIED, ran(None, True), CLOSED],
            "VERIFICATION_FAILED",
            ["verification_failed: python -m pytest timed out"],
        ),
    ],
)
def test_the_verdict_is_what_the_events_prove(tmp_path, payloads, status, reasons) -> None:
    found = state(tmp_path, payloads)
    assert found is not None and found.verdict is not None
    assert (found.verdict.status, found.verdict.reasons) == (status, reasons)


def test_an_a4_patch_is_validated_and_a5_without_commands_escalates(tmp_path: Path) -> None:
    a4 = state(tmp_path / "a4", [PatchIntentProposed(intent={}), validated(), CLOSED], tier="A4")
    assert a4 is not None and a4.verdict is not None and a4.verdict.status == "VALIDATED"
    bare = state(tmp_path / "a5", [PatchIntentProposed(intent={}), validated(), CLOSED], commands=0)
    assert bare is not None and bare.verdict is not None
    assert (bare.verdict.status, bare.verdict.reasons) == ("ESCALATE", [NO_VERIFICATION_COMMANDS])


def test_fewer_verifications_than_the_mission_lists_are_not_verified(tmp_path: Path) -> None:
    found = state(tmp_path, VERIFIED_RUN, commands=2)
    assert found is not None and found.verdict is not None
    assert found.verdict.status == "VERIFICATION_FAILED"


def test_a_rollback_of_another_diff_or_a_missing_apply_proves_nothing(tmp_path: Path) -> None:
    other = RollbackRecorded(diff_sha256="sha256:" + "0" * 64, rollback_sha256=ROLLBACK)
    stray = state(
        tmp_path / "a", [PatchIntentProposed(intent={}), validated(), APPLIED, ran(), other]
    )
    assert stray is not None and stray.verdict is None
    unapplied = state(tmp_path / "b", [PatchIntentProposed(intent={}), validated(), ran(), CLOSED])
    assert unapplied is not None and unapplied.verdict is None


def test_a_new_proposal_forgets_the_last_ones_verdict(tmp_path: Path) -> None:
    found = state(tmp_path, [*VERIFIED_RUN, PatchIntentProposed(intent={}, round=2)])
    assert found is not None and found.verdict is None and found.diff_sha256 is None


def test_a_step_that_failed_on_its_own_is_told_by_the_validated_report(tmp_path: Path) -> None:
    patch = {"status": "FAILED", "reasons": ["runtime_error: not a git repository"]}
    report = ReportValidated(status="FAILED", report={"status": "FAILED", "patch": patch})
    found = state(tmp_path, [PatchIntentProposed(intent={}), validated(), report])
    assert found is not None and found.verdict is not None
    assert (found.verdict.status, found.verdict.reasons) == ("FAILED", patch["reasons"])


def test_promotion_follows_the_last_promote_or_rollback(tmp_path: Path) -> None:
    promoted = PatchPromoted(diff_sha256=DIFF, rollback_sha256=ROLLBACK)
    back = PatchRolledBack(rollback_sha256=ROLLBACK)
    assert state(tmp_path / "a", [*VERIFIED_RUN, promoted]).promoted
    assert not state(tmp_path / "b", [*VERIFIED_RUN, promoted, back]).promoted
    assert state(tmp_path / "c", [*VERIFIED_RUN, promoted, back, promoted]).promoted


def test_promote_refuses_a_patch_whose_step_did_not_finish(tmp_path: Path) -> None:
    write_log(tmp_path, [PatchIntentProposed(intent={}), validated(), APPLIED])
    with pytest.raises(PromotionRefused, match="patch is unfinished, not VERIFIED") as refused:
        promote(tmp_path, "m-1")
    assert refused.value.code == "not_verified"


def test_rollback_refuses_a_patch_the_log_says_was_rolled_back(tmp_path: Path) -> None:
    promoted = PatchPromoted(diff_sha256=DIFF, rollback_sha256=ROLLBACK)
    write_log(tmp_path, [*VERIFIED_RUN, promoted, PatchRolledBack(rollback_sha256=ROLLBACK)])
    with pytest.raises(PromotionRefused) as refused:
        rollback(tmp_path, "m-1")
    assert refused.value.code == "no_patch"


def test_promote_refuses_a_patch_the_log_says_is_promoted(tmp_path: Path) -> None:
    write_log(tmp_path, [*VERIFIED_RUN, PatchPromoted(diff_sha256=DIFF, rollback_sha256=ROLLBACK)])
    with pytest.raises(PromotionRefused) as refused:
        promote(tmp_path, "m-1")
    assert refused.value.code == "already_promoted"


def test_explain_tells_the_patch_verdict_and_its_promotion(tmp_path: Path) -> None:
    promoted = PatchPromoted(diff_sha256=DIFF, rollback_sha256=ROLLBACK)
    with MissionEventLog.open(write_log(tmp_path, [*VERIFIED_RUN, promoted])) as log:
        lines = explain(reduce(log.events()))
    assert "patch: VERIFIED" in lines
    assert any(line.startswith("the patch is promoted into the workspace") for line in lines)
