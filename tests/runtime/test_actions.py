import json

import pytest

from runtime.actions import ActionParseError, action_schema, parse_action

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
    assert (action.tool_name, action.arguments, action.phase.value) == (
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
        ('{"action_type": "tool_call", "tool_name": "ls", "colour": "red"}', "colour: unknown"),
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


def test_schema_lists_tools_and_allowed_types():
    schema = action_schema({"read": {}, "ls": {}}, INVESTIGATION)
    assert schema["properties"]["action_type"]["enum"] == ["final_report", "tool_call"]
    assert schema["properties"]["tool_name"]["enum"] == ["ls", "read", None]
    assert "patch" not in schema["properties"]
