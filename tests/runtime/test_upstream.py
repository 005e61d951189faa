"""Upstream client against a real scripted upstream over HTTP: answers, retries, fallbacks,
deadlines, cut streams and garbage."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from typing import Any

import pytest

from bridge.scripted_upstream import ScriptedUpstream
from runtime.events import ModelCalled
from runtime.registry import Profile
from runtime.settings import Settings
from runtime.upstream import UpstreamClient, UpstreamError

BODY: dict[str, Any] = {"messages": [{"role": "user", "content": "say hi"}]}


def profile(base_url: str, model: str, *, json_schema: bool = False, strength: int = 3) -> Profile:
    return Profile(
        name=model.split("-")[0],
        base_url=base_url,
        api_key="test-key-123",
        upstream_model=model,
        supports_json_schema=json_schema,
        strength=strength,
    )


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "MODEL_CONCURRENCY_JSON": {},
        "MAX_GLOBAL_UPSTREAM_CONCURRENCY": 64,
        "REQUEST_DEADLINE_SECONDS": 30.0,
        "UPSTREAM_STREAM": False,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
async def client() -> Any:
    async with UpstreamClient(settings(), backoff_base=0.0) as upstream_client:
        yield upstream_client


def chain_of(up: ScriptedUpstream) -> list[Profile]:
    return [
        profile(up.base_url, "kimi-k2.6"),
        profile(up.base_url, "flash-v4", strength=2),
    ]


def outcomes(events: list[ModelCalled]) -> list[tuple[str, str]]:
    return [(e.profile, e.outcome) for e in events]


# -- answers -------------------------------------------------------------------------------


async def test_complete_returns_content_usage_and_who_served(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": [{"content": "hi", "reasoning_content": "hm"}]})
    events: list[ModelCalled] = []
    result = await client.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert (result.content, result.reasoning_content) == ("hi", "hm")
    assert result.finish_reason == "stop"
    assert (result.profile, result.model) == ("kimi", "kimi-k2.6")
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert outcomes(events) == [("kimi", "ok")]
    assert events[0].input_tokens == result.usage.input_tokens


async def test_request_carries_model_key_and_no_stream_flag(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script({"*": [{"content": "ok"}]})
    await client.complete(chain_of(scripted_upstream), {**BODY, "model": "ignored"})
    [request] = scripted_upstream.chat_requests()
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "kimi-k2.6"
    assert "stream" not in request.body
    assert request.headers["Authorization"] == "Bearer test-key-123"


async def test_json_schema_is_downgraded_for_a_profile_that_does_not_honour_it(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script({"*": [{"content": "{}"}], "repeat_last": True})
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    body = {**BODY, "response_format": schema}
    base = scripted_upstream.base_url
    await client.complete([profile(base, "kimi-k2.6")], body)
    await client.complete([profile(base, "local-m", json_schema=True)], body)
    plain, strict = scripted_upstream.chat_requests()
    assert plain.body["response_format"] == {"type": "json_object"}
    assert strict.body["response_format"] == schema


async def test_tool_calls_come_back_parsed(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    call = {"name": "read", "arguments": {"path": "a.py"}}
    scripted_upstream.set_script({"*": [{"tool_calls": [call]}]})
    result = await client.complete(chain_of(scripted_upstream), BODY)
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls[0]["function"]["name"] == "read"
    assert json.loads(result.tool_calls[0]["function"]["arguments"]) == {"path": "a.py"}


async def test_upstream_stream_setting_assembles_chunks_into_one_result(
    scripted_upstream: ScriptedUpstream,
) -> None:
    turn = {
        "content": "a fairly long answer split into several chunks",
        "reasoning_content": "thinking it through",
        "tool_calls": [{"name": "grep", "arguments": {"pattern": "def main", "path": "."}}],
    }
    scripted_upstream.set_script({"*": [turn]})
    async with UpstreamClient(settings(UPSTREAM_STREAM=True)) as streaming:
        result = await streaming.complete(chain_of(scripted_upstream), BODY)
    assert scripted_upstream.chat_requests()[0].body["stream"] is True
    assert result.content == turn["content"]
    assert result.reasoning_content == "thinking it through"
    assert json.loads(result.tool_calls[0]["function"]["arguments"])["pattern"] == "def main"
    assert result.usage.output_tokens > 0


async def test_stream_yields_chunks_and_reports_tokens(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script({"*": [{"content": "x" * 40}]})
    events: list[ModelCalled] = []
    chunks = [
        c
        async for c in client.open_stream(chain_of(scripted_upstream), BODY, on_event=events.append)
    ]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "x" * 40
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert outcomes(events) == [("kimi", "ok")]
    assert events[0].output_tokens == 10


# -- retries -------------------------------------------------------------------------------


async def test_500_then_ok_is_retried_on_the_same_profile(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": [{"status": 500}, {"content": "second"}]})
    events: list[ModelCalled] = []
    result = await client.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert result.content == "second"
    assert outcomes(events) == [("kimi", "retry"), ("kimi", "ok")]
    assert events[0].status_code == 500
    assert [e.attempt for e in events] == [1, 2]


async def test_retry_after_is_honoured(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    busy = {"status": 429, "headers": {"Retry-After": "0.3"}}
    scripted_upstream.set_script({"kimi-k2.6": [busy, {"content": "ok"}]})
    await client.complete(chain_of(scripted_upstream), BODY)
    first, second = scripted_upstream.chat_requests()
    assert second.time - first.time >= 0.28


async def test_retry_after_is_capped(scripted_upstream: ScriptedUpstream) -> None:
    busy = {"status": 503, "headers": {"Retry-After": "120"}}
    scripted_upstream.set_script({"kimi-k2.6": [busy, {"content": "ok"}]})
    started = time.monotonic()
    async with UpstreamClient(settings(), max_retry_after=0.1) as capped:
        result = await capped.complete(chain_of(scripted_upstream), BODY)
    assert result.content == "ok"
    assert time.monotonic() - started < 5


async def test_a_400_is_not_retried_but_falls_back(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script(
        {"kimi-k2.6": [{"status": 400}, {"content": "never"}], "flash-v4": [{"content": "ok"}]}
    )
    events: list[ModelCalled] = []
    result = await client.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert result.profile == "flash"
    assert len(scripted_upstream.chat_requests("kimi-k2.6")) == 1
    assert outcomes(events) == [("kimi", "error"), ("flash", "fallback"), ("flash", "ok")]


# -- fallbacks -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 429])
async def test_persistent_failure_falls_back_to_a_weaker_profile_visibly(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient, status: int
) -> None:
    failing = {"status": status, "headers": {"Retry-After": "0"}}
    scripted_upstream.set_script(
        {"kimi-k2.6": {"turns": [failing], "repeat_last": True}, "flash-v4": [{"content": "ok"}]}
    )
    events: list[ModelCalled] = []
    result = await client.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert result.profile == "flash"
    assert outcomes(events) == [
        ("kimi", "retry"),
        ("kimi", "retry"),
        ("kimi", "error"),
        ("flash", "fallback"),
        ("flash", "ok"),
    ]
    fallback = events[3]
    assert fallback.fallback_from == "kimi"
    assert "weaker" in (fallback.error or "")
    assert events[4].fallback_from == "kimi"


async def test_all_profiles_failing_raises_with_the_last_status(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script({"*": {"turns": [{"status": 502}], "repeat_last": True}})
    with pytest.raises(UpstreamError) as info:
        await client.complete(chain_of(scripted_upstream), BODY)
    assert info.value.reason == "all_profiles_failed"
    assert info.value.status_code == 502
    assert "HTTP 502" in str(info.value)
    assert [name for name, _ in info.value.failures] == ["kimi", "flash"]


async def test_exhausted_script_says_so_in_the_error(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    with pytest.raises(UpstreamError, match=re.escape("script exhausted for model kimi-k2.6")):
        await client.complete(chain_of(scripted_upstream)[:1], BODY)


async def test_garbage_body_falls_back_without_retry(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script(
        {"kimi-k2.6": [{"garbage": "<html>oops</html>"}], "flash-v4": [{"content": "ok"}]}
    )
    events: list[ModelCalled] = []
    result = await client.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert result.profile == "flash"
    assert "not JSON" in (events[0].error or "")
    assert len(scripted_upstream.chat_requests("kimi-k2.6")) == 1


async def test_answer_without_choices_is_treated_as_garbage(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script({"*": [{"garbage": '{"object": "chat.completion"}'}]})
    with pytest.raises(UpstreamError, match=r"no choices\[0\]\.message"):
        await client.complete(chain_of(scripted_upstream)[:1], BODY)


async def test_connection_refused_is_retried_then_falls_back(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = profile(f"http://127.0.0.1:{dead_port}/v1", "kimi-k2.6")
    scripted_upstream.set_script({"flash-v4": [{"content": "ok"}]})
    events: list[ModelCalled] = []
    chain = [dead, chain_of(scripted_upstream)[1]]
    result = await client.complete(chain, BODY, on_event=events.append)
    assert result.profile == "flash"
    assert [e.outcome for e in events[:3]] == ["retry", "retry", "error"]
    assert "connection failed" in (events[2].error or "")


async def test_empty_chain_is_an_error(client: UpstreamClient) -> None:
    with pytest.raises(UpstreamError) as info:
        await client.complete([], BODY)
    assert info.value.reason == "empty_chain"


# -- deadlines -----------------------------------------------------------------------------


async def test_first_byte_timeout_falls_back(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script(
        {"kimi-k2.6": [{"delay_seconds": 5, "content": "late"}], "flash-v4": [{"content": "ok"}]}
    )
    events: list[ModelCalled] = []
    started = time.monotonic()
    async with UpstreamClient(settings(), first_byte_timeout=0.2) as quick:
        result = await quick.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert result.profile == "flash"
    assert time.monotonic() - started < 3
    assert events[0].outcome == "error"
    assert "first-byte timeout" in (events[0].error or "")


async def test_timeouts_come_from_settings_unless_given(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script(
        {"kimi-k2.6": [{"delay_seconds": 5, "content": "late"}], "flash-v4": [{"content": "ok"}]}
    )
    tuned = settings(UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS=0.2, UPSTREAM_IDLE_TIMEOUT_SECONDS=7)
    async with UpstreamClient(tuned) as client:
        assert (client.first_byte_timeout, client.idle_timeout) == (0.2, 7)
        result = await client.complete(chain_of(scripted_upstream), BODY)
    assert result.profile == "flash"
    async with UpstreamClient(tuned, idle_timeout=3) as client:
        assert client.idle_timeout == 3


def test_timeout_settings_refuse_non_positive_values() -> None:
    with pytest.raises(ValueError, match="UPSTREAM_IDLE_TIMEOUT_SECONDS"):
        Settings(UPSTREAM_IDLE_TIMEOUT_SECONDS=0)


async def test_idle_timeout_mid_stream_falls_back_when_collecting(
    scripted_upstream: ScriptedUpstream,
) -> None:
    stalling = {"content": "x" * 64, "chunk_delay_seconds": 2}
    scripted_upstream.set_script({"kimi-k2.6": [stalling], "flash-v4": [{"content": "ok"}]})
    events: list[ModelCalled] = []
    async with UpstreamClient(settings(UPSTREAM_STREAM=True), idle_timeout=0.2) as quick:
        result = await quick.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert result.content == "ok"
    assert "idle timeout" in (events[0].error or "")


async def test_idle_timeout_after_first_chunk_cuts_the_stream(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"*": [{"content": "x" * 64, "chunk_delay_seconds": 2}]})
    received = []
    async with UpstreamClient(settings(), idle_timeout=0.2) as quick:
        with pytest.raises(UpstreamError) as info:
            async for chunk in quick.open_stream(chain_of(scripted_upstream), BODY):
                received.append(chunk)
    assert info.value.reason == "stream_cut"
    assert len(received) == 1
    assert "idle timeout" in str(info.value)


async def test_total_deadline_stops_the_whole_call(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": {"turns": [{"delay_seconds": 3}], "repeat_last": True}})
    events: list[ModelCalled] = []
    started = time.monotonic()
    async with UpstreamClient(settings(REQUEST_DEADLINE_SECONDS=0.4)) as bounded:
        with pytest.raises(UpstreamError) as info:
            await bounded.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert info.value.reason == "deadline_exceeded"
    assert time.monotonic() - started < 2
    assert "0.4s deadline" in str(info.value)
    # The deadline is global: the fallback profile was never tried.
    assert scripted_upstream.chat_requests("flash-v4") == []
    assert outcomes(events) == [("kimi", "error")]


# -- cut streams ---------------------------------------------------------------------------


async def test_stream_cut_before_first_chunk_falls_back(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script(
        {"kimi-k2.6": [{"content": "abc", "cut_stream_after": 0}], "flash-v4": [{"content": "ok"}]}
    )
    chunks = [c async for c in client.open_stream(chain_of(scripted_upstream), BODY)]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "ok"


async def test_stream_cut_midway_raises_stream_cut(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script(
        {
            "kimi-k2.6": [{"content": "x" * 100, "cut_stream_after": 3}],
            "flash-v4": [{"content": "no"}],
        }
    )
    events: list[ModelCalled] = []
    received = []
    with pytest.raises(UpstreamError) as info:
        async for chunk in client.open_stream(
            chain_of(scripted_upstream), BODY, on_event=events.append
        ):
            received.append(chunk)
    assert info.value.reason == "stream_cut"
    assert len(received) == 3
    assert scripted_upstream.chat_requests("flash-v4") == []
    assert outcomes(events) == [("kimi", "error")]


async def test_a_stream_cut_midway_counts_against_its_circuit(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": [{"content": "x" * 100, "cut_stream_after": 3}]})
    async with UpstreamClient(settings(), breaker_threshold=1) as fragile:
        with pytest.raises(UpstreamError):
            async for _ in fragile.open_stream(chain_of(scripted_upstream)[:1], BODY):
                pass
        assert fragile.breaker.state("kimi") == "open"


async def test_a_stream_holds_its_slot_until_the_caller_stops_reading(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"*": [{"content": "x" * 100}]})
    events: list[ModelCalled] = []
    capped = settings(MODEL_CONCURRENCY_JSON={"kimi-k2.6": 1})
    async with UpstreamClient(capped, breaker_threshold=1) as client:
        chunks = client.open_stream(chain_of(scripted_upstream), BODY, on_event=events.append)
        await anext(chunks)
        assert client.limits.in_flight["kimi-k2.6"] == 1
        await chunks.aclose()
        assert client.limits.in_flight["kimi-k2.6"] == 0
        assert client.breaker.state("kimi") == "closed"
    assert outcomes(events) == [("kimi", "ok")]
    assert events[0].error == "stream closed by the caller after 1 chunk(s)"


async def test_stream_cut_midway_falls_back_when_collecting(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script(
        {
            "kimi-k2.6": [{"content": "x" * 100, "cut_stream_after": 3}],
            "flash-v4": [{"content": "ok"}],
        }
    )
    async with UpstreamClient(settings(UPSTREAM_STREAM=True)) as streaming:
        result = await streaming.complete(chain_of(scripted_upstream), BODY)
    assert result.content == "ok"


async def test_garbage_sse_line_falls_back(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script(
        {"kimi-k2.6": [{"garbage": "not json"}], "flash-v4": [{"content": "ok"}]}
    )
    chunks = [c async for c in client.open_stream(chain_of(scripted_upstream), BODY)]
    assert chunks[0]["model"] == "flash-v4"


async def test_cut_json_body_is_retried(
    scripted_upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    scripted_upstream.set_script(
        {"kimi-k2.6": [{"content": "x" * 500, "cut_stream_after": 1}, {"content": "whole"}]}
    )
    events: list[ModelCalled] = []
    result = await client.complete(chain_of(scripted_upstream), BODY, on_event=events.append)
    assert result.content == "whole"
    assert outcomes(events) == [("kimi", "retry"), ("kimi", "ok")]


async def test_caller_cancelling_frees_the_slot(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": [{"delay_seconds": 5}, {"content": "ok"}]})
    async with UpstreamClient(settings(MODEL_CONCURRENCY_JSON={"kimi-k2.6": 1})) as capped:
        task = asyncio.create_task(capped.complete(chain_of(scripted_upstream)[:1], BODY))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert capped.limits.in_flight["kimi-k2.6"] == 0
        result = await asyncio.wait_for(capped.complete(chain_of(scripted_upstream)[:1], BODY), 3)
    assert result.content == "ok"
