"""Request parsing, the SSE event builders and the chunk relay, without a server."""

from __future__ import annotations

import json

import pytest
from codex_captures import capture_bytes

from bridge.app import is_loopback
from bridge.auth import bearer_matches
from bridge.raw import ChunkRelay
from bridge.responses import EventStream, RequestError, parse_request
from bridge.translate import ToolMap, message_item


def _events(data: bytes) -> list[dict]:
    return [
        json.loads(line[6:]) for line in data.decode().splitlines() if line.startswith("data: ")
    ]


def test_a_real_codex_request_parses():
    parsed = parse_request(capture_bytes("exec_command_turn1.full.json"))
    assert parsed.model == "some-alias"
    assert parsed.stream is True
    assert len(parsed.input) == 4


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "", "input": "x"}, "model"),
        ({"model": "m", "input": "x", "stream": "yes"}, "stream"),
        ({"model": "m", "input": 5}, "input"),
        ({"model": "m", "input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": "x", "previous_response_id": "r"}, "previous_response_id"),
    ],
)
def test_bad_fields_are_request_errors_naming_the_field(body, param):
    with pytest.raises(RequestError) as caught:
        parse_request(json.dumps(body).encode())
    assert caught.value.param == param
    assert caught.value.status == 400


def test_events_are_numbered_and_end_with_the_response_id():
    events = EventStream("m")
    data = events.created() + events.heartbeat() + events.item(message_item("hi"))
    data += events.completed()
    parsed = _events(data)
    assert [e["sequence_number"] for e in parsed] == list(range(len(parsed)))
    assert parsed[-1]["response"]["output"][0]["content"][0]["text"] == "hi"
    assert {e["response"]["id"] for e in parsed if "response" in e} == {events.response_id}


@pytest.mark.parametrize(
    ("item", "prefix", "key", "done_extra"),
    [
        (
            {"type": "function_call", "id": "fc_1", "name": "f", "arguments": "{}"},
            "response.function_call_arguments",
            "arguments",
            {"name": "f"},
        ),
        (
            {"type": "custom_tool_call", "id": "ct_1", "name": "p", "input": "x"},
            "response.custom_tool_call_input",
            "input",
            {},
        ),
    ],
)
def test_a_tool_call_item_streams_added_delta_done(item, prefix, key, done_extra):
    added, delta, done, item_done = _events(EventStream("m").item(item))
    assert [added["type"], delta["type"], done["type"], item_done["type"]] == [
        "response.output_item.added",
        f"{prefix}.delta",
        f"{prefix}.done",
        "response.output_item.done",
    ]
    assert added["item"] == {**item, "status": "in_progress", key: ""}
    assert delta["delta"] == item[key]
    done_fields = {k: v for k, v in done.items() if k not in ("type", "sequence_number")}
    assert done_fields == {"item_id": item["id"], "output_index": 0, **done_extra, key: item[key]}
    assert item_done["item"] == item


def test_failed_carries_the_message_codex_shows():
    events = EventStream("m")
    (failed,) = _events(events.failed("upstream down", code="upstream_error"))
    assert failed["type"] == "response.failed"
    assert failed["response"]["error"] == {"code": "upstream_error", "message": "upstream down"}


def test_chunk_relay_streams_text_and_assembles_split_tool_calls():
    events = EventStream("m")
    relay = ChunkRelay(events, ToolMap())
    out = relay.feed({"choices": [{"delta": {"reasoning_content": "hmm"}}]})
    out += relay.feed({"choices": [{"delta": {"content": "Hel"}}]})
    out += relay.feed({"choices": [{"delta": {"content": "lo"}}]})
    call = {"index": 0, "id": "c1", "function": {"name": "exec_", "arguments": '{"cmd"'}}
    out += relay.feed({"choices": [{"delta": {"tool_calls": [call]}}]})
    more = {"index": 0, "function": {"name": "command", "arguments": ':"ls"}'}}
    out += relay.feed({"choices": [{"delta": {"tool_calls": [more]}}]})
    out += relay.feed({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    parsed = _events(out + relay.finish())
    deltas = [e["delta"] for e in parsed if e["type"] == "response.output_text.delta"]
    assert deltas == ["Hel", "lo"]
    done = [e["item"] for e in parsed if e["type"] == "response.output_item.done"]
    assert [d["type"] for d in done] == ["reasoning", "message", "function_call"]
    assert done[2]["name"] == "exec_command" and done[2]["arguments"] == '{"cmd":"ls"}'
    assert parsed[-1]["response"]["usage"]["input_tokens"] == 5


def test_bearer_check_needs_the_scheme_and_the_exact_key():
    assert bearer_matches("Bearer k-123", "k-123")
    assert bearer_matches("bearer k-123", "k-123")
    assert not bearer_matches("Bearer k-1234", "k-123")
    assert not bearer_matches("k-123", "k-123")
    assert not bearer_matches(None, "k-123")


def test_only_loopback_addresses_count_as_local():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
