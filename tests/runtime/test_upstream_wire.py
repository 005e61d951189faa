"""The chat-completions wire helpers: payloads, answers, chunk assembly, error bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from runtime.registry import Profile
from runtime.upstream._completions import (
    MalformedAnswer,
    assemble_chunks,
    error_message,
    parse_completion,
    request_payload,
    retry_after_seconds,
)

KIMI = Profile("kimi", "http://127.0.0.1:1/v1", None, "kimi-k2.6", False, 3)
LOCAL = Profile("local", "http://127.0.0.1:2/v1", None, "smol", True, 1)


def test_payload_sets_the_profile_model_and_stream_flag() -> None:
    body = {"model": "alias", "stream": True, "messages": []}
    assert json.loads(request_payload(KIMI, body, stream=False)) == {
        "model": "kimi-k2.6",
        "messages": [],
    }
    assert json.loads(request_payload(KIMI, {"messages": []}, stream=True))["stream"] is True
    assert body["model"] == "alias"  # the caller's body is not modified


def test_payload_keeps_json_schema_only_where_honoured() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}
    body = {"messages": [], "response_format": schema}
    assert json.loads(request_payload(KIMI, body, stream=False))["response_format"] == {
        "type": "json_object"
    }
    assert json.loads(request_payload(LOCAL, body, stream=False))["response_format"] == schema


def test_parse_completion_refuses_non_answers() -> None:
    with pytest.raises(MalformedAnswer, match="not JSON"):
        parse_completion(b"<html>", KIMI)
    with pytest.raises(MalformedAnswer, match="no choices"):
        parse_completion(b'{"choices": []}', KIMI)


def test_parse_completion_reads_null_content_as_empty() -> None:
    raw = {"choices": [{"message": {"content": None, "tool_calls": [{"id": "c"}]}}]}
    result = parse_completion(json.dumps(raw).encode(), KIMI)
    assert result.content == ""
    assert result.tool_calls == [{"id": "c"}]
    assert result.usage.input_tokens == 0


def test_assemble_merges_tool_call_fragments_by_index() -> None:
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": "x", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "read"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "ls"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"path":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"a"}'}}]}),
        chunk({}, "tool_calls"),
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}},
    ]
    result = assemble_chunks(chunks, KIMI)
    assert [c["id"] for c in result.tool_calls] == ["a", "b"]
    assert json.loads(result.tool_calls[0]["function"]["arguments"]) == {"path": "a"}
    assert result.tool_calls[1]["function"]["arguments"] == ""
    assert result.finish_reason == "tool_calls"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (5, 7)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_and_milliseconds(headers: dict, expected: float | None) -> None:
    assert retry_after_seconds(httpx.Headers(headers)) == expected


def test_retry_after_reads_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = retry_after_seconds(httpx.Headers({"Retry-After": when}))
    assert seconds is not None and 25 <= seconds <= 31


def test_error_message_prefers_the_openai_error_message() -> None:
    assert error_message('{"error": {"message": "rate limited"}}') == "rate limited"
    assert error_message('{"error": "plain"}') == "plain"
    assert error_message("<html>\n  Bad   Gateway</html>") == "<html> Bad Gateway</html>"
