"""The scripted upstream: script validation, answers (plain, streamed, failing), recording,
in-flight counts, the threaded server and the ``codex-oss scripted-upstream`` command."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from bridge.scripted_upstream import ScriptedUpstream, ScriptError, load_script

CHAT = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": "hi"}]}


async def post(up: ScriptedUpstream, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{up.base_url}/chat/completions", json=body, **kwargs)


# -- script validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ({"m": [{"contnet": "x"}]}, r"script\['m'\]\[0\] has unknown keys \['contnet'\]"),
        ({"m": [{"content": "x", "status": 500}]}, "at most one of them"),
        ({"m": [{"status": 700}]}, r"\.status must be an HTTP status code"),
        ({"m": [{"delay_seconds": -1}]}, r"\.delay_seconds must be a number >= 0"),
        ({"m": [{"tool_calls": [{"arguments": {}}]}]}, r"tool_calls\[0\]\.name"),
        ({"m": "hello"}, r"script\['m'\] must be a list of turns"),
        ({"models": {"m": [{"action": "x"}]}}, r"script\.models\['m'\]\[0\]\.action"),
        ({"m": {"turns": [], "repeat": True}}, r"unknown keys \['repeat'\]"),
    ],
)
def test_bad_scripts_are_refused_naming_the_turn(script: dict, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        load_script(script)


def test_script_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(ScriptError, match="is not JSON"):
        load_script(path)


# -- answers -------------------------------------------------------------------------------


async def test_plain_answer_has_message_finish_reason_and_usage(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": [{"content": "hello there"}]})
    answer = (await post(scripted_upstream, CHAT)).json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "kimi-k2.6"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "hello there"}
    assert answer["choices"][0]["finish_reason"] == "stop"
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


async def test_action_is_sent_as_json_content(scripted_upstream: ScriptedUpstream) -> None:
    action = {"action_type": "tool_call", "tool_name": "ls", "arguments": {"path": "."}}
    scripted_upstream.set_script({"*": [{"action": action}]})
    answer = (await post(scripted_upstream, CHAT)).json()
    assert json.loads(answer["choices"][0]["message"]["content"]) == action


async def test_tool_calls_have_openai_shape_and_null_content(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"*": [{"tool_calls": [{"name": "read", "arguments": {"p": 1}}]}]})
    choice = (await post(scripted_upstream, CHAT)).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call == {
        "id": "call_0",
        "type": "function",
        "function": {"name": "read", "arguments": '{"p": 1}'},
    }


async def test_queues_fall_back_to_star_and_exhaust_with_a_clear_500(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": [{"content": "a"}], "*": [{"content": "b"}]})
    first = (await post(scripted_upstream, CHAT)).json()
    other = (await post(scripted_upstream, {**CHAT, "model": "glm"})).json()
    exhausted = await post(scripted_upstream, CHAT)
    assert first["choices"][0]["message"]["content"] == "a"
    assert other["choices"][0]["message"]["content"] == "b"
    assert exhausted.status_code == 500
    assert exhausted.json()["error"]["message"] == "script exhausted for model kimi-k2.6"


async def test_repeat_last_replays_the_final_turn(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": [{"content": "a"}, {"content": "z"}], "repeat_last": True})
    texts = [(await post(scripted_upstream, CHAT)).json() for _ in range(4)]
    assert [t["choices"][0]["message"]["content"] for t in texts] == ["a", "z", "z", "z"]


async def test_status_turn_sends_status_body_and_headers(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script(
        {"*": [{"status": 429, "headers": {"Retry-After": "7"}}, {"status": 503, "body": "down"}]}
    )
    busy = await post(scripted_upstream, CHAT)
    down = await post(scripted_upstream, CHAT)
    assert (busy.status_code, busy.headers["retry-after"]) == (429, "7")
    assert "scripted status 429" in busy.json()["error"]["message"]
    assert (down.status_code, down.text) == (503, "down")


async def test_garbage_turn_is_not_json(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": [{"garbage": "<html>"}]})
    response = await post(scripted_upstream, CHAT)
    assert response.status_code == 200
    assert response.text == "<html>"


async def test_delay_holds_the_answer(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": [{"delay_seconds": 0.3, "content": "late"}]})
    with pytest.raises(httpx.ReadTimeout):
        await post(scripted_upstream, CHAT, timeout=0.1)


async def test_cut_stream_drops_the_connection(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": [{"content": "x" * 80, "cut_stream_after": 2}]})
    lines = []
    async with httpx.AsyncClient() as http:
        url = f"{scripted_upstream.base_url}/chat/completions"
        async with http.stream("POST", url, json={**CHAT, "stream": True}) as response:
            with pytest.raises(httpx.RemoteProtocolError):
                async for line in response.aiter_lines():
                    lines.append(line)
    assert [line for line in lines if line.startswith("data:")][-1] != "data: [DONE]"
    assert len([line for line in lines if line.startswith("data:")]) == 2


async def test_the_openai_sdk_reads_the_stream(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script(
        {"*": [{"content": "streamed words for the sdk", "reasoning_content": "hmm"}]}
    )
    sdk = openai.AsyncOpenAI(base_url=scripted_upstream.base_url, api_key="k", max_retries=0)
    try:
        stream = await sdk.chat.completions.create(
            model="kimi-k2.6", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    finally:
        await sdk.close()
    assert "".join(parts) == "streamed words for the sdk"
    assert scripted_upstream.requests[-1].headers["authorization"] == "Bearer k"


async def test_the_openai_sdk_reads_tool_calls(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": [{"tool_calls": [{"name": "ls", "arguments": {}}]}]})
    sdk = openai.AsyncOpenAI(base_url=scripted_upstream.base_url, api_key="k", max_retries=0)
    try:
        answer = await sdk.chat.completions.create(model="m", messages=[])
    finally:
        await sdk.close()
    assert answer.choices[0].message.tool_calls[0].function.name == "ls"


# -- recording and bookkeeping -------------------------------------------------------------


async def test_every_request_is_recorded(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"kimi-k2.6": [{"content": "a"}]})
    await post(scripted_upstream, CHAT, headers={"x-probe": "1"})
    async with httpx.AsyncClient() as http:
        models = (await http.get(f"{scripted_upstream.base_url}/models")).json()
        missing = await http.get(f"{scripted_upstream.base_url}/nothing")
    assert [m["id"] for m in models["data"]] == ["kimi-k2.6"]
    assert missing.status_code == 404
    paths = [(r.method, r.path) for r in scripted_upstream.requests]
    assert paths == [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/v1/nothing"),
    ]
    chat = scripted_upstream.requests[0]
    assert chat.body == CHAT and chat.model == "kimi-k2.6"
    assert chat.headers["x-probe"] == "1"


async def test_bad_json_body_is_a_400_and_still_recorded(
    scripted_upstream: ScriptedUpstream,
) -> None:
    response = await post(scripted_upstream, {}, content=b"{oops")
    assert response.status_code == 400
    assert "not a JSON object" in response.json()["error"]["message"]
    assert scripted_upstream.requests[0].body == "{oops"


async def test_in_flight_is_counted_per_model(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": {"turns": [{"delay_seconds": 0.2}], "repeat_last": True}})
    async with httpx.AsyncClient() as http:
        url = f"{scripted_upstream.base_url}/chat/completions"
        await asyncio.gather(
            *(http.post(url, json=CHAT) for _ in range(3)),
            http.post(url, json={**CHAT, "model": "other"}),
        )
    assert scripted_upstream.max_in_flight == {"kimi-k2.6": 3, "other": 1}
    assert scripted_upstream.in_flight == {"kimi-k2.6": 0, "other": 0}
    assert scripted_upstream.max_total_in_flight == 4


async def test_set_script_restarts_queues_and_add_turns_appends(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"*": [{"content": "one"}]})
    await post(scripted_upstream, CHAT)
    scripted_upstream.set_script({"*": [{"content": "fresh"}]})
    scripted_upstream.add_turns("kimi-k2.6", [{"content": "added"}])
    first = (await post(scripted_upstream, CHAT)).json()
    assert first["choices"][0]["message"]["content"] == "added"
    assert len(scripted_upstream.requests) == 2


# -- threaded server and CLI ---------------------------------------------------------------


def test_in_thread_serves_synchronous_clients() -> None:
    with ScriptedUpstream.in_thread({"*": [{"content": "from a thread"}]}) as up:
        answer = httpx.post(f"{up.base_url}/chat/completions", json=CHAT).json()
        port = up.port
    assert answer["choices"][0]["message"]["content"] == "from a thread"
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT)


def test_thread_fixture_is_a_running_server(scripted_upstream_thread: ScriptedUpstream) -> None:
    scripted_upstream_thread.set_script({"*": [{"content": "ok"}]})
    response = httpx.post(f"{scripted_upstream_thread.base_url}/chat/completions", json=CHAT)
    assert response.json()["choices"][0]["message"]["content"] == "ok"


def codex_oss() -> list[str]:
    return [sys.executable, "-c", "from bridge.cli import main; main()"]


def test_cli_serves_a_script_and_records_requests(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"kimi-k2.6": [{"content": "from the cli"}]}), encoding="utf-8")
    record = tmp_path / "requests.jsonl"
    process = subprocess.Popen(
        [*codex_oss(), "scripted-upstream", str(script), "--port", "0", "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        base_url = first_line.strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        answer = httpx.post(f"{base_url}/chat/completions", json=CHAT, timeout=10).json()
        assert answer["choices"][0]["message"]["content"] == "from the cli"
        [line] = record.read_text(encoding="utf-8").splitlines()
        assert json.loads(line)["body"] == CHAT
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    assert code == 0


def test_cli_refuses_a_bad_script_as_a_usage_error(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"m": [{"stauts": 500}]}), encoding="utf-8")
    done = subprocess.run(
        [*codex_oss(), "scripted-upstream", str(script)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "script['m'][0] has unknown keys ['stauts']" in done.stderr
