"""Usage and scorecards over the real bridge and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from bridge_helpers import LOCAL_KEY, bridge_settings

from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action
from runtime.scorecard import MIN_MISSIONS

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}"}
CODEX_OSS = str(Path(sys.executable).with_name("codex-oss"))
READ = tool_action("read", "read it", path="src/app.py", start_line=1, end_line=2)
EVIDENCE = "file:src/app.py#L1-L2"


@pytest.fixture
def project(total_project: Path) -> Path:
    return total_project


@pytest.fixture
async def bridge(upstream, start_bridge, project) -> str:
    return await start_bridge(bridge_settings(upstream.base_url), project_root=project)


async def post_mission(bridge: str, mission_id: str) -> httpx.Response:
    body = {
        "model": "mission-a3-kimi",
        "stream": False,
        "input": [{"role": "user", "content": handoff_text("What does total do?", mission_id)}],
    }
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(f"{bridge}/responses", json=body, headers=AUTH)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CODEX_OSS, *args], text=True, capture_output=True, timeout=60)


async def test_usage_reports_tokens_and_the_delegation_verdict_of_each_mission(
    bridge, upstream, project
) -> None:
    report = final_action(refs=[EVIDENCE], claim="total() sums items[:-1]")
    upstream.set_script(
        {
            "kimi-k2.6": [
                {**READ, "usage": {"prompt_tokens": 300, "completion_tokens": 30}},
                {**report, "usage": {"prompt_tokens": 500, "completion_tokens": 50}},
            ]
        }
    )
    assert (await post_mission(bridge, "m-usage")).status_code == 200

    shown = cli("usage", "--project", str(project), "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    [mission] = body["missions"]
    assert mission["mission_id"] == "m-usage"
    assert (mission["oss_input_tokens"], mission["oss_output_tokens"]) == (800, 80)
    assert mission["gpt_review_tokens"] > 0
    assert mission["delegation_value"] in {"good", "marginal", "poor"}
    assert body["profiles"]["kimi"]["missions"] == 1
    usage_file = project / ".codex-oss/missions/m-usage/usage.json"
    assert json.loads(usage_file.read_text())["oss_input_tokens"] == 800
    assert "m-usage" in cli("usage", "--project", str(project)).stdout


async def test_a_profile_that_overclaims_complete_is_refused_the_tier_over_http(
    bridge, upstream, project
) -> None:
    # The model claims COMPLETE citing a range it never read: the runtime downgrades each one.
    overclaim = final_action(refs=["file:src/other.py#L1-L9"], claim="it is elsewhere")
    upstream.set_script({"kimi-k2.6": [overclaim] * MIN_MISSIONS})
    for number in range(MIN_MISSIONS):
        answer = await post_mission(bridge, f"m-over-{number}")
        assert answer.status_code == 200
    card = json.loads(cli("scorecard", "kimi", "--project", str(project), "--json").stdout)
    assert card[0]["tiers"]["A3"]["missions"] == MIN_MISSIONS
    assert card[0]["tiers"]["A3"]["complete_precision"] == 0.0

    calls_before = len(upstream.chat_requests())
    refused = await post_mission(bridge, "m-refused")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "tier_not_earned"
    assert "scorecard --reset kimi" in refused.json()["error"]["message"]
    assert len(upstream.chat_requests()) == calls_before

    assert cli("scorecard", "kimi", "--reset", "--project", str(project)).returncode == 0
    upstream.set_script({"kimi-k2.6": [READ, final_action(refs=[EVIDENCE], claim="sums")]})
    assert (await post_mission(bridge, "m-again")).status_code == 200
