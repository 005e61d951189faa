"""Codex CLI 0.169.0 on raw aliases: answers, tool round trips and failures."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.codex


def test_codex_exec_prints_the_scripted_answer(rig):
    rig.upstream.set_script({"e2e-model": [{"content": "SCRIPTED ANSWER 42"}]})
    result = rig.exec("say the answer", "ocg-e2e-model")
    assert result.returncode == 0, result.stderr
    assert "SCRIPTED ANSWER 42" in result.stdout
    (request,) = rig.upstream.chat_requests()
    assert request.body["model"] == "e2e-model"
    assert request.body["messages"][-1] == {"role": "user", "content": "say the answer"}


def test_codex_runs_the_upstreams_exec_command_and_sends_the_output_back(rig):
    rig.upstream.set_script(
        {
            "e2e-model": [
                {
                    "reasoning_content": "I should run the command.",
                    "tool_calls": [
                        {"name": "exec_command", "arguments": {"cmd": "echo bridge-e2e-marker"}}
                    ],
                },
                {"content": "The command printed the marker."},
            ]
        }
    )
    result = rig.exec("run the marker command", "ocg-e2e-model")
    assert result.returncode == 0, result.stderr
    assert "The command printed the marker." in result.stdout

    first, second = rig.upstream.chat_requests()
    assert any(t["function"]["name"] == "exec_command" for t in first.body["tools"])
    assistant, tool = second.body["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "exec_command"
    assert assistant["reasoning_content"] == "I should run the command."
    assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert "bridge-e2e-marker" in tool["content"]


def test_an_upstream_failure_reaches_the_user_with_its_reason(rig):
    failure = {"status": 400, "body": {"error": {"message": "scripted upstream refuses"}}}
    rig.upstream.set_script({"e2e-model": {"turns": [failure], "repeat_last": True}})
    result = rig.exec("say anything", "ocg-e2e-model")
    assert result.returncode != 0
    shown = result.stdout + result.stderr
    assert "upstream failed" in shown
    assert "scripted upstream refuses" in shown


def test_a_gpt_name_is_refused_with_the_bridges_message(rig):
    result = rig.exec("hello", "gpt-5.5")
    assert result.returncode != 0
    assert "unsupported_bridge_model" in result.stdout + result.stderr or (
        "open-source models only" in result.stdout + result.stderr
    )
