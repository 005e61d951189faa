"""Responses <-> chat-completions translation, on the real Codex captures and small cases."""

from __future__ import annotations

import json

import pytest
from codex_captures import capture_body

from bridge.translate import TranslationError, output_items, to_chat


def _tool_names(body: dict) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools", [])]


def _messages_with(body: dict, role: str) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == role]


# --- the captures -----------------------------------------------------------------------------


def test_exec_command_turn1_becomes_system_then_user_messages_and_function_tools():
    chat = to_chat(capture_body("exec_command_turn1.full.json")).body

    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "user"]
    system = chat["messages"][0]["content"]
    assert system.startswith("You are a coding agent running in the Codex CLI")
    assert "<skills_instructions>" in system  # the second developer message is merged in
    assert chat["messages"][-1]["content"] == "run echo"
    names = _tool_names(chat)
    assert "exec_command" in names
    assert "multi_agent_v1__spawn_agent" in names
    assert "web_search" not in " ".join(names)
    exec_tool = next(t for t in chat["tools"] if t["function"]["name"] == "exec_command")
    assert exec_tool["function"]["parameters"]["required"] == ["cmd"]
    assert chat["tool_choice"] == "auto"
    assert chat["parallel_tool_calls"] is True
    assert "model" not in chat


def test_tool_roundtrip_turn2_sends_the_call_and_its_output():
    chat = to_chat(capture_body("tool_roundtrip_turn2.trimmed.json")).body

    assistant = _messages_with(chat, "assistant")
    assert len(assistant) == 1
    (call,) = assistant[0]["tool_calls"]
    assert call == {
        "id": "call_f3ba9faf1330460c87eb39e6",
        "type": "function",
        "function": {"name": "exec_command", "arguments": '{"cmd": "echo hi-from-tool"}'},
    }
    (tool,) = _messages_with(chat, "tool")
    assert tool["tool_call_id"] == "call_f3ba9faf1330460c87eb39e6"
    assert "Process exited with code 0" in tool["content"]
    assert chat["messages"][-1] is tool


def test_reasoning_roundtrip_turn2_sends_reasoning_content_back_on_the_call():
    chat = to_chat(capture_body("reasoning_roundtrip_turn2.full.json")).body

    (assistant,) = _messages_with(chat, "assistant")
    assert assistant["reasoning_content"] == "BRIDGE-OPAQUE-123"
    assert assistant["tool_calls"][0]["function"]["name"] == "exec_command"
    assert "hi-from-tool" in _messages_with(chat, "tool")[0]["content"]


def test_apply_patch_custom_tool_becomes_a_one_string_function_and_back():
    request = capture_body("apply_patch_custom_tool_turn2.trimmed.json")
    translated = to_chat(request)
    chat = translated.body

    patch_tool = next(t for t in chat["tools"] if t["function"]["name"] == "apply_patch")
    params = patch_tool["function"]["parameters"]
    assert params["required"] == ["input"]
    assert params["properties"]["input"]["type"] == "string"
    assert "begin_patch" in params["properties"]["input"]["description"]  # the grammar
    (assistant,) = _messages_with(chat, "assistant")
    (call,) = assistant["tool_calls"]
    assert call["function"]["name"] == "apply_patch"
    assert json.loads(call["function"]["arguments"])["input"].startswith("*** Begin Patch")
    (tool,) = _messages_with(chat, "tool")
    assert tool["tool_call_id"] == "call_69199b547fdb41fe8652c7ea"
    assert "A hello_from_bridge.txt" in tool["content"]


def test_parent_spawn_turn1_flattens_the_namespace_and_restores_it_on_calls():
    translated = to_chat(capture_body("parent_spawn_turn1.full.json"))
    chat = translated.body
    spawn = next(t for t in chat["tools"] if t["function"]["name"] == "multi_agent_v1__spawn_agent")
    assert spawn["function"]["description"].startswith("[multi_agent_v1]")
    assert sorted(n for n in _tool_names(chat) if n.startswith("multi_agent_v1__")) == [
        "multi_agent_v1__close_agent",
        "multi_agent_v1__resume_agent",
        "multi_agent_v1__send_input",
        "multi_agent_v1__spawn_agent",
        "multi_agent_v1__wait_agent",
    ]
    call = {
        "id": "call_1",
        "type": "function",
        "function": {
            "name": "multi_agent_v1__spawn_agent",
            "arguments": '{"agent_type":"bridge_reviewer","message":"go"}',
        },
    }
    (item,) = output_items(None, None, [call], translated.tools)
    assert item["type"] == "function_call"
    assert item["name"] == "spawn_agent"
    assert item["namespace"] == "multi_agent_v1"
    assert item["call_id"] == "call_1"


def test_subagent_child_turn1_keeps_the_role_instructions_and_has_no_agent_tools():
    chat = to_chat(capture_body("subagent_child_turn1.full.json")).body

    assert "You are a careful code reviewer" in chat["messages"][0]["content"]
    assert not [n for n in _tool_names(chat) if n.startswith("multi_agent_v1")]
    assert chat["messages"][-1]["content"] == "Review nothing; just reply ok."


# --- output items -----------------------------------------------------------------------------


def _tools_request(**extra) -> dict:
    return {
        "model": "m",
        "input": "hi",
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {
                "type": "namespace",
                "name": "multi_agent_v1",
                "tools": [{"type": "function", "name": "wait_agent", "parameters": {}}],
            },
            {"type": "custom", "name": "apply_patch", "format": {"type": "text"}},
            {"type": "web_search"},
            {"type": "local_shell"},
            {"type": "image_generation"},
        ],
        **extra,
    }


def test_hosted_tools_are_dropped():
    chat = to_chat(_tools_request()).body
    assert _tool_names(chat) == ["exec_command", "multi_agent_v1__wait_agent", "apply_patch"]


def test_unknown_tool_type_is_an_error_naming_the_tool():
    with pytest.raises(TranslationError, match=r"tools\[0\]\.type 'telepathy'"):
        to_chat({"input": "x", "tools": [{"type": "telepathy"}]})


def test_a_namespaced_call_returned_without_its_prefix_gets_its_namespace_back():
    tools = to_chat(_tools_request()).tools
    call = {"id": "c", "function": {"name": "wait_agent", "arguments": "{}"}}
    (item,) = output_items(None, None, [call], tools)
    assert (item["name"], item["namespace"]) == ("wait_agent", "multi_agent_v1")


def test_a_custom_tool_call_comes_back_as_custom_tool_call_with_raw_input():
    tools = to_chat(_tools_request()).tools
    call = {
        "id": "c",
        "function": {"name": "apply_patch", "arguments": json.dumps({"input": "*** Begin"})},
    }
    (item,) = output_items(None, None, [call], tools)
    assert item["type"] == "custom_tool_call"
    assert item["input"] == "*** Begin"
    assert item["call_id"] == "c"


def test_answer_items_come_in_order_reasoning_message_calls():
    tools = to_chat(_tools_request()).tools
    call = {"id": "c", "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'}}
    items = output_items("looking", "I think", [call], tools)
    assert [i["type"] for i in items] == ["reasoning", "message", "function_call"]
    assert items[0]["encrypted_content"] == "I think"
    assert items[1]["content"][0]["text"] == "looking"
    assert "namespace" not in items[2]


def test_output_items_fed_back_as_input_reproduce_the_upstream_turn():
    tools_request = _tools_request()
    tools = to_chat(tools_request).tools
    calls = [
        {"id": "c1", "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'}},
        {"id": "c2", "function": {"name": "multi_agent_v1__wait_agent", "arguments": "{}"}},
        {"id": "c3", "function": {"name": "apply_patch", "arguments": '{"input":"P"}'}},
    ]
    items = output_items("text", "thoughts", calls, tools)
    outputs = [
        {"type": "function_call_output", "call_id": "c1", "output": "a"},
        {
            "type": "function_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "b"}],
        },
        {"type": "custom_tool_call_output", "call_id": "c3", "output": "c"},
    ]
    history = [{"role": "user", "content": "go"}, *items, *outputs]
    chat = to_chat({**tools_request, "input": history}).body

    (assistant,) = _messages_with(chat, "assistant")
    assert assistant["content"] == "text"
    assert assistant["reasoning_content"] == "thoughts"
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == [
        "exec_command",
        "multi_agent_v1__wait_agent",
        "apply_patch",
    ]
    assert json.loads(assistant["tool_calls"][2]["function"]["arguments"]) == {"input": "P"}
    assert [m["content"] for m in _messages_with(chat, "tool")] == ["a", "b", "c"]


# --- sampling and format ------------------------------------------------------------------------


def test_sampling_fields_and_json_schema_format_are_mapped():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = to_chat(
        {
            "input": "x",
            "instructions": "be brief",
            "max_output_tokens": 77,
            "temperature": 0.2,
            "top_p": 0.9,
            "text": {
                "format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}
            },
        }
    ).body
    assert chat["messages"][0] == {"role": "system", "content": "be brief"}
    assert chat["max_tokens"] == 77
    assert (chat["temperature"], chat["top_p"]) == (0.2, 0.9)
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema, "strict": True},
    }
    assert "tools" not in chat and "tool_choice" not in chat


def test_tool_choice_naming_a_namespaced_function_uses_the_flat_name():
    chat = to_chat(_tools_request(tool_choice={"type": "function", "name": "wait_agent"})).body
    assert chat["tool_choice"] == {
        "type": "function",
        "function": {"name": "multi_agent_v1__wait_agent"},
    }


def test_unknown_input_item_is_an_error_naming_its_index():
    with pytest.raises(TranslationError, match=r"input\[1\]\.type 'web_search_call'"):
        to_chat({"input": [{"role": "user", "content": "x"}, {"type": "web_search_call"}]})


def test_user_images_become_image_url_parts():
    chat = to_chat(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "see"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                    ],
                }
            ]
        }
    ).body
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
