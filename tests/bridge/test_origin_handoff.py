"""The origin document's handoff, pasted as a user would, through the bridge over HTTP: it is
admitted and, against a chatty but honest model, closes COMPLETE in the JSON and the SSE answer."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from bridge_helpers import LOCAL_KEY, bridge_settings
from sse_events import done_items, sse_events

from pytest_opencode_bridge.harness import make_git_project
from runtime.answer import extract_report

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}"}
ORIGIN_HANDOFF = (Path(__file__).parents[1] / "fixtures" / "origin-handoff.md").read_text()
BRIDGE_PY = (
    "def start(mission):\n    # managed runtime streaming starts here\n    return stream(mission)\n"
)
READ = {
    "action_type": "tool_call",
    "tool_name": "read",
    "arguments": {"path": "bridge.py"},
    "reason": "the objective names it",
    "phase": "investigate",
}
REPORT = {
    "action_type": "final_report",
    "phase": "report",
    "report": {
        "status": "complete",
        "confidence": "high",
        "findings": [
            {
                "claim": "managed runtime streaming starts in start(), which returns stream()",
                "evidence_refs": ["file:bridge.py#L1-L3"],
                "quote": "# managed runtime streaming starts here",
                "confidence": "high",
            }
        ],
        "uncertainties": [],
        "caveats": [],
        "escalation_recommendation": None,
    },
}


def chatty_turns() -> list[dict]:
    return [
        {"content": "First I read the file:\n" + json.dumps(READ)},
        {"content": "```json\n" + json.dumps(REPORT) + "\n```"},
    ]


@pytest.fixture
async def origin_bridge(upstream, start_bridge, tmp_path) -> str:
    project = make_git_project(tmp_path / "project", {"bridge.py": BRIDGE_PY})
    return await start_bridge(bridge_settings(upstream.base_url), project_root=project)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_the_origin_handoff_completes_through_the_bridge(origin_bridge, upstream, stream):
    upstream.set_script({"kimi-k2.6": chatty_turns()})
    body = {"model": "mission-a3-kimi", "stream": stream, "input": ORIGIN_HANDOFF}
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(f"{origin_bridge}/responses", json=body, headers=AUTH)

    assert response.status_code == 200, response.text
    items = done_items(sse_events(response.text)) if stream else response.json()["output"]
    final = items[-1]
    report = extract_report(final["content"][0]["text"])
    assert report is not None
    assert (report["mission_id"], report["status"]) == (
        "mission_find_runtime_streaming",
        "COMPLETE",
    )
    assert report["files_inspected"] == ["bridge.py"]
    assert report["rejected_findings"] == []
