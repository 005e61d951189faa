"""Claim concurrency-caps: upstream concurrency caps hold across simultaneous missions."""

from __future__ import annotations

import pytest

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action

pytestmark = pytest.mark.claim("concurrency-caps")

SLOW_TURNS = [
    {"delay_seconds": 0.05, **tool_action("ls", path=".")},
    {"delay_seconds": 0.05, **final_action(status="PARTIAL")},
]


async def test_the_per_model_cap_holds_across_twelve_missions(buggy_project, mission_runner):
    async with ScriptedUpstream({"kimi-k2.6": SLOW_TURNS * 12}) as upstream:
        runs = await mission_runner.run_many(
            buggy_project,
            upstream,
            [handoff_text(mission_id=f"m-cap-{n}") for n in range(12)],
            MODEL_CONCURRENCY_JSON={"kimi-k2.6": 2},
        )
        assert upstream.max_in_flight["kimi-k2.6"] == 2
    assert len({run.outcome.run_id for run in runs}) == 12


async def test_the_global_cap_holds_across_twelve_missions(buggy_project, mission_runner):
    async with ScriptedUpstream({"kimi-k2.6": SLOW_TURNS * 12}) as upstream:
        await mission_runner.run_many(
            buggy_project,
            upstream,
            [handoff_text(mission_id=f"m-global-{n}") for n in range(12)],
            MAX_GLOBAL_UPSTREAM_CONCURRENCY=3,
        )
        assert upstream.max_total_in_flight == 3
