"""Codex CLI 0.169.0 with the model catalog ``codex-oss install`` writes: through the installed
``opencode_bridge`` profile, bridge aliases have metadata (no "Model metadata ... not found"
warning) and a raw alias is offered Codex's ``apply_patch`` tool."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.app import ServerThread, create_app
from bridge.codex_catalog import PROFILE_NAME, RAW_INSTRUCTIONS
from bridge.daemon import bridge_settings
from bridge.scripted_upstream import ScriptedUpstream
from bridge.smoke import codex_exec
from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action
from runtime.processes import free_port

pytestmark = pytest.mark.codex
NO_METADATA = "Model metadata for"


@dataclass
class ProfileRig:
    upstream: ScriptedUpstream
    project: Path
    home: Path
    codex: Path

    def exec(self, model: str, prompt: str, *options: str) -> subprocess.CompletedProcess[str]:
        return codex_exec(
            self.codex,
            prompt,
            model,
            *options,
            codex_home=self.home,
            cwd=self.project,
            timeout=120,
        )


@pytest.fixture
def profile_rig(codex_bin: Path, tmp_path: Path) -> Iterator[ProfileRig]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("the answer is 42\n")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    home = tmp_path / "codex-home"
    home.mkdir()
    port = free_port()
    options = ["--project", str(project), "--codex-home", str(home), "--port", str(port)]
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "install", *options],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "CODEX_HOME"},
    )
    assert done.returncode == 0, done.stderr
    with ScriptedUpstream.in_thread() as upstream:
        settings = bridge_settings(
            project,
            PROXY_API_KEY=None,
            UPSTREAM_BASE_URL=upstream.base_url,
            LOCAL_MODEL_BASE_URL=upstream.base_url,
            OPENCODE_GO_API_KEY="e2e-upstream-key-987654321",
            REQUEST_DEADLINE_SECONDS=60,
        )
        with ServerThread(lambda: create_app(settings, project, heartbeat_seconds=1.0), port=port):
            yield ProfileRig(upstream, project, home, codex_bin)


def test_a_raw_alias_has_metadata_and_is_offered_apply_patch(profile_rig: ProfileRig):
    profile_rig.upstream.set_script({"kimi-k2.6": [{"content": "RAW WITH CATALOG"}]})
    result = profile_rig.exec("ocg-kimi-k2.6", "say it", "-p", PROFILE_NAME)
    assert result.returncode == 0, result.stderr
    assert "RAW WITH CATALOG" in result.stdout
    assert NO_METADATA not in result.stderr
    (request,) = profile_rig.upstream.chat_requests("kimi-k2.6")
    tools = [tool["function"]["name"] for tool in request.body["tools"]]
    assert "apply_patch" in tools and "exec_command" in tools
    assert RAW_INSTRUCTIONS.splitlines()[0] in str(request.body["messages"][0]["content"])


def test_without_the_profile_codex_keeps_its_own_catalog(profile_rig: ProfileRig):
    profile_rig.upstream.set_script({"kimi-k2.6": [{"content": "RAW WITHOUT CATALOG"}]})
    result = profile_rig.exec("ocg-kimi-k2.6", "say it", "-c", f"model_provider={PROFILE_NAME}")
    assert result.returncode == 0, result.stderr
    assert NO_METADATA in result.stderr  # the user's own sessions are untouched
    assert "model_catalog_json" not in (profile_rig.home / "config.toml").read_text()


def test_a_mission_alias_runs_under_the_profile_without_the_warning(profile_rig: ProfileRig):
    profile_rig.upstream.set_script(
        {
            "kimi-k2.6": [
                tool_action("read", path="notes.txt"),
                final_action(refs=["file:notes.txt#L1-L1"], claim="the answer is 42"),
            ]
        }
    )
    prompt = handoff_text("What is the answer?", mission_id="m-catalog")
    result = profile_rig.exec("mission-a3-kimi", prompt, "-p", PROFILE_NAME)
    assert result.returncode == 0, result.stderr
    assert NO_METADATA not in result.stderr
    assert "OSS mission m-catalog: COMPLETE" in result.stdout
