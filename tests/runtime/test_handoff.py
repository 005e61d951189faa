"""Handoff extraction: one block, clear errors for every other case, never a crash."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.handoff import (
    CLOSE_TAG,
    MAX_HANDOFF_BYTES,
    OPEN_TAG,
    HandoffError,
    extract_handoff_from_items,
    extract_handoff_from_text,
)
from runtime.mission import MissionContractError, Tier, compile_mission, template

MISSION = template(Tier.A3, "Where is the retry policy?", "m-handoff")


def _block(body: str) -> str:
    return f"{OPEN_TAG}{body}{CLOSE_TAG}"


def _code(call: Any, *args: Any) -> str:
    with pytest.raises(HandoffError) as info:
        call(*args)
    assert info.value.message  # every error explains itself
    return info.value.code


def _message(role: str, text: str, part_type: str = "input_text") -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": part_type, "text": text}]}


def test_one_block_in_prose_is_extracted() -> None:
    text = f"Please investigate.\n{_block(json.dumps(MISSION))}\nThanks."
    assert extract_handoff_from_text(text) == MISSION


def test_extracted_block_compiles_as_a_mission() -> None:
    mission = compile_mission(extract_handoff_from_text(_block(json.dumps(MISSION)))).mission
    assert mission.mission_id == "m-handoff"


def test_json_in_a_markdown_fence_inside_the_tags_is_accepted() -> None:
    text = _block("\n```json\n" + json.dumps(MISSION, indent=2) + "\n```\n")
    assert extract_handoff_from_text(text) == MISSION


def test_no_block_is_no_handoff() -> None:
    assert _code(extract_handoff_from_text, "just a question") == "no_handoff"


def test_unclosed_block_is_no_handoff_and_says_so() -> None:
    with pytest.raises(HandoffError) as info:
        extract_handoff_from_text(OPEN_TAG + json.dumps(MISSION))
    assert info.value.code == "no_handoff" and CLOSE_TAG in info.value.message


def test_two_blocks_are_multiple_handoffs() -> None:
    text = _block("{}") + " and " + _block("{}")
    assert _code(extract_handoff_from_text, text) == "multiple_handoffs"


@pytest.mark.parametrize(
    "body", ["{not json}", "{'a': 1}", '{"a": 1,}', "", "   ", '{"a": NaN}', '{"a":1,"a":2}']
)
def test_malformed_json_is_reported(body: str) -> None:
    assert _code(extract_handoff_from_text, _block(body)) == "malformed_json"


def test_malformed_json_error_gives_the_position() -> None:
    with pytest.raises(HandoffError) as info:
        extract_handoff_from_text(_block('{"a": 1,\n "b": }'))
    assert "line 2" in info.value.message


def test_absurd_nesting_is_malformed_not_a_crash() -> None:
    assert _code(extract_handoff_from_text, _block("[" * 50_000)) in {
        "malformed_json",
        "oversized_handoff",
    }
    assert _code(extract_handoff_from_text, _block("[" * 30_000 + "]" * 30_000)) == (
        "malformed_json"
    )


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "true", "null"])
def test_non_object_is_not_an_object(body: str) -> None:
    assert _code(extract_handoff_from_text, _block(body)) == "not_an_object"


def test_oversized_block_is_refused_before_parsing() -> None:
    body = json.dumps({"objective": "x" * MAX_HANDOFF_BYTES})
    assert _code(extract_handoff_from_text, _block(body)) == "oversized_handoff"


def test_block_at_the_size_limit_is_accepted() -> None:
    filler = "y" * (MAX_HANDOFF_BYTES - len('{"objective":""}'))
    body = '{"objective":"' + filler + '"}'
    assert len(body.encode()) == MAX_HANDOFF_BYTES
    assert extract_handoff_from_text(_block(body))["objective"] == filler


def test_size_counts_utf8_bytes_not_characters() -> None:
    body = '{"o":"' + "é" * (MAX_HANDOFF_BYTES // 2) + '"}'
    assert len(body) < MAX_HANDOFF_BYTES < len(body.encode())
    assert _code(extract_handoff_from_text, _block(body)) == "oversized_handoff"


def test_string_input_is_treated_as_text() -> None:
    assert extract_handoff_from_items(_block(json.dumps(MISSION))) == MISSION


def test_user_message_wins_over_developer_instructions() -> None:
    example = _block('{"schema_version": "example"}')
    items = [
        _message("developer", f"Send missions like this: {example}"),
        _message("user", f"Go. {_block(json.dumps(MISSION))}"),
    ]
    assert extract_handoff_from_items(items) == MISSION


def test_developer_block_is_used_when_no_user_message_has_one() -> None:
    items = [_message("developer", _block('{"from": "developer"}')), _message("user", "hi")]
    assert extract_handoff_from_items(items) == {"from": "developer"}


def test_assistant_text_comes_before_developer_text() -> None:
    items = [
        _message("system", _block('{"from": "system"}')),
        _message("assistant", _block('{"from": "assistant"}'), "output_text"),
    ]
    assert extract_handoff_from_items(items) == {"from": "assistant"}


def test_two_user_messages_with_blocks_are_multiple_handoffs() -> None:
    items = [_message("user", _block("{}")), _message("user", _block("{}"))]
    assert _code(extract_handoff_from_items, items) == "multiple_handoffs"


def test_blocks_split_across_parts_of_one_message_count_separately() -> None:
    item = {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": _block("{}")},
            {"type": "input_text", "text": _block("{}")},
        ],
    }
    assert _code(extract_handoff_from_items, [item]) == "multiple_handoffs"


def test_easy_message_with_string_content_is_read() -> None:
    items = [{"role": "user", "content": _block(json.dumps(MISSION))}]
    assert extract_handoff_from_items(items) == MISSION


def test_tool_outputs_are_never_searched() -> None:
    items = [
        {"type": "function_call_output", "call_id": "c1", "output": _block("{}")},
        _message("user", "no block here"),
    ]
    assert _code(extract_handoff_from_items, items) == "no_handoff"


def test_unclosed_block_in_user_message_is_reported_even_if_developer_has_one() -> None:
    items = [_message("developer", _block("{}")), _message("user", OPEN_TAG + "{")]
    assert _code(extract_handoff_from_items, items) == "no_handoff"


@pytest.mark.parametrize("bad", [None, 42, {"input": "x"}, [None, 3, "text", {"role": 5}]])
def test_odd_input_shapes_give_no_handoff(bad: Any) -> None:
    assert _code(extract_handoff_from_items, bad) == "no_handoff"


def test_codex_capture_shape_is_handled() -> None:
    """The shape Codex 0.169 sends a spawned agent: developer role text then a user message."""
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "x"}]},
        {"type": "reasoning", "summary": [], "encrypted_content": "abc"},
        _message("user", "Mission:\n" + _block(json.dumps(MISSION, indent=2))),
    ]
    assert extract_handoff_from_items(items)["mission_id"] == "m-handoff"


# Property-based: whatever the text or items, only HandoffError (or a dict) comes out.

_PIECES = st.sampled_from(
    [OPEN_TAG, CLOSE_TAG, "{", "}", "[", "]", '"', ":", ",", "```", "\n", "null", "1e999", "é"]
)
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=20)), max_size=30).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_random_text_never_crashes(text: str) -> None:
    try:
        result = extract_handoff_from_text(text)
    except HandoffError as exc:
        assert exc.code in {
            "no_handoff",
            "multiple_handoffs",
            "malformed_json",
            "not_an_object",
            "oversized_handoff",
        }
    else:
        assert isinstance(result, dict)


_VALID = json.dumps(MISSION)


@st.composite
def _mutated_handoff(draw: st.DrawFn) -> str:
    text = _block(_VALID)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(_PIECES, st.text(min_size=1, max_size=3)))
        if kind == "insert":
            text = text[:position] + piece + text[position:]
        elif kind == "delete":
            text = text[:position] + text[position + len(piece) :]
        else:
            text = text[:position] + piece + text[position + len(piece) :]
    return text


@settings(max_examples=300, deadline=None)
@given(_mutated_handoff())
def test_mutated_handoffs_give_a_dict_or_a_clean_error(text: str) -> None:
    try:
        result = extract_handoff_from_text(text)
    except HandoffError:
        return
    # A mutation that still parses must give an object, and compiling it fails only cleanly.
    assert isinstance(result, dict)
    try:
        compile_mission(result)
    except MissionContractError as exc:
        assert exc.errors


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


_MESSAGE = st.builds(
    lambda role, texts, as_string: {
        "type": "message",
        "role": role,
        "content": "".join(texts)
        if as_string
        else [{"type": "input_text", "text": t} for t in texts],
    },
    st.sampled_from(["user", "assistant", "developer", "system", "tool"]),
    st.lists(_TEXT, max_size=3),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_MESSAGE, _JSONISH), max_size=6))
def test_random_items_never_crash(items: list[Any]) -> None:
    with contextlib.suppress(HandoffError):
        assert isinstance(extract_handoff_from_items(items), dict)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _JSONISH, max_size=8))
def test_random_objects_round_trip_through_a_block(obj: dict[str, Any]) -> None:
    assert extract_handoff_from_text(_block(json.dumps(obj))) == obj


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _JSONISH, max_size=8))
def test_random_objects_never_crash_the_mission_compiler(obj: dict[str, Any]) -> None:
    try:
        compile_mission(obj)
    except MissionContractError as exc:
        assert exc.errors
