"""Profiles are data: a profile MODEL_MAP_JSON adds is served by the bridge like a built-in one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from bridge_helpers import LOCAL_KEY, bridge_settings

from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action
from runtime.answer import extract_report

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}"}
QWEN_MAP = {"qwen": "qwen3.6-plus", "glm": {"model": "glm-5", "tiers": ["A2", "A3"]}}


@pytest.fixture
def project(total_project: Path) -> Path:
    return total_project


@pytest.fixture
async def bridge(upstream, start_bridge, project) -> str:
    settings = bridge_settings(upstream.base_url, MODEL_MAP_JSON=QWEN_MAP)
    return await start_bridge(settings, project_root=project)


async def test_models_lists_the_added_profiles_aliases_within_their_tiers(bridge) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        listed = (await http.get(f"{bridge}/models", headers=AUTH)).json()
    ids = {model["id"] for model in listed["data"]}
    assert {f"mission-a{t}-qwen" for t in range(2, 7)} <= ids
    assert {"mission-a2-glm", "mission-a3-glm"} <= ids
    assert "mission-a5-glm" not in ids


async def test_a_mission_on_an_added_profile_calls_its_upstream_model(
    bridge, upstream, project
) -> None:
    read = tool_action("read", "read it", path="src/app.py", start_line=1, end_line=2)
    report = final_action(refs=["file:src/app.py#L1-L2"], claim="total() sums items[:-1]")
    upstream.set_script({"qwen3.6-plus": [read, report]})
    body = {
        "model": "mission-a3-qwen",
        "stream": False,
        "input": [{"role": "user", "content": handoff_text("What does total do?", "m-qwen")}],
    }
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(f"{bridge}/responses", json=body, headers=AUTH)
    assert answer.status_code == 200
    text = answer.json()["output"][-1]["content"][0]["text"]
    assert extract_report(text)["status"] == "COMPLETE"
    record = json.loads((project / ".codex-oss/missions/m-qwen/run_record.json").read_text())
    route = record["record"]["route"]
    assert route["profile"] == "qwen"
    assert route["upstream_model"] == "qwen3.6-plus"
    assert {r.body["model"] for r in upstream.chat_requests()} == {"qwen3.6-plus"}


async def test_a_tier_the_profile_may_not_run_is_refused_before_any_upstream_call(
    bridge, upstream
) -> None:
    body = {
        "model": "mission-a4-glm",
        "input": [{"role": "user", "content": handoff_text("Fix it", "m-glm")}],
    }
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(f"{bridge}/responses", json=body, headers=AUTH)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "tier_not_allowed_for_profile"
    assert "A2, A3" in error["message"]
    assert upstream.chat_requests() == []
