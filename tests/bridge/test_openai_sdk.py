"""The official openai SDK against the bridge, in front of the scripted upstream."""

from __future__ import annotations

import json

import openai
import pytest
from bridge_helpers import LOCAL_KEY

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
