"""Claim responses-compatibility: the bridge answers as Codex and the openai SDK expect."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from pytest_opencode_bridge.harness import (
    final_action,
    handoff_text,
    make_git_project,
    tool_action,
)
from runtime.answer import extract_report

pytestmark = pytest.mark.claim("responses-compatibility")

MISSION_SCRIPT = {
    "kimi-k2.6": [
        tool_action("read", path="src/app.py"),
        final_action(refs=["file:src/app.py#L1-L2"], claim="total is defined"),
    ]
}


def sse_events(text: str) -> list[dict]:
    """The JSON ``data:`` payloads of an SSE body, in order."""
    return [
        json.loads(line[len("data:") :])
        for line in text.splitlines()
        if line.startswith("data:") and line[len("data:") :].strip() not in ("", "[DONE]")
    ]


@pytest.fixture
def served_project(running_bridge):
    make_git_project(running_bridge.project, {"src/app.py": "def total(items):\n    pass\n"})
    running_bridge.upstream.set_script(MISSION_SCRIPT)
    return running_bridge


async def test_a_streamed_mission_ends_with_the_report_as_the_final_message(served_project):
    body = {"model": "mission-a3-kimi", "stream": True, "input": handoff_text()}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{served_project.base_url}/responses", json=body, headers=served_project.headers
        )
    assert response.status_code == 200
    events = sse_events(response.text)
    kinds = [event["type"] for event in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert events[-1]["response"]["id"]
    messages = [
        event["item"]
        for event in events
        if event["type"] == "response.output_item.done" and event["item"]["type"] == "message"
    ]
    assert messages[-1]["phase"] == "final_answer"
    assert all(message["phase"] == "commentary" for message in messages[:-1])
    final_text = messages[-1]["content"][0]["text"]
    assert "<OSS_REPORT_JSON>" in final_text and "</OSS_REPORT_JSON>" in final_text


async def test_the_openai_sdk_accepts_the_stream(served_project):
    client = openai.AsyncOpenAI(base_url=served_project.base_url, api_key=served_project.api_key)
    try:
        async with client.responses.stream(model="mission-a3-kimi", input=handoff_text()) as stream:
            async for _ in stream:
                pass
            final = await stream.get_final_response()
    finally:
        await client.close()
    assert final.status == "completed"
    assert "<OSS_REPORT_JSON>" in final.output_text


async def test_gpt_names_are_refused_with_a_400(running_bridge):
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{running_bridge.base_url}/responses",
            json={"model": "gpt-5", "input": "hello"},
            headers=running_bridge.headers,
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_bridge_model"


async def test_the_model_list_names_the_mission_aliases(running_bridge):
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{running_bridge.base_url}/models", headers=running_bridge.headers
        )
    ids = {model["id"] for model in response.json()["data"]}
    assert {"mission-a3-kimi", "mission-a2-flash"} <= ids


async def test_a_failed_mission_is_an_answer_with_its_report(running_bridge):
    make_git_project(running_bridge.project, {"src/app.py": "def total(items):\n    pass\n"})
    prose = {"content": "Everything looks fine to me!"}
    running_bridge.upstream.set_script({"kimi-k2.6": [prose, prose]})
    client = openai.AsyncOpenAI(base_url=running_bridge.base_url, api_key=running_bridge.api_key)
    try:
        async with client.responses.stream(model="mission-a3-kimi", input=handoff_text()) as stream:
            async for _ in stream:
                pass
            final = await stream.get_final_response()
    finally:
        await client.close()
    assert final.status == "completed"
    report = extract_report(final.output[-1].content[0].text)
    recorded = running_bridge.project / ".codex-oss/missions/m-proof/report.json"
    assert report == {
        key: value
        for key, value in json.loads(recorded.read_text()).items()
        if key != "projection_stamp"
    }
    assert report["status"] == "FAILED"
