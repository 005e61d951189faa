"""Capability scorecards: folded from real run logs, kept on disk, read by admission."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.eventlog import MissionEventLog
from runtime.events import (
    MissionAdmitted,
    MissionFinalized,
    ModelActionProposed,
    ReportProposed,
    ReportValidated,
    Route,
)
from runtime.record import reduce
from runtime.registry import AdmissionError, ModelRegistry
from runtime.scorecard import (
    MIN_MISSIONS,
    check_earned,
    read_scorecard,
    rebuild_scorecards,
    record_canary,
    record_mission,
    scorecard_path,
)
from runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ROUTE = Route(alias="mission-a3-kimi", profile="kimi", upstream_model="kimi-k2.6")


def run(
    project: Path,
    number: int,
    *,
    claimed: str,
    upheld: str,
    repaired: bool = False,
    reason: str = "valid_report",
):
    """One finalized A3 run whose model claimed ``claimed`` and the runtime closed ``upheld``."""
    with MissionEventLog.create(project, f"run-{number:03d}", f"m-{number}") as log:
        log.append(MissionAdmitted(mission={"tier": "A3", "objective": "Find"}, route=ROUTE))
        log.append(
            ModelActionProposed(
                turn=1, action={"action_type": "final_report"}, valid=True, repaired=repaired
            )
        )
        log.append(ReportProposed(report={"status": claimed}))
        findings = [{"claim": "c", "evidence_refs": ["event:1"]}] if upheld == "COMPLETE" else []
        log.append(ReportValidated(status=upheld, report={"status": upheld, "findings": findings}))
        log.append(MissionFinalized(status=upheld, closure_reason=reason))
        return reduce(log.events())


def resolution(alias: str = "mission-a3-kimi"):
    return ModelRegistry(Settings(MODEL_MAP_JSON={}, FALLBACK_MODEL_MAP_JSON={})).resolve(alias)


def test_a_scorecard_counts_statuses_precision_repairs_and_value(tmp_path: Path) -> None:
    record_mission(tmp_path, run(tmp_path, 1, claimed="COMPLETE", upheld="COMPLETE"))
    record_mission(tmp_path, run(tmp_path, 2, claimed="complete", upheld="PARTIAL", repaired=True))
    record_mission(tmp_path, run(tmp_path, 3, claimed="PARTIAL", upheld="PARTIAL"))
    card = read_scorecard(tmp_path, "kimi")
    score = card.tiers["A3"]
    assert score.missions == 3
    assert score.by_status == {"COMPLETE": 1, "PARTIAL": 2}
    assert (score.model_complete, score.complete_upheld) == (2, 1)
    assert score.complete_precision == 0.5
    assert score.repairs == 1
    assert sum(score.delegation.values()) == 3


def test_folding_the_same_run_twice_counts_it_once(tmp_path: Path) -> None:
    record = run(tmp_path, 1, claimed="COMPLETE", upheld="COMPLETE")
    record_mission(tmp_path, record)
    first = scorecard_path(tmp_path, "kimi").read_text()
    record_mission(tmp_path, record)
    assert scorecard_path(tmp_path, "kimi").read_text() == first


def test_rebuild_folds_every_run_log_afresh(tmp_path: Path) -> None:
    for number in range(3):
        run(tmp_path, number, claimed="COMPLETE", upheld="COMPLETE")
    scorecard_path(tmp_path, "ghost").parent.mkdir(parents=True)
    scorecard_path(tmp_path, "ghost").write_text("{}")
    cards = rebuild_scorecards(tmp_path)
    assert set(cards) == {"kimi"}
    assert cards["kimi"].tiers["A3"].missions == 3
    assert not scorecard_path(tmp_path, "ghost").exists()
    assert json.loads(scorecard_path(tmp_path, "kimi").read_text())["profile"] == "kimi"


def test_a_profile_that_overclaims_complete_loses_the_tier_with_the_reason(tmp_path: Path) -> None:
    for number in range(MIN_MISSIONS - 1):
        record_mission(tmp_path, run(tmp_path, number, claimed="COMPLETE", upheld="PARTIAL"))
    check_earned(tmp_path, resolution())  # too few missions to judge: admitted
    record_mission(tmp_path, run(tmp_path, 99, claimed="COMPLETE", upheld="PARTIAL"))
    with pytest.raises(AdmissionError) as refused:
        check_earned(tmp_path, resolution())
    assert refused.value.code == "tier_not_earned"
    assert "upheld 0 of its 5 COMPLETE reports" in refused.value.message
    assert "codex-oss scorecard --reset kimi" in refused.value.message
    check_earned(tmp_path, resolution("mission-a2-kimi"))  # other tiers keep their own record
    check_earned(tmp_path, resolution("mission-a3-deepseek"))


def test_a_profile_with_honest_closures_keeps_its_tier(tmp_path: Path) -> None:
    for number in range(MIN_MISSIONS + 2):
        record_mission(tmp_path, run(tmp_path, number, claimed="COMPLETE", upheld="COMPLETE"))
    check_earned(tmp_path, resolution())


def test_a_profile_that_fails_nearly_every_mission_loses_the_tier(tmp_path: Path) -> None:
    for number in range(MIN_MISSIONS):
        record_mission(tmp_path, run(tmp_path, number, claimed="FAILED", upheld="FAILED"))
    with pytest.raises(AdmissionError, match="100% of its 5 missions there ended FAILED"):
        check_earned(tmp_path, resolution())


@pytest.mark.parametrize("reason", ["client_disconnected", "interrupted", "runtime_crashed"])
def test_closures_that_are_not_the_models_doing_are_not_counted(
    tmp_path: Path, reason: str
) -> None:
    for number in range(MIN_MISSIONS):
        record = run(tmp_path, number, claimed="FAILED", upheld="FAILED", reason=reason)
        record_mission(tmp_path, record)
    assert read_scorecard(tmp_path, "kimi") in (None,) or not read_scorecard(tmp_path, "kimi").tiers
    check_earned(tmp_path, resolution())


def test_canary_verdicts_are_kept_by_profile_and_survive_a_rebuild(tmp_path: Path) -> None:
    record_mission(tmp_path, run(tmp_path, 1, claimed="COMPLETE", upheld="COMPLETE"))
    record_canary(tmp_path, "kimi", "fix-page-count", True)
    record_canary(tmp_path, "kimi", "other", False)
    record_canary(tmp_path, "kimi", "other", True)  # the latest verdict counts
    card = read_scorecard(tmp_path, "kimi")
    assert card.canaries == {"fix-page-count": True, "other": True}
    assert card.canary_precision == 1.0
    assert card.tiers["A3"].missions == 1
    record_canary(tmp_path, "deepseek", "only-canary", False)
    cards = rebuild_scorecards(tmp_path)
    assert cards["kimi"].canaries == {"fix-page-count": True, "other": True}
    assert cards["kimi"].tiers["A3"].missions == 1
    assert cards["deepseek"].summary()["canary_precision"] == 0.0


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ""])
def test_a_profile_name_cannot_reach_outside_the_scorecards_folder(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ValueError):
        scorecard_path(tmp_path, name)


_CLOSER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from runtime.eventlog import load_events, run_log_path
    from runtime.record import reduce
    from runtime.scorecard import record_mission

    project, go, run_ids = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    records = [reduce(load_events(run_log_path(project, run_id))) for run_id in run_ids]
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    for record in records:
        record_mission(project, record)
    """
)


def test_two_processes_closing_missions_at_once_lose_none(tmp_path: Path) -> None:
    for number in range(60):
        run(tmp_path, number, claimed="COMPLETE", upheld="COMPLETE")
    go = tmp_path / "go"
    closers = [
        subprocess.Popen(
            [sys.executable, "-c", _CLOSER, str(tmp_path), str(go)]
            + [f"run-{number:03d}" for number in range(first, 60, 2)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for first in (0, 1)
    ]
    for closer in closers:  # both have their records in hand: the folds overlap
        assert closer.stdout is not None and closer.stdout.readline() == "ready\n"
    go.touch()
    assert [closer.wait(timeout=60) for closer in closers] == [0, 0]
    card = read_scorecard(tmp_path, "kimi")
    assert sorted(card.runs) == [f"run-{number:03d}" for number in range(60)]
    assert card.tiers["A3"].missions == 60
