"""A3-open through the bridge: mission-a3-<profile> runs it; the answer carries the questions."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from bridge_helpers import LOCAL_KEY, bridge_settings

from pytest_opencode_bridge.harness import tool_action
from runtime.answer import extract_report
from runtime.mission import Tier, template

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}"}


@pytest.fixture
def project(total_project: Path) -> Path:
    return total_project


async def test_an_a3_open_handoff_runs_on_the_a3_alias_and_names_the_open_question(
    upstream, start_bridge, project
) -> None:
    bridge = await start_bridge(bridge_settings(upstream.base_url), project_root=project)
    mission = template(Tier.A3, "x", "m-open-http")
    mission.update(
        tier="A3-open",
        objective="Which slice drops the last item? Who calls total?",
        questions=["Which slice drops the last item?", "Who calls total?"],
    )
    del mission["mode"]
    read = tool_action("read", "read it", path="src/app.py", start_line=1, end_line=2)
    finding = {
        "claim": "The slice items[:-1] drops the last item",
        "quote": "return sum(items[:-1])",
        "evidence_refs": ["file:src/app.py#L1-L2"],
        "confidence": "HIGH",
    }
    report = {
        "status": "COMPLETE",
        "confidence": "HIGH",
        "findings": [finding],
        "uncertainties": [],
        "caveats": [],
    }
    upstream.set_script(
        {"kimi-k2.6": [read, {"action": {"action_type": "final_report", "report": report}}]}
    )
    body = {
        "model": "mission-a3-kimi",
        "stream": False,
        "input": [
            {
                "role": "user",
                "content": f"<OSS_HANDOFF_JSON>{json.dumps(mission)}</OSS_HANDOFF_JSON>",
            }
        ],
    }
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(f"{bridge}/responses", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    text = answer.json()["output"][-1]["content"][0]["text"]
    got = extract_report(text)
    assert got["status"] == "PARTIAL"
    assert [q["state"] for q in got["obligations"]] == ["answered", "evidence_seen"]
    assert "q2 (Who calls total?)" in text
    graph = project / ".codex-oss/missions/m-open-http/answer_graph.json"
    assert json.loads(graph.read_text())["sufficient"] is False
