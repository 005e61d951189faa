"""The official openai SDK against the bridge, in front of the scripted upstream."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from bridge_helpers import LOCAL_KEY

from pytest_opencode_bridge.harness import handoff_text
from runtime.answer import extract_report

EXEC_TOOL = {
    "type": "function",
    "name": "exec_command",
    "description": "Run a command.",
    "parameters": {
        "type": "object",
        "properties": {"cmd": {"type": "string"}},
        "required": ["cmd"],
    },
    "strict": False,
}


@pytest.fixture
def sdk(raw_bridge) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=raw_bridge, api_key=LOCAL_KEY, max_retries=0)


async def test_create_without_stream_returns_the_text(sdk, upstream):
    upstream.set_script({"test-model": [{"content": "plain answer"}]})
    response = await sdk.responses.create(model="ocg-test-model", input="say something")
    assert response.output_text == "plain answer"
    assert response.status == "completed"


async def test_create_with_stream_yields_deltas_and_a_completed_response(sdk, upstream):
    upstream.set_script({"test-model": [{"content": "stream me"}]})
    stream = await sdk.responses.create(model="ocg-test-model", input="go", stream=True)
    deltas, completed = [], None
    async for event in stream:
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        if event.type == "response.completed":
            completed = event.response
    assert "".join(deltas) == "stream me"
    assert completed is not None and completed.output_text == "stream me"


async def test_the_stream_helper_accepts_the_event_sequence(sdk, upstream):
    upstream.set_script({"test-model": [{"content": "helper text"}]})
    async with sdk.responses.stream(model="ocg-test-model", input="go") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.output_text == "helper text"


async def test_a_function_call_round_trip(sdk, upstream):
    upstream.set_script(
        {
            "test-model": [
                {
                    "tool_calls": [
                        {"id": "call_9", "name": "exec_command", "arguments": {"cmd": "ls"}}
                    ]
                },
                {"content": "the folder holds README.md"},
            ]
        }
    )
    first = await sdk.responses.create(
        model="ocg-test-model", input="list files", tools=[EXEC_TOOL]
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "exec_command"
    assert json.loads(call.arguments) == {"cmd": "ls"}

    async with sdk.responses.stream(
        model="ocg-test-model",
        tools=[EXEC_TOOL],
        input=[
            {"role": "user", "content": "list files"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "README.md"},
        ],
    ) as stream:
        final = await stream.get_final_response()
    assert final.output_text == "the folder holds README.md"

    second = upstream.chat_requests()[1].body["messages"]
    assert second[1]["tool_calls"][0]["id"] == "call_9"
    assert second[2] == {"role": "tool", "tool_call_id": "call_9", "content": "README.md"}


async def test_a_bad_request_surfaces_as_the_sdk_error_with_the_message(sdk):
    with pytest.raises(openai.BadRequestError, match=r"unsupported_bridge_model|OpenAI model"):
        await sdk.responses.create(model="gpt-5.5", input="x")


# -- a FAILED mission is an answer ---------------------------------------------------------------

PROSE_TWICE = [
    {"content": "Happy to help! Everything looks fine in this project."},
    {"content": "As I said, there is nothing to change."},
]


def failed_mission(mission_id: str) -> str:
    return handoff_text("Why does total() miss the last item?", mission_id)


def recorded_report(root: Path, mission_id: str) -> dict:
    data = json.loads((root / ".codex-oss/missions" / mission_id / "report.json").read_text())
    data.pop("projection_stamp")
    return data


async def test_create_on_a_failed_mission_returns_the_report_completed(sdk, upstream, tmp_path):
    upstream.set_script({"kimi-k2.6": PROSE_TWICE})
    response = await sdk.responses.create(model="mission-a3-kimi", input=failed_mission("m-sdk-1"))

    assert (response.status, response.error) == ("completed", None)
    report = extract_report(response.output_text)
    assert report == recorded_report(tmp_path, "m-sdk-1")
    assert report["status"] == "FAILED"


async def test_the_stream_helper_on_a_failed_mission_returns_the_report(sdk, upstream, tmp_path):
    upstream.set_script({"kimi-k2.6": PROSE_TWICE})
    async with sdk.responses.stream(
        model="mission-a3-kimi", input=failed_mission("m-sdk-2")
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()

    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.status == "completed"
    final_message = final.output[-1]
    assert final_message.type == "message"
    report = extract_report(final_message.content[0].text)
    assert report == recorded_report(tmp_path, "m-sdk-2")
    assert report["status"] == "FAILED"
