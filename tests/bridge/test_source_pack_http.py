"""Source-pack recovery as a Codex client sees it: the SSE answer completes with the pack."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from bridge_helpers import LOCAL_KEY, bridge_settings
from sse_events import done_items, sse_events

from pytest_opencode_bridge.harness import handoff_text, tool_action
from runtime.answer import extract_report

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}"}


@pytest.fixture
def project(total_project: Path) -> Path:
    return total_project


async def test_a_model_that_answers_prose_after_reading_yields_the_source_pack(
    upstream, start_bridge, project
) -> None:
    bridge = await start_bridge(bridge_settings(upstream.base_url), project_root=project)
    read = tool_action("read", "read it", path="src/app.py", start_line=1, end_line=2)
    prose = {"content": "Sure! The function sums the items. Hope this helps."}
    upstream.set_script({"kimi-k2.6": [read, prose, prose]})
    body = {
        "model": "mission-a3-kimi",
        "stream": True,
        "input": [{"role": "user", "content": handoff_text("What does total do?", "m-pack")}],
    }
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(f"{bridge}/responses", json=body, headers=AUTH)
    events = sse_events(answer.text)
    assert events[-1]["type"] == "response.completed"
    final = done_items(events)[-1]["content"][0]["text"]
    assert "Synthesis status: SOURCE_PACK_RECOVERY" in final
    report = extract_report(final)
    assert report["status"] == "PARTIAL"
    assert report["source_pack"][0]["ref"] == "file:src/app.py#L1-L2"
    assert "sum(items[:-1])" in report["source_pack"][0]["excerpt"]
