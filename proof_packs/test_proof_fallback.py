"""Claim provider-fallback: provider errors retry, fall back along the chain, or fail closed."""

from __future__ import annotations

import pytest

from pytest_opencode_bridge.harness import final_action, tool_action

pytestmark = pytest.mark.claim("provider-fallback")


async def test_a_failing_primary_falls_back_to_the_next_model(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [{"status": 500}] * 4,
        "deepseek-v4-pro": [
            tool_action("read", path="src/app.py"),
            final_action(refs=["file:src/app.py#L3-L3"], quote="range(len(items) - 1)"),
        ],
    }
    run = await mission_runner.run(buggy_project, script)

    assert run.outcome.status == "COMPLETE"
    outcomes = [event.payload["outcome"] for event in run.events_of("ModelCalled")]
    assert "fallback" in outcomes
    assert {request.model for request in run.requests} >= {"kimi-k2.6", "deepseek-v4-pro"}


async def test_a_rate_limit_is_retried(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [
            {"status": 429, "headers": {"Retry-After": "0"}},
            tool_action("read", path="src/app.py"),
            final_action(refs=["file:src/app.py#L3-L3"], quote="range(len(items) - 1)"),
        ]
    }
    run = await mission_runner.run(buggy_project, script)

    assert run.outcome.status == "COMPLETE"
    assert [request.model for request in run.requests].count("kimi-k2.6") == 3


async def test_every_provider_failing_closes_failed_with_the_reason(buggy_project, mission_runner):
    run = await mission_runner.run(buggy_project, {"*": [{"status": 500}] * 30})

    assert (run.outcome.status, run.outcome.closure_reason) == ("FAILED", "model_call_failed")
    assert "500" in run.outcome.report["closure"]["detail"]
