"""Claim usage-accounting: each mission's usage.json carries the upstream's own token counts,
the GPT-side review and displacement estimates and a delegation verdict, and the profile's
scorecard counts the mission; admission refuses a tier a profile has lost."""

from __future__ import annotations

import json

import pytest

from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action
from runtime.registry import AdmissionError
from runtime.scorecard import MIN_MISSIONS, read_scorecard

pytestmark = pytest.mark.claim("usage-accounting")

READ = tool_action("read", path="src/app.py", start_line=1, end_line=5)


async def test_usage_is_recorded_from_the_upstreams_counts(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [
            {**READ, "usage": {"prompt_tokens": 410, "completion_tokens": 41}},
            {
                **final_action(refs=["file:src/app.py#L3-L4"], claim="range stops one early"),
                "usage": {"prompt_tokens": 620, "completion_tokens": 62},
            },
        ]
    }
    run = await mission_runner.run(buggy_project, script)
    usage = json.loads((run.outcome.artifacts / "usage.json").read_text())
    calls = run.events_of("ModelCalled")
    assert usage["oss_input_tokens"] == sum(e.payload["input_tokens"] for e in calls) == 1030
    assert usage["oss_output_tokens"] == 103
    assert usage["gpt_displaced_tokens"] > 0 and usage["gpt_review_tokens"] > 0
    assert usage["delegation_value"] in {"good", "marginal", "poor"} and usage["reasons"]
    card = read_scorecard(buggy_project, "kimi")
    assert card is not None and card.tiers["A3"].missions == 1


async def test_a_profile_that_overclaims_loses_the_tier(buggy_project, mission_runner):
    overclaim = final_action(refs=["file:src/nowhere.py#L1-L2"], claim="it is elsewhere")
    for number in range(MIN_MISSIONS):
        run = await mission_runner.run(
            buggy_project, {"kimi-k2.6": [overclaim]}, handoff=handoff_text(mission_id=f"o{number}")
        )
        assert run.outcome.status != "COMPLETE"
    with pytest.raises(AdmissionError, match="has not earned tier A3"):
        await mission_runner.run(buggy_project, {"kimi-k2.6": [overclaim]})
