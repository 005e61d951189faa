"""A GPT parent delegates through ``run_mission``, with the topology a user really has.

The parent runs on Codex's built-in provider, pointed by ``-c openai_base_url=…`` at a
scripted Responses server (NOT at the bridge). ``codex-oss install`` registered the MCP
server in CODEX_HOME; Codex starts it, GPT calls ``mcp__opencode_bridge.run_mission``, the
server hands the mission to the project's bridge (started on demand with the settings Codex
passes through ``env_vars``), the mission runs against the scripted upstream, and the
parent's next request carries the tool's answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.app import ServerThread, create_app
from bridge.daemon import bridge_settings
from bridge.scripted_upstream import ScriptedUpstream
from bridge.smoke import codex_exec
from pytest_opencode_bridge.harness import final_action, make_git_project, tool_action
from pytest_opencode_bridge.scripted_responses import (
    ScriptedResponses,
    call_turn,
    function_outputs,
    search_turn,
    text_turn,
)
from runtime.mission import Tier, template
from runtime.processes import free_port

pytestmark = pytest.mark.codex

CODEX_OSS = [sys.executable, "-c", "from bridge.cli import main; main()"]
NAMESPACE = "mcp__opencode_bridge"
PARENT_MODEL = "gpt-5.5"


@dataclass
class GptParentRig:
    """A GPT parent on its own provider, an installed project, and a scripted upstream."""

    parent: ScriptedResponses
    upstream: ScriptedUpstream
    project: Path
    home: Path
    codex: Path
    port: int

    def exec(self, prompt: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXY_", "OPENAI_"))}
        env.update(
            OPENAI_API_KEY="sk-test-parent-key-0000",  # the parent's own provider wants one
            UPSTREAM_BASE_URL=self.upstream.base_url,  # reaches the MCP server via env_vars
            OPENCODE_GO_API_KEY="e2e-upstream-key-987654321",
            PROXY_PORT=str(self.port),
        )
        return codex_exec(
            self.codex,
            prompt,
            PARENT_MODEL,
            "-c",
            f"openai_base_url={self.parent.base_url}",
            codex_home=self.home,
            cwd=self.project,
            timeout=240,
            env=env,
        )

    def tool_outputs(self) -> list[str]:
        """What Codex sent back to the parent as tool outputs (the last request resends all)."""
        return function_outputs(self.parent.requests[-1])

    def debug(self) -> str:
        """The parent's requests in short, for an assertion message."""
        return "\n".join(json.dumps(body["input"][-4:])[-1500:] for body in self.parent.requests)


@pytest.fixture
def gpt_rig(codex_bin: Path, tmp_path: Path) -> Iterator[GptParentRig]:
    project = make_git_project(
        tmp_path / "project", {"src/app.py": "def total(items):\n    return sum(items[:-1])\n"}
    )
    home = tmp_path / "codex-home"
    home.mkdir()
    port = free_port()
    done = subprocess.run(
        [
            *CODEX_OSS,
            "install",
            "--project",
            str(project),
            "--codex-home",
            str(home),
            "--port",
            str(port),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with ScriptedUpstream.in_thread() as upstream, ScriptedResponses().in_thread() as parent:
        try:
            yield GptParentRig(parent, upstream, project, home, codex_bin, port)
        finally:
            subprocess.run(
                [*CODEX_OSS, "stop", "--project", str(project)], capture_output=True, check=False
            )


def _mission(mission_id: str, **fields: Any) -> dict[str, Any]:
    mission = template(
        Tier.A3, "Why does total() miss the last item?", mission_id, allowed_roots=["src"]
    )
    return {**mission, **fields}


def _delegate(mission: dict[str, Any], model: str = "mission-a3-kimi") -> list[dict]:
    """What GPT does: load the deferred MCP tools with tool_search, then call run_mission."""
    call = call_turn("run_mission", {"mission": mission, "model": model}, namespace=NAMESPACE)
    return [search_turn("run_mission opencode bridge"), call]


def _found_by_search(body: dict[str, Any]) -> bool:
    """Whether a parent request shows run_mission found by tool_search."""
    for item in body.get("input") or []:
        if item.get("type") == "tool_search_output":
            if "run_mission" in json.dumps(item.get("tools")):
                return True
        elif item.get("type") == "message":
            parts = item.get("content") or []
            text = "".join(part.get("text", "") for part in parts if isinstance(part, dict))
            if f"Added deferred tool namespaces:\n- {NAMESPACE}" in text:
                return True
    return False


def _tool_result(output: str) -> str:
    """The tool's result in a function_call_output, without Codex's wall-time header."""
    return output.split("Output:\n", 1)[-1]


def _report(output: str) -> dict[str, Any]:
    """The report a run_mission output carries.

    Codex 0.169.0 gives the model a tool's ``structuredContent`` (the report, as JSON) in
    place of its text when a result has both; so that is what the parent sees.
    """
    return json.loads(_tool_result(output))


def test_gpt_parent_gets_the_full_report_of_a_mission_it_ran_through_mcp(gpt_rig):
    read = tool_action("read", "read total()", path="src/app.py", start_line=1, end_line=2)
    claim = "total() slices off the last item"
    gpt_rig.upstream.set_script(
        {"kimi-k2.6": [read, final_action(refs=["file:src/app.py#L1-L2"], claim=claim)]}
    )
    gpt_rig.parent.turns = _delegate(_mission("m-mcp-e2e"))

    result = gpt_rig.exec("Find out why total() is wrong; delegate it.")
    assert result.returncode == 0, result.stderr
    assert "PARENT DONE" in result.stdout, gpt_rig.debug()

    # The tool reached the model through the tool search: Codex answers it with the tools'
    # schemas, or (when they are loaded already) with a note adding the namespace.
    assert any(_found_by_search(body) for body in gpt_rig.parent.requests), gpt_rig.debug()
    assert len(gpt_rig.upstream.chat_requests("kimi-k2.6")) == 2  # the mission ran its turns
    (output,) = gpt_rig.tool_outputs()
    report = _report(output)
    assert report["status"] == "COMPLETE"
    assert report["findings"][0]["evidence_refs"] == ["file:src/app.py#L1-L2"]
    saved = json.loads((gpt_rig.project / ".codex-oss/missions/m-mcp-e2e/report.json").read_text())
    saved.pop("projection_stamp")  # where the file came from, not part of the answer
    assert saved == report  # the parent got the whole report, not a digest


def test_a_failed_mission_reaches_the_parent_with_its_blocker_and_runs_once(gpt_rig):
    prose = {"content": "I would start by looking around the repository."}
    gpt_rig.upstream.set_script({"kimi-k2.6": [prose, prose, prose, prose]})
    gpt_rig.parent.turns = _delegate(_mission("m-mcp-fail"))

    result = gpt_rig.exec("Find out why total() is wrong; delegate it.")
    assert result.returncode == 0, result.stderr

    (output,) = gpt_rig.tool_outputs()
    report = _report(output)
    assert report["status"] == "FAILED"
    assert report["closure"]["reason"]  # the blocker is named
    assert len(gpt_rig.upstream.chat_requests("kimi-k2.6")) == 2  # one try and one repair
    runs = list((gpt_rig.project / ".codex-oss/runs").iterdir())
    assert len(runs) == 1  # the mission ran once


def test_an_invalid_mission_is_a_tool_error_naming_the_field_and_reaches_no_upstream(gpt_rig):
    gpt_rig.parent.turns = _delegate(_mission("m-mcp-bad", tier="A9"))

    result = gpt_rig.exec("Delegate it.")
    assert result.returncode == 0, result.stderr

    (output,) = gpt_rig.tool_outputs()
    assert "mission.tier" in output and "nothing ran" in output, output
    assert gpt_rig.upstream.chat_requests() == []
    assert not (gpt_rig.project / ".codex-oss/runs").exists()


def test_promote_keeps_its_approval_so_codex_exec_cannot_call_it(gpt_rig):
    gpt_rig.parent.turns = [
        search_turn("promote patch"),
        call_turn("promote_patch", {"mission_id": "m-none"}, namespace=NAMESPACE),
        call_turn("mission_report", {"mission_id": "m-none"}, namespace=NAMESPACE),
    ]

    result = gpt_rig.exec("Promote it.")
    assert result.returncode == 0, result.stderr

    promote, report = gpt_rig.tool_outputs()
    assert "approval" in promote.lower(), promote  # Codex refused it without asking us
    assert "no mission 'm-none'" in report  # a read tool runs unasked, and answers


def test_a_gpt_parents_spawned_role_goes_to_the_parents_provider_and_doctor_says_so(gpt_rig):
    """The role path with the real topology: Codex 0.169.0 ignores the role's model_provider
    (openai/codex#40858), so the child's request reaches the parent's provider, not the
    bridge, even with a bridge serving the installed port."""
    config = gpt_rig.home / "config.toml"
    trusted = f'[projects."{gpt_rig.project}"]\ntrust_level = "trusted"\n'  # project roles load
    config.write_text(trusted + config.read_text())
    mission = _mission("m-role")
    spawn = {
        "agent_type": "oss_kimi_investigator",
        "message": f"<OSS_HANDOFF_JSON>{json.dumps(mission)}</OSS_HANDOFF_JSON>",
    }

    def wait_for_child(body: dict[str, Any]) -> dict[str, Any]:
        agent_id = json.loads(function_outputs(body)[-1])["agent_id"]
        wait = {"targets": [agent_id], "timeout_ms": 60000}
        return call_turn("wait_agent", wait, namespace="multi_agent_v1")

    gpt_rig.parent.turns = [
        call_turn("spawn_agent", spawn, namespace="multi_agent_v1"),
        wait_for_child,
    ]
    gpt_rig.parent.model_turns = {"mission-a3-kimi": [text_turn("CHILD ON THE PARENT'S PROVIDER")]}
    settings = bridge_settings(gpt_rig.project, UPSTREAM_BASE_URL=gpt_rig.upstream.base_url)
    bridge = ServerThread(lambda: create_app(settings, gpt_rig.project), port=gpt_rig.port)
    with bridge:
        result = gpt_rig.exec("Delegate it to oss_kimi_investigator.")
    assert result.returncode == 0, result.stderr

    models = [body["model"] for body in gpt_rig.parent.requests]
    assert "mission-a3-kimi" in models  # the child's request, on the parent's provider
    assert "CHILD ON THE PARENT'S PROVIDER" in json.dumps(gpt_rig.parent.requests[-1]["input"])
    assert gpt_rig.upstream.chat_requests() == []  # the bridge never saw it
    assert not (gpt_rig.project / ".codex-oss/runs").exists()

    doctor = subprocess.run(
        [
            *CODEX_OSS,
            "doctor",
            "--json",
            "--project",
            str(gpt_rig.project),
            "--codex-home",
            str(gpt_rig.home),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert checks["mcp server"]["status"] == "ok", checks["mcp server"]
    delegation = checks["delegation"]["detail"]
    assert "GPT parent -> run_mission (MCP server opencode_bridge): wired" in delegation
    assert "spawn_agent does not reach the bridge" in delegation
    assert "openai/codex#40858" in delegation
