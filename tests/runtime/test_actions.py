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
