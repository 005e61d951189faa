"""Mission ids are single-use: run, replay or refuse a request whose id already ran."""

from __future__ import annotations

import dataclasses

import pytest

from runtime.mission_ids import PriorRun, Reuse, judge, refusal, replay_note

MISSION = {"mission_id": "m-1", "objective": "Find the bug."}
PRIOR = PriorRun(
    mission_id="m-1",
    run_id="run-a",
    status="FAILED",
    closure_reason="action_parse_failed",
    finalized_at="2026-01-01T00:00:00+00:00",
    mission=MISSION,
    alias="mission-a3-kimi",
    report={"mission_id": "m-1", "status": "FAILED"},
)


@pytest.mark.parametrize(
    ("prior", "mission", "alias", "verdict"),
    [
        (None, MISSION, "mission-a3-kimi", Reuse.RUN),
        (PRIOR, MISSION, "mission-a3-kimi", Reuse.REPLAY),
        (PRIOR, {**MISSION, "objective": "Other."}, "mission-a3-kimi", Reuse.REFUSE),
        (PRIOR, MISSION, "mission-a3-deepseek", Reuse.REFUSE),
        (dataclasses.replace(PRIOR, closure_reason="client_disconnected"), MISSION, "x", Reuse.RUN),
        (dataclasses.replace(PRIOR, finalized_at=None), {}, "x", Reuse.RUN),
        (
            dataclasses.replace(PRIOR, unreadable="torn line"),
            MISSION,
            "mission-a3-kimi",
            Reuse.REFUSE,
        ),
    ],
    ids=["new", "same", "other-handoff", "other-alias", "undelivered", "unfinished", "bad-log"],
)
def test_judge(prior, mission, alias, verdict):
    assert judge(prior, mission, alias) is verdict


def test_the_refusal_names_the_id_the_run_the_report_and_the_fix():
    message = refusal(PRIOR)
    for part in (
        "'m-1'",
        "run-a",
        "FAILED",
        ".codex-oss/missions/m-1/report.json",
        "new mission_id",
    ):
        assert part in message
    assert "torn line" in refusal(dataclasses.replace(PRIOR, unreadable="torn line"))


def test_the_replay_note_says_nothing_ran_again():
    assert "run-a" in replay_note(PRIOR) and "nothing was run again" in replay_note(PRIOR)
