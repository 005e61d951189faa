"""Promotion and rollback on a real workspace, driven from a real run log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.eventlog import MissionEventLog, load_events, new_run_id
from runtime.events import MissionAdmitted, ReportValidated, Route
from runtime.mission import MissionV1, Tier
from runtime.patches.artifacts import report_section, review_packet
from runtime.patches.pipeline import run_patch_step
from runtime.patches.promotion import PromotionRefused, promote, rollback
from runtime.patches.verdict import PatchVerdict, patch_state
from runtime.projections import MISSIONS_DIR, check_drift, project_log
from runtime.record import reduce
from runtime.redact import Redactor
from tests.patches.fixture_repo import (
    BUGGY,
    FIX_NEW,
    PYTEST,
    good_intent,
    mission_of,
    workspace_snapshot,
)

CODEX_OSS = str(Path(sys.executable).parent / "codex-oss")


async def run_mission_patch(
    project: Path, mission: MissionV1, intent: dict, *, evidence_refs: list[str] | None = None
) -> Path:
    """A run log holding the admission, one patch step and, when the step was judged with
    ``evidence_refs``, the validated report carrying its review adequacy, as the loop writes;
    then its projections, as a closing run writes them."""
    with MissionEventLog.create(project, new_run_id(), mission.mission_id) as log:
        log.append(
            MissionAdmitted(
                mission=mission.model_dump(mode="json"),
                route=Route(alias="mission-a5-kimi", profile="kimi", upstream_model="kimi-k2.6"),
            )
        )
        findings = [{"claim": "off by one", "evidence_refs": evidence_refs or []}]
        outcome = await run_patch_step(
            project_root=project,
            mission=mission,
            intent_data=intent,
            round=1,
            redactor=Redactor(),
            report={"findings": findings},
            append=log.append,
        )
        if evidence_refs is not None:
            verdict = PatchVerdict(outcome.status, outcome.reasons)
            folder = MISSIONS_DIR / mission.mission_id
            packet = review_packet(reduce(log.events()), verdict, outcome.diff, folder)
            assert packet is not None
            patch = {"status": outcome.status, **report_section(packet)}
            report = {"status": outcome.status, "findings": [], "patch": patch}
            log.append(ReportValidated(status=outcome.status, report=report))
        project_log(project, log)
        return log.path


def state_of(events):
    return patch_state(reduce(events))


def pytest_passes(project: Path) -> bool:
    return subprocess.run(PYTEST, cwd=project, capture_output=True).returncode == 0


async def test_promote_lands_the_fix_and_rollback_restores_the_exact_bytes(project):
    log_path = await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    before = workspace_snapshot(project)
    assert not pytest_passes(project)

    result = promote(project, "fix-moving-sum")
    assert result.files_changed == ["calc/stats.py"]
    assert FIX_NEW in (project / "calc/stats.py").read_text()
    assert pytest_passes(project)
    promoted = next(e for e in load_events(log_path) if e.event_type == "PatchPromoted")
    assert promoted.source == "cli"
    assert promoted.seq == result.event_seq

    rollback(project, "fix-moving-sum")
    assert (project / "calc/stats.py").read_text() == BUGGY
    assert workspace_snapshot(project) == before
    assert "PatchRolledBack" in [e.event_type for e in load_events(log_path)]


async def test_the_command_line_promotes_and_rolls_back(project):
    await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    args = ["--project", str(project)]
    dry = subprocess.run(
        [CODEX_OSS, "promote", "fix-moving-sum", "--dry-run", *args], text=True, capture_output=True
    )
    assert dry.returncode == 0, dry.stderr
    assert "would promote fix-moving-sum" in dry.stdout
    assert (project / "calc/stats.py").read_text() == BUGGY
    done = subprocess.run(
        [CODEX_OSS, "promote", "fix-moving-sum", *args], text=True, capture_output=True
    )
    assert done.returncode == 0 and "promoted fix-moving-sum" in done.stdout
    again = subprocess.run(
        [CODEX_OSS, "promote", "fix-moving-sum", *args], text=True, capture_output=True
    )
    assert again.returncode == 1 and "already_promoted" in again.stderr
    back = subprocess.run(
        [CODEX_OSS, "rollback", "fix-moving-sum", *args], text=True, capture_output=True
    )
    assert back.returncode == 0 and (project / "calc/stats.py").read_text() == BUGGY


async def test_dry_run_changes_nothing_and_records_nothing(project):
    log_path = await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    before = workspace_snapshot(project)
    count = len(load_events(log_path))
    result = promote(project, "fix-moving-sum", dry_run=True)
    assert result.dry_run and result.event_seq is None
    assert workspace_snapshot(project) == before
    assert len(load_events(log_path)) == count


async def test_a_changed_base_is_refused(project):
    await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    (project / "calc/stats.py").write_text(BUGGY.replace("Small", "Tiny"))
    with pytest.raises(PromotionRefused) as refused:
        promote(project, "fix-moving-sum")
    assert refused.value.code == "changed_base"
    assert "calc/stats.py" in refused.value.message


async def test_a_failed_verification_is_not_promoted(project):
    intent = good_intent()
    intent["edits"][0]["new_text"] = "range(len(values) - window - 1)"
    await run_mission_patch(project, mission_of(Tier.A5), intent)
    with pytest.raises(PromotionRefused, match="VERIFICATION_FAILED, not VERIFIED"):
        promote(project, "fix-moving-sum")
    assert (project / "calc/stats.py").read_text() == BUGGY


async def test_an_a4_patch_needs_allow_unverified(project):
    await run_mission_patch(project, mission_of(Tier.A4), good_intent())
    with pytest.raises(PromotionRefused, match="--allow-unverified"):
        promote(project, "fix-moving-sum")
    promote(project, "fix-moving-sum", allow_unverified=True)
    assert FIX_NEW in (project / "calc/stats.py").read_text()


async def test_rollback_refuses_files_edited_after_promotion(project):
    await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    promote(project, "fix-moving-sum")
    edited = (project / "calc/stats.py").read_text() + "# user edit\n"
    (project / "calc/stats.py").write_text(edited)
    with pytest.raises(PromotionRefused) as refused:
        rollback(project, "fix-moving-sum")
    assert refused.value.code == "changed_since_promotion"
    assert (project / "calc/stats.py").read_text() == edited


async def test_a_tampered_patch_file_is_refused(project):
    await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    patch = project / ".codex-oss/missions/fix-moving-sum/patch.diff"
    patch.write_text(patch.read_text().replace("+ 1", "+ 2"))
    with pytest.raises(PromotionRefused) as refused:
        promote(project, "fix-moving-sum")
    assert refused.value.code == "artifact_changed"


async def test_rollback_without_promotion_is_refused(project):
    await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    with pytest.raises(PromotionRefused) as refused:
        rollback(project, "fix-moving-sum")
    assert refused.value.code == "no_patch"


def test_unknown_missions_and_bad_ids_are_refused(project):
    with pytest.raises(PromotionRefused) as refused:
        promote(project, "never-ran")
    assert refused.value.code == "no_run"
    with pytest.raises(PromotionRefused) as refused:
        promote(project, "../escape")
    assert refused.value.code == "invalid_mission_id"


async def test_the_patch_state_follows_the_last_proposal(project):
    mission = mission_of(Tier.A5)
    with MissionEventLog.create(project, new_run_id(), mission.mission_id) as log:
        log.append(
            MissionAdmitted(
                mission=mission.model_dump(mode="json"),
                route=Route(alias="a", profile="kimi", upstream_model="m"),
            )
        )
        common = dict(
            project_root=project,
            mission=mission,
            redactor=Redactor(),
            report=None,
            append=log.append,
        )
        bad = {"edits": [{"path": "README.md", "operation": "append", "new_text": "x\n"}]}
        await run_patch_step(intent_data=bad, round=1, **common)
        assert state_of(log.events()).verdict.status == "REJECTED"
        await run_patch_step(intent_data=good_intent(), round=2, **common)
        state = state_of(log.events())
    assert state.verdict.status == "VERIFIED"
    assert state.files_changed == ["calc/stats.py"]
    assert not state.promoted


def a6_release_intent() -> dict:
    """The fixture's fix plus a release bump on the critical path, so verification passes."""
    intent = good_intent(rationale="fix the window count and bump the release")
    intent["edits"].append(
        {
            "path": "deploy/release.py",
            "operation": "replace_exact",
            "old_text": "VERSION = '1.0'",
            "new_text": "VERSION = '1.1'",
        }
    )
    return intent


async def test_an_a6_patch_to_a_critical_path_is_verified_in_isolation_but_never_promoted(
    project,
):
    mission = mission_of(
        Tier.A6,
        owned_paths=["calc", "deploy"],
        critical_path_read_allowed=True,
        critical_path_reason="rehearse the release bump",
    )
    log_path = await run_mission_patch(project, mission, a6_release_intent())
    assert state_of(load_events(log_path)).verdict.status == "VERIFIED"
    packet = json.loads(
        (project / ".codex-oss/missions/fix-moving-sum/review_packet.json").read_text()
    )
    assert packet["mode"] == "REHEARSAL"
    assert packet["changed_paths"] == ["calc/stats.py", "deploy/release.py"]
    before = workspace_snapshot(project)

    for kwargs in ({}, {"dry_run": True}, {"allow_unverified": True}):
        with pytest.raises(PromotionRefused) as refused:
            promote(project, "fix-moving-sum", **kwargs)
        assert refused.value.code == "rehearsal_only"
        assert "critical-path rehearsal" in refused.value.message
    assert workspace_snapshot(project) == before
    assert "PatchPromoted" not in [e.event_type for e in load_events(log_path)]


async def test_the_command_line_refuses_to_promote_an_a6_rehearsal(project):
    mission = mission_of(
        Tier.A6,
        owned_paths=["calc", "deploy"],
        critical_path_read_allowed=True,
        critical_path_reason="rehearse the release bump",
    )
    await run_mission_patch(project, mission, a6_release_intent())
    refused = subprocess.run(
        [CODEX_OSS, "promote", "fix-moving-sum", "--dry-run", "--project", str(project)],
        text=True,
        capture_output=True,
    )
    assert refused.returncode == 1
    assert "rehearsal_only" in refused.stdout + refused.stderr
    assert (project / "deploy/release.py").read_text() == "VERSION = '1.0'\n"


def test_the_review_markdown_of_a_rehearsal_offers_no_promote_command():
    from runtime.patches.review import render_markdown

    packet = {
        "status": "VERIFIED",
        "mission_id": "m",
        "tier": "A6",
        "mode": "REHEARSAL",
        "task": "t",
        "reasons": [],
        "changed_paths": [],
        "verification": [],
        "model_claims": {"rationale": ""},
        "caveats": [],
        "denials": [],
        "review_questions": [],
        "adequacy": {"adequate": True, "gaps": []},
        "artifacts": {},
    }
    text = render_markdown(packet)
    assert "REHEARSAL, never promoted" in text
    assert "codex-oss promote m`" not in text and "refuses it" in text
    assert "Promote with" in render_markdown({**packet, "tier": "A5", "mode": "PROMOTABLE"})


async def test_projections_stay_current_after_promote_and_rollback(project):
    log_path = await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    assert check_drift(project, "fix-moving-sum", load_events(log_path)) == []
    directory = project / ".codex-oss/missions/fix-moving-sum"

    promote(project, "fix-moving-sum")
    assert check_drift(project, "fix-moving-sum", load_events(log_path)) == []
    assert json.loads((directory / "implementation_report.json").read_text())["promoted"] is True

    rollback(project, "fix-moving-sum")
    assert check_drift(project, "fix-moving-sum", load_events(log_path)) == []
    report = json.loads((directory / "implementation_report.json").read_text())
    assert (report["promoted"], report["rolled_back"]) == (False, True)
    decisions = json.loads((directory / "decision_trace.json").read_text())["decisions"]
    assert [d["decision"] for d in decisions][-2:] == ["patch_promoted", "patch_rolled_back"]


async def test_an_inadequate_review_packet_needs_force_and_the_log_records_it(project):
    # No evidence refs: the packet cannot tie the model's claims to what it read.
    log_path = await run_mission_patch(
        project, mission_of(Tier.A5), good_intent(), evidence_refs=[]
    )
    with pytest.raises(PromotionRefused) as refused:
        promote(project, "fix-moving-sum")
    assert refused.value.code == "inadequate_review"
    assert "no evidence references" in refused.value.message
    assert "--force" in refused.value.message
    assert (project / "calc/stats.py").read_text() == BUGGY

    promote(project, "fix-moving-sum", force=True)
    promoted = next(e for e in load_events(log_path) if e.event_type == "PatchPromoted")
    assert promoted.payload["forced"] is True
    assert any("no evidence references" in gap for gap in promoted.payload["adequacy_gaps"])


async def test_an_adequate_review_packet_promotes_without_force(project):
    log_path = await run_mission_patch(
        project, mission_of(Tier.A5), good_intent(), evidence_refs=["file:calc/stats.py#L1-6"]
    )
    promote(project, "fix-moving-sum")
    promoted = next(e for e in load_events(log_path) if e.event_type == "PatchPromoted")
    assert promoted.payload["forced"] is False


async def test_audit_mission_is_clean_after_the_command_line_promotes_and_rolls_back(project):
    await run_mission_patch(project, mission_of(Tier.A5), good_intent())
    args = ["--project", str(project)]

    def cli(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CODEX_OSS, *words, *args], text=True, capture_output=True)

    for step in (("promote", "fix-moving-sum"), ("rollback", "fix-moving-sum")):
        assert cli(*step).returncode == 0
        audit = cli("audit-mission", "fix-moving-sum", "--json")
        assert audit.returncode == 0, audit.stdout + audit.stderr
