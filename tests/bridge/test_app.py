"""The bridge over real HTTP: routes, auth, errors, raw aliases against a scripted upstream."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiohttp import web
from bridge_helpers import LOCAL_KEY, bridge_settings
from sse_events import done_items, sse_events, types_of

from bridge.app import create_app, start_server
from bridge.auth import KeyConfigError

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}"}


def _request(model: str = "ocg-test-model", **extra) -> dict:
    return {"model": model, "input": [{"role": "user", "content": "hello"}], **extra}


async def _post(base: str, body, headers=AUTH, **kw) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{base}/responses",
            content=content,
            headers={**headers, "Content-Type": "application/json"},
            **kw,
        )


# --- routes and auth --------------------------------------------------------------------------


async def test_every_route_refuses_a_missing_or_wrong_key_with_json_401(raw_bridge):
    async with httpx.AsyncClient() as http:
        root = raw_bridge.removesuffix("/v1")
        for response in (
            await http.get(f"{root}/health"),
            await http.get(f"{raw_bridge}/models", headers={"Authorization": "Bearer nope"}),
            await http.post(f"{raw_bridge}/responses", json=_request()),
        ):
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"


async def test_health_reports_version_hash_uptime_and_key_presence_without_secrets(raw_bridge):
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{raw_bridge.removesuffix('/v1')}/health", headers=AUTH)
    body = response.json()
    assert body["status"] == "ok"
    assert body["source_hash"].startswith("sha256:")
    assert body["upstream_key_present"] is True
    assert body["uptime_seconds"] >= 0
    assert "upstream-test-key" not in response.text and LOCAL_KEY not in response.text


async def test_models_lists_the_aliases(raw_bridge):
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{raw_bridge}/models", headers=AUTH)
    ids = [m["id"] for m in response.json()["data"]]
    assert "mission-a3-kimi" in ids
    assert "ocg-kimi-k2.6" in ids


async def test_codex_gets_its_own_catalog_shape(raw_bridge):
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{raw_bridge}/models?client_version=0.169.0", headers=AUTH)
    assert response.json() == {"models": [], "etag": ""}


def test_a_local_key_equal_to_the_upstream_key_refuses_to_start(tmp_path):
    settings = bridge_settings("http://127.0.0.1:9/v1", OPENCODE_GO_API_KEY=LOCAL_KEY)
    with pytest.raises(KeyConfigError, match="PROXY_API_KEY equals OPENCODE_GO_API_KEY"):
        create_app(settings, tmp_path)


# --- bad requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        ({"input": "hi"}, "model is required"),
        (
            {"model": "ocg-x", "input": [{"type": "web_search_call", "id": "w"}]},
            "input[0].type 'web_search_call' is not supported",
        ),
        ({"model": "ocg-x", "input": "hi", "tools": [{"type": "telepathy"}]}, "tools[0].type"),
        ({"model": "ocg-x"}, "input is required"),
    ],
)
async def test_bad_requests_get_a_400_that_names_the_problem(raw_bridge, body, fragment):
    response = await _post(raw_bridge, body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


async def test_gpt_names_are_refused_with_unsupported_bridge_model(raw_bridge):
    response = await _post(raw_bridge, _request(model="gpt-5.5"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_bridge_model"


async def test_an_oversized_body_gets_a_json_413(upstream, start_bridge):
    base = await start_bridge(bridge_settings(upstream.base_url), max_request_bytes=1024)
    response = await _post(base, _request(input="x" * 5000))
    assert response.status_code == 413
    assert "too large" in response.json()["error"]["message"]
    assert upstream.chat_requests() == []


# --- raw aliases ------------------------------------------------------------------------------


async def test_raw_alias_json_answer_carries_the_upstream_text_and_usage(raw_bridge, upstream):
    upstream.set_script({"test-model": [{"content": "hi there", "usage": {"prompt_tokens": 7}}]})
    response = await _post(raw_bridge, _request())
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "hi there"
    assert body["usage"]["input_tokens"] == 7
    (sent,) = upstream.chat_requests()
    assert sent.body["model"] == "test-model"
    assert sent.body["messages"] == [{"role": "user", "content": "hello"}]


async def test_raw_alias_stream_emits_the_full_event_sequence(raw_bridge, upstream):
    upstream.set_script({"test-model": [{"content": "streamed answer"}]})
    response = await _post(raw_bridge, _request(stream=True))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert types_of(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["response"]["id"] == events[0]["response"]["id"]
    assert done_items(events)[0]["content"][0]["text"] == "streamed answer"


async def test_raw_alias_returns_namespaced_calls_with_their_namespace(raw_bridge, upstream):
    upstream.set_script(
        {
            "test-model": [
                {
                    "reasoning_content": "plan",
                    "tool_calls": [
                        {"name": "multi_agent_v1__spawn_agent", "arguments": {"message": "go"}}
                    ],
                }
            ]
        }
    )
    tools = [
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}],
        }
    ]
    events = sse_events((await _post(raw_bridge, _request(stream=True, tools=tools))).text)
    reasoning, call = done_items(events)
    assert reasoning["encrypted_content"] == "plan"
    assert (call["name"], call["namespace"]) == ("spawn_agent", "multi_agent_v1")
    assert json.loads(call["arguments"]) == {"message": "go"}


async def test_upstream_failure_ends_the_stream_with_response_failed_and_the_reason(
    upstream, start_bridge
):
    base = await start_bridge(bridge_settings(upstream.base_url, FALLBACK_MODEL_MAP_JSON="{}"))
    upstream.set_script({"test-model": {"turns": [{"status": 400}], "repeat_last": True}})
    events = sse_events((await _post(base, _request(stream=True))).text)
    assert events[-1]["type"] == "response.failed"
    message = events[-1]["response"]["error"]["message"]
    assert "upstream failed" in message and "400" in message


async def test_slow_upstream_gets_in_progress_heartbeats(raw_bridge, upstream):
    upstream.set_script({"test-model": [{"content": "late", "delay_seconds": 0.6}]})
    events = sse_events((await _post(raw_bridge, _request(stream=True))).text)
    assert types_of(events).count("response.in_progress") >= 3
    assert events[-1]["type"] == "response.completed"


async def test_streaming_upstream_relays_text_reasoning_and_calls(upstream, start_bridge):
    base = await start_bridge(bridge_settings(upstream.base_url, UPSTREAM_STREAM=True))
    text = "a longer answer that arrives in several chunks"
    upstream.set_script(
        {
            "test-model": [
                {
                    "reasoning_content": "thinking it over",
                    "content": text,
                    "tool_calls": [{"name": "exec_command", "arguments": {"cmd": "ls"}}],
                }
            ]
        }
    )
    tools = [{"type": "function", "name": "exec_command", "parameters": {}}]
    events = sse_events((await _post(base, _request(stream=True, tools=tools))).text)
    assert types_of(events).count("response.output_text.delta") > 1
    reasoning, message, call = done_items(events)
    assert reasoning["encrypted_content"] == "thinking it over"
    assert message["content"][0]["text"] == text
    assert call["name"] == "exec_command" and json.loads(call["arguments"]) == {"cmd": "ls"}
    assert events[-1]["type"] == "response.completed"
    assert upstream.chat_requests()[0].body["stream"] is True


async def test_a_client_that_disconnects_cancels_the_upstream_call(start_bridge):
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_completion(request: web.Request) -> web.Response:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.json_response({})

    slow = web.Application()
    slow.router.add_post("/v1/chat/completions", slow_completion)
    runner, port = await start_server(slow, "127.0.0.1", 0)
    try:
        base = await start_bridge(bridge_settings(f"http://127.0.0.1:{port}/v1"))
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream("POST", f"{base}/responses", json=_request(stream=True), headers=AUTH),
        ):
            await asyncio.wait_for(started.wait(), 10)
        # The bridge drops its upstream request once its own client has gone.
        await asyncio.wait_for(cancelled.wait(), 10)
    finally:
        await runner.cleanup()


async def test_gpt_passthrough_forwards_the_request_to_openai_with_its_key(start_bridge):
    seen: list[tuple[str, dict]] = []

    async def openai_responses(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization", ""), await request.json()))
        return web.json_response({"id": "resp_openai", "object": "response", "output": []})

    fake_openai = web.Application()
    fake_openai.router.add_post("/v1/responses", openai_responses)
    runner, port = await start_server(fake_openai, "127.0.0.1", 0)
    try:
        base = await start_bridge(
            bridge_settings(
                "http://127.0.0.1:9/v1",
                GPT_MODEL_STRATEGY="passthrough",
                OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1",
                OPENAI_API_KEY="openai-test-key-123456",
            )
        )
        response = await _post(base, _request(model="gpt-5.5"))
    finally:
        await runner.cleanup()
    assert response.status_code == 200
    assert response.json()["id"] == "resp_openai"
    ((auth, body),) = seen
    assert auth == "Bearer openai-test-key-123456"
    assert body["model"] == "gpt-5.5"
