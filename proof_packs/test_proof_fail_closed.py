"""Claim fail-closed-reporting: no evidence, bad output or exhausted budgets never end COMPLETE."""

from __future__ import annotations

import pytest

from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action

pytestmark = pytest.mark.claim("fail-closed-reporting")


async def test_complete_without_reading_anything_is_downgraded(buggy_project, mission_runner):
    run = await mission_runner.run(
        buggy_project, {"kimi-k2.6": [final_action(refs=["file:src/app.py#L3-L3"])]}
    )

    assert run.outcome.status == "PARTIAL"
    assert run.outcome.report["findings"] == []
    rejected = run.outcome.report["rejected_findings"][0]
    assert rejected["reason"] == "no evidence that resolves in the log"


async def test_evidence_that_does_not_resolve_is_not_accepted(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [
            tool_action("read", path="src/app.py", start_line=1, end_line=2),
            final_action(refs=["file:src/app.py#L40-L50", "event:999"]),
        ]
    }
    run = await mission_runner.run(buggy_project, script)

    assert (run.outcome.status, run.outcome.closure_reason) == ("PARTIAL", "valid_report")
    assert run.outcome.report["findings"] == []  # neither ref survived resolution
    rejected = run.outcome.report["rejected_findings"][0]
    assert rejected["evidence_refs"] == ["file:src/app.py#L40-L50", "event:999"]
    assert rejected["reason"] == "no evidence that resolves in the log"


async def test_invalid_model_output_twice_fails_honestly(buggy_project, mission_runner):
    script = {"kimi-k2.6": [{"content": "the answer is 42"}, {"content": "{oops"}]}
    run = await mission_runner.run(buggy_project, script)

    assert (run.outcome.status, run.outcome.closure_reason) == ("FAILED", "action_parse_failed")


async def test_an_exhausted_tool_budget_closes_partial(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [
            tool_action("ls", path="."),
            tool_action("read", path="src/app.py"),
            final_action(refs=["file:src/app.py#L1-L5"]),
        ]
    }
    run = await mission_runner.run(buggy_project, script, handoff=handoff_text(tool_budget=1))

    assert run.outcome.closure_reason == "budget_exhausted"
    assert run.outcome.status == "PARTIAL"
