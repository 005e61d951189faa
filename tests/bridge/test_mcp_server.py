"""``codex-oss mcp`` driven by the ``mcp`` SDK's own stdio client: the tools and their schemas,
``run_mission`` against a bridge it starts on demand (with progress notifications or log
messages), calls refused with the field named, and two projects served at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import final_action, make_git_project, tool_action
from runtime.answer import extract_report
from runtime.mission import Tier, template
from runtime.processes import free_port

CODEX_OSS = [sys.executable, "-c", "from bridge.cli import main; main()"]
UPSTREAM_KEY = "mcp-test-upstream-key-0123456"


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream.in_thread() as server:
        yield server


def _project(root: Path) -> Path:
    return make_git_project(root, {"src/app.py": "def total(items):\n    return sum(items[:-1])\n"})


def _env(upstream: ScriptedUpstream) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PROXY_API_KEY", "PROXY_PORT")}
    env.update(
        UPSTREAM_BASE_URL=upstream.base_url,
        OPENCODE_GO_API_KEY=UPSTREAM_KEY,
        PROXY_PORT=str(free_port()),
    )
    return env


def _stop_bridge(project: Path) -> None:
    subprocess.run([*CODEX_OSS, "stop", "--project", str(project)], capture_output=True)


async def _session(stack: AsyncExitStack, project: Path, env: dict[str, str], **kw: Any):
    params = StdioServerParameters(
        command=CODEX_OSS[0], args=[*CODEX_OSS[1:], "mcp"], env=env, cwd=str(project)
    )
    read, write = await stack.enter_async_context(stdio_client(params))
    session = await stack.enter_async_context(ClientSession(read, write, **kw))
    await session.initialize()
    return session


def _mission(mission_id: str, **fields: Any) -> dict[str, Any]:
    mission = template(
        Tier.A3, "Why does total() miss the last item?", mission_id, allowed_roots=["src"]
    )
    return {**mission, **fields}


def _turns(claim: str = "total() slices off the last item") -> list[dict[str, Any]]:
    read = tool_action("read", "read total()", path="src/app.py", start_line=1, end_line=2)
    return [read, final_action(refs=["file:src/app.py#L1-L2"], claim=claim)]


async def test_tools_are_listed_with_schemas_and_annotations(tmp_path, upstream):
    project = _project(tmp_path / "p")
    async with AsyncExitStack() as stack:
        session = await _session(stack, project, _env(upstream))
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {
        "run_mission",
        "mission_report",
        "mission_summary",
        "mission_trace",
        "promote_patch",
        "rollback_patch",
    }
    schema = tools["run_mission"].inputSchema
    assert schema["required"] == ["mission", "model"]
    mission = schema["properties"]["mission"]
    assert "$ref" not in str(mission) and "$defs" not in mission  # self-contained
    assert mission["properties"]["tier"]["enum"] == ["A2", "A3", "A4", "A5", "A6"]
    assert "A5 default 32, cap 60" in mission["properties"]["tool_budget"]["description"]
    timeout = mission["properties"]["verification"]["properties"]["timeout_seconds"]
    assert "at most 1800" in timeout["description"]  # Codex drops "maximum"; words stay
    assert "mission-a3-kimi" in schema["properties"]["model"]["enum"]
    assert tools["promote_patch"].annotations.destructiveHint is True
    assert tools["rollback_patch"].annotations.destructiveHint is True
    assert tools["mission_report"].annotations.readOnlyHint is True


async def test_run_mission_returns_the_report_and_sends_progress(tmp_path, upstream):
    project = _project(tmp_path / "p")
    upstream.set_script({"kimi-k2.6": _turns()})
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    try:
        async with AsyncExitStack() as stack:
            session = await _session(stack, project, _env(upstream))
            result = await session.call_tool(
                "run_mission",
                {"mission": _mission("m-mcp-1"), "model": "mission-a3-kimi"},
                progress_callback=on_progress,
            )
    finally:
        _stop_bridge(project)
    assert result.isError is False
    text = result.content[0].text
    report = extract_report(text)
    assert report is not None and report["status"] == "COMPLETE"
    assert result.structuredContent == report
    assert text.startswith("OSS mission m-mcp-1: COMPLETE")
    assert len(progress) >= 2 and all(progress)  # commentary, line by line
    assert len(upstream.chat_requests("kimi-k2.6")) == 2
    assert (project / ".codex-oss/missions/m-mcp-1/report.json").is_file()


async def test_without_a_progress_token_commentary_goes_out_as_log_messages(tmp_path, upstream):
    project = _project(tmp_path / "p")
    upstream.set_script({"kimi-k2.6": _turns()})
    logged: list[Any] = []

    async def on_log(params: Any) -> None:
        logged.append(params)

    try:
        async with AsyncExitStack() as stack:
            session = await _session(stack, project, _env(upstream), logging_callback=on_log)
            result = await session.call_tool(
                "run_mission", {"mission": _mission("m-mcp-log"), "model": "mission-a3-kimi"}
            )
    finally:
        _stop_bridge(project)
    assert result.isError is False
    assert logged and {entry.logger for entry in logged} == {"opencode_bridge"}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"model": "mission-a3-kimi"}, "mission: missing"),
        ({"mission": "MISSION", "model": "mission-a3-kimi"}, "mission: a string that is not JSON"),
        (
            {"mission": _mission("m-x", tier="A9"), "model": "mission-a3-kimi"},
            "mission.tier: Input should be",
        ),
        (
            {"mission": {**_mission("m-x"), "colour": "red"}, "model": "mission-a3-kimi"},
            "mission.colour: unknown field",
        ),
        (
            {"mission": _mission("m-x"), "model": "mission-a9-nobody"},
            "model: 'mission-a9-nobody' is not a mission alias",
        ),
        (
            {
                "mission": template(Tier.A5, "Fix it", "m-x", owned_paths=["src/app.py"]),
                "model": "mission-a3-kimi",
            },
            "tier: the handoff asks for A5 but mission-a3-kimi runs missions up to A3",
        ),
    ],
)
async def test_a_call_that_cannot_become_a_mission_is_a_tool_error_naming_the_field(
    tmp_path, upstream, arguments, expected
):
    project = _project(tmp_path / "p")
    async with AsyncExitStack() as stack:
        session = await _session(stack, project, _env(upstream))
        result = await session.call_tool("run_mission", arguments)
    assert result.isError is True
    text = result.content[0].text
    assert expected in text, text
    assert "nothing ran" in text
    assert upstream.chat_requests() == []  # nothing reached the upstream
    assert not (project / ".codex-oss/run/bridge.pid").exists()  # no bridge was even started


async def test_two_installed_projects_are_served_at_once(tmp_path, upstream):
    first, second = _project(tmp_path / "one"), _project(tmp_path / "two")
    home, port = tmp_path / "codex-home", str(free_port())
    for project, extra in ((first, ["--port", port]), (second, [])):  # one shared port
        done = subprocess.run(
            [*CODEX_OSS, "install", "--project", str(project), "--codex-home", str(home), *extra],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "PROXY_PORT"},
        )
        assert done.returncode == 0, done.stderr
    upstream.set_script({"kimi-k2.6": [*_turns("first claim"), *_turns("second claim")]})
    env = _env(upstream)
    del env["PROXY_PORT"]  # both want the installed port: the second bridge finds its own
    try:
        async with AsyncExitStack() as stack:
            one = await _session(stack, first, env)
            two = await _session(stack, second, env)
            a = await one.call_tool(
                "run_mission", {"mission": _mission("m-one"), "model": "mission-a3-kimi"}
            )
            b = await two.call_tool(
                "run_mission", {"mission": _mission("m-two"), "model": "mission-a3-kimi"}
            )
            report_b = await two.call_tool("mission_report", {"mission_id": "m-two"})
            missing = await one.call_tool("mission_report", {"mission_id": "m-two"})
            ports = {
                (p / ".codex-oss/run/bridge.port").read_text().strip() for p in (first, second)
            }
    finally:
        _stop_bridge(first)
        _stop_bridge(second)
    assert a.isError is False and b.isError is False
    assert (first / ".codex-oss/missions/m-one/report.json").is_file()
    assert (second / ".codex-oss/missions/m-two/report.json").is_file()
    assert not (first / ".codex-oss/missions/m-two").exists()
    assert report_b.structuredContent["mission_id"] == "m-two"
    assert missing.isError is True and "no mission 'm-two'" in missing.content[0].text
    assert len(ports) == 2 and port in ports  # the installed port, and another free one
