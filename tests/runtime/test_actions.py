import json

import pytest

from runtime.actions import (
    ActionParseError,
    action_schema,
    max_json_chars,
    parse_action,
    read_action,
)

INVESTIGATION = frozenset({"tool_call", "final_report"})


def test_plain_tool_call_is_parsed():
    text = json.dumps(
        {
            "action_type": "tool_call",
            "tool_name": "read",
            "arguments": {"path": "a.py"},
            "reason": "look",
            "phase": "explore",
        }
    )
    action = parse_action(text, INVESTIGATION)
    assert (action.tool_name, action.arguments, action.phase) == (
        "read",
        {"path": "a.py"},
        "EXPLORE",
    )


def test_fenced_block_is_accepted():
    text = 'Sure.\n```json\n{"action_type": "tool_call", "tool_name": "ls", "reason": "x"}\n```'
    assert parse_action(text, INVESTIGATION).tool_name == "ls"


def test_common_key_and_type_aliases_are_normalised():
    text = json.dumps({"action": "tool", "tool": "grep", "args": {"pattern": "x"}})
    action = parse_action(text, INVESTIGATION)
    assert (action.action_type, action.tool_name, action.arguments) == (
        "tool_call",
        "grep",
        {"pattern": "x"},
    )


def test_several_fenced_blocks_are_refused():
    block = '```json\n{"action_type": "tool_call", "tool_name": "ls"}\n```'
    with pytest.raises(ActionParseError, match="several fenced blocks"):
        parse_action("a " + block + " b " + block, INVESTIGATION)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("not json at all", "not valid JSON"),
        ("[1, 2]", "one JSON object"),
        ('{"action_type": "dance"}', "action_type"),
        ('{"action_type": "tool_call"}', "needs tool_name"),
        ('{"action_type": "final_report"}', "needs a report"),
        ('{"tool": "ls", "tool_name": "read", "action_type": "tool_call"}', "given twice"),
    ],
)
def test_invalid_answers_name_what_is_wrong(text, message):
    with pytest.raises(ActionParseError, match=message):
        parse_action(text, INVESTIGATION)


def test_patch_action_refused_outside_patch_tiers():
    text = json.dumps({"action_type": "propose_patch", "patch": {"edits": []}})
    with pytest.raises(ActionParseError, match="not allowed in this mission"):
        parse_action(text, INVESTIGATION)
    assert parse_action(text, INVESTIGATION | {"propose_patch"}).patch == {"edits": []}


def test_schema_has_one_branch_per_tool_and_closing_action():
    specs = {"read": {"parameters": {"properties": {"path": {"type": "string"}}}}, "ls": {}}
    schema = action_schema(specs, INVESTIGATION)
    branches = {
        (b["properties"]["action_type"]["const"], b["properties"].get("tool_name", {}).get("const"))
        for b in schema["anyOf"]
    }
    assert branches == {("tool_call", "ls"), ("tool_call", "read"), ("final_report", None)}
    read = next(b for b in schema["anyOf"] if b["properties"].get("tool_name") == {"const": "read"})
    assert read["properties"]["arguments"]["required"] == ["path"]
    assert read["properties"]["arguments"]["additionalProperties"] is False


def test_schema_offers_propose_patch_only_when_allowed():
    def types(allowed):
        schema = action_schema({}, allowed)
        return {b["properties"]["action_type"]["const"] for b in schema["anyOf"]}

    assert "propose_patch" not in types(INVESTIGATION)
    assert "propose_patch" in types(INVESTIGATION | {"propose_patch"})


READ = {"action_type": "tool_call", "tool_name": "read", "arguments": {"path": "a.py"}}


@pytest.mark.parametrize(
    ("phase", "read_as", "note"),
    [
        ("explore", "EXPLORE", "phase 'explore' read as 'EXPLORE'"),
        ("investigate", "EXPLORE", "phase 'investigate' read as 'EXPLORE'"),
        ("Verification", "VERIFY", "read as 'VERIFY'"),
        ("brainstorm", "brainstorm", "not one of the runtime's; kept as text"),
    ],
)
def test_a_phase_never_invalidates_a_turn(phase, read_as, note):
    read = read_action(json.dumps({**READ, "phase": phase}), INVESTIGATION)
    assert read.action.phase == read_as
    assert any(note in line for line in read.notes)


def test_prose_around_the_object_is_ignored_and_noted():
    text = f"Let me look at the file.\n{json.dumps(READ)}\nI will report after that."
    read = read_action(text, INVESTIGATION)
    assert read.action.arguments == {"path": "a.py"}
    assert "read the Action from the text around it" in read.notes


def test_a_fence_with_any_language_tag_and_prose_is_read():
    text = f"Here you go:\n```JSON\n{json.dumps(READ)}\n```\nDone."
    assert parse_action(text, INVESTIGATION).tool_name == "read"


def test_extra_keys_are_dropped_and_noted():
    read = read_action(json.dumps({**READ, "colour": "red", "confidence": 0.4}), INVESTIGATION)
    assert read.action.tool_name == "read"
    assert any("'colour', 'confidence'" in note for note in read.notes)


def test_a_typeless_object_is_read_by_the_fields_it_has():
    read = read_action(json.dumps({"tool": "read", "args": {"path": "a.py"}}), INVESTIGATION)
    assert read.action.action_type == "tool_call"
    assert any("action_type missing" in note for note in read.notes)


def test_two_objects_are_ambiguous_and_refused():
    text = json.dumps(READ) + "\nor maybe\n" + json.dumps({**READ, "arguments": {"path": "b"}})
    with pytest.raises(ActionParseError, match="several JSON objects"):
        parse_action(text, INVESTIGATION)


def test_what_runs_stays_strict():
    with pytest.raises(ActionParseError, match="arguments"):
        parse_action(json.dumps({**READ, "arguments": "a.py"}), INVESTIGATION)
    with pytest.raises(ActionParseError, match="action_type"):
        parse_action(json.dumps({**READ, "action_type": "run_shell"}), INVESTIGATION)


def test_the_report_schema_asks_for_quotes_and_the_missions_outputs():
    schema = action_schema({}, frozenset({"final_report"}), ("caveats", "confidence"))
    (branch,) = schema["anyOf"]
    report = branch["properties"]["report"]
    assert report["required"] == ["status", "confidence", "findings", "caveats"]
    assert "quote" in report["properties"]["findings"]["items"]["required"]


def test_every_string_and_list_of_the_schema_is_bounded():
    specs = {"read": {"parameters": {"properties": {"path": {"type": "string"}}}}}
    schema = action_schema(specs, INVESTIGATION)
    assert max_json_chars(schema) is not None
    assert max_json_chars({"type": "string"}) is None
    assert max_json_chars({"type": "array", "items": {"enum": ["ab"]}, "maxItems": 2}) == 2 + 2 * 5


def test_prose_around_absurd_nesting_is_refused_without_decoding_it():
    with pytest.raises(ActionParseError, match="nests deeper"):
        parse_action("here: " + "[" * 5000 + "]" * 5000, INVESTIGATION)
