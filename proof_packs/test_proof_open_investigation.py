"""Claim open-investigation: an A3-open mission derives the questions its report must answer,
and is COMPLETE only when each is answered by a finding that quotes the lines it cites; the
state of every question is in answer_graph.json."""

from __future__ import annotations

import json

import pytest

from pytest_opencode_bridge.harness import tool_action
from runtime.mission import Tier, template

pytestmark = pytest.mark.claim("open-investigation")

OBJECTIVE = "Which loop bound skips the last item? What does total return?"
READ = tool_action("read", "read total", path="src/app.py", start_line=1, end_line=5)
BOUND = {
    "claim": "The loop bound range(len(items) - 1) skips the last item",
    "quote": "for i in range(len(items) - 1):",
    "evidence_refs": ["file:src/app.py#L1-L5"],
    "confidence": "HIGH",
}
RETURNS = {
    "claim": "total returns the accumulated result",
    "quote": "return result",
    "evidence_refs": ["file:src/app.py#L1-L5"],
    "confidence": "HIGH",
}


def report_turn(*findings: dict) -> dict:
    report = {
        "status": "COMPLETE",
        "confidence": "HIGH",
        "findings": list(findings),
        "uncertainties": [],
        "caveats": [],
    }
    return {"action": {"action_type": "final_report", "reason": "done", "report": report}}


def handoff(mission_id: str) -> str:
    """The origin document's label: tier "A3-open" (no mode needed)."""
    mission = template(Tier.A3, OBJECTIVE, mission_id)
    mission["tier"] = "A3-open"
    del mission["mode"]
    return f"<OSS_HANDOFF_JSON>{json.dumps(mission)}</OSS_HANDOFF_JSON>"


async def test_every_question_answered_with_a_quote_is_complete(buggy_project, mission_runner):
    script = {"kimi-k2.6": [READ, report_turn(BOUND, RETURNS)]}
    run = await mission_runner.run(buggy_project, script, handoff=handoff("open-all"))
    assert run.outcome.status == "COMPLETE", run.outcome.final_text
    graph = json.loads((run.outcome.artifacts / "answer_graph.json").read_text())
    assert graph["sufficient"] is True
    assert [q["state"] for q in graph["questions"]] == ["answered", "answered"]
    assert "Which loop bound skips the last item?" in run.requests[0].body["messages"][1]["content"]


async def test_an_unanswered_question_keeps_it_partial_and_is_named(buggy_project, mission_runner):
    script = {"kimi-k2.6": [READ, report_turn(BOUND)]}
    run = await mission_runner.run(buggy_project, script, handoff=handoff("open-half"))
    assert run.outcome.status == "PARTIAL"
    assert "q2 (What does total return?)" in run.outcome.final_text
    graph = json.loads((run.outcome.artifacts / "answer_graph.json").read_text())
    assert graph["sufficient"] is False
    assert [q["state"] for q in graph["questions"]] == ["answered", "evidence_seen"]


async def test_an_answer_without_a_quote_does_not_count(buggy_project, mission_runner):
    unquoted = [{k: v for k, v in f.items() if k != "quote"} for f in (BOUND, RETURNS)]
    script = {"kimi-k2.6": [READ, report_turn(*unquoted)]}
    run = await mission_runner.run(buggy_project, script, handoff=handoff("open-unquoted"))
    assert run.outcome.status == "PARTIAL"
