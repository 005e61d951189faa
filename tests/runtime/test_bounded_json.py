"""bounded_json: depth and value count are refused before the decoder runs; the rest decodes."""

from __future__ import annotations

import json

import pytest

from runtime.bounded_json import JsonLimitError, check_json_shape, loads_bounded
from tests.bridge.codex_captures import CAPTURE_NAMES, capture_bytes


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 50_000 + "1" + "}" * 50_000,
        "[" * 65 + "]" * 65,
        "[{" * 40 + "}]" * 40,
    ],
)
def test_too_deep_is_refused_before_decoding(text: str):
    with pytest.raises(JsonLimitError, match="deeper than 64"):
        loads_bounded(text)


def test_the_bound_is_exact_and_brackets_inside_strings_do_not_count():
    assert loads_bounded("[" * 64 + "]" * 64) is not None
    inside = json.dumps({"text": "[" * 10_000 + '\\"{' * 100})
    assert loads_bounded(inside)["text"].startswith("[[[")


def test_too_many_values_is_refused():
    with pytest.raises(JsonLimitError, match="values"):
        check_json_shape(json.dumps(list(range(300_000))))


def test_a_json_decode_error_so_existing_handlers_catch_it():
    with pytest.raises(json.JSONDecodeError):
        loads_bounded(b"[" * 1000)
    with pytest.raises(UnicodeDecodeError):
        loads_bounded(b'"\xff"')


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_real_codex_requests_pass(name: str):
    raw = capture_bytes(name)
    assert loads_bounded(raw) == json.loads(raw)


@pytest.mark.parametrize("cut", [1, 7, 100, 5000])
def test_truncated_text_is_left_to_the_decoder(cut: int):
    raw = capture_bytes(CAPTURE_NAMES[0]).decode()[:cut]
    with pytest.raises(json.JSONDecodeError) as raised:
        loads_bounded(raw)
    assert not isinstance(raised.value, JsonLimitError)
