"""The wire helpers the upstream client's hot path uses: SSE line splitting and JSON codecs."""

from __future__ import annotations

import json
import math

from runtime.upstream._completions import SseDataLines, decode_json, encode_json


def test_data_lines_split_across_reads_are_joined() -> None:
    lines = SseDataLines()
    assert lines.feed(b'data: {"a":') == []
    assert lines.feed(b" 1}\n\ndata: [DO") == [b'{"a": 1}']
    assert lines.feed(b"NE]\n\n") == [b"[DONE]"]


def test_one_read_carrying_many_events_gives_every_payload_in_order() -> None:
    lines = SseDataLines()
    read = b"".join(f"data: {i}\n\n".encode() for i in range(5))
    assert lines.feed(read) == [b"0", b"1", b"2", b"3", b"4"]


def test_crlf_and_cr_line_endings_are_lines_too() -> None:
    lines = SseDataLines()
    assert lines.feed(b"data: 1\r\n\r\ndata: 2\r\rdata: 3\r") == [b"1", b"2", b"3"]
    # A CRLF cut between two reads must not glue or drop anything.
    assert lines.feed(b"data: 4\r") == [b"4"]
    assert lines.feed(b"\ndata: 5\n") == [b"5"]


def test_comments_event_and_id_fields_are_skipped() -> None:
    lines = SseDataLines()
    assert lines.feed(b": keep-alive\nevent: chunk\nid: 7\nretry: 10\ndata:x\n\n") == [b"x"]


def test_close_returns_an_unterminated_last_data_line_only() -> None:
    lines = SseDataLines()
    assert lines.feed(b"data: 1\ndata: [DONE]") == [b"1"]
    assert lines.close() == [b"[DONE]"]
    other = SseDataLines()
    other.feed(b"data: 1\n: trailing comment")
    assert other.close() == []


def test_encode_json_is_compact_utf8_without_ascii_escapes() -> None:
    obj = {"text": "héllo — 日本", "n": [1, 2.5, None, True]}
    assert encode_json(obj) == json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def test_encode_json_falls_back_to_the_stdlib_for_what_orjson_refuses() -> None:
    obj = {"big": 2**70, 3: "int key"}
    assert json.loads(encode_json(obj)) == {"big": 2**70, "3": "int key"}


def test_decode_json_takes_what_only_the_stdlib_takes() -> None:
    assert decode_json(b'{"x": 1}') == {"x": 1}
    assert math.isnan(decode_json(b"[NaN]")[0])
    assert decode_json('"\u00e9"') == "é"
