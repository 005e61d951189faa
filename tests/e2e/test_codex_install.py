"""Codex CLI 0.169.0 against a project set up by ``codex-oss install``: the installed provider
block authenticates through the auth command with the project's bridge key, and a parent
that spawns an installed role gets the role's answer back through the bridge."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.app import ServerThread, create_app
from bridge.daemon import bridge_settings
from bridge.scripted_upstream import ScriptedUpstream
from bridge.smoke import codex_exec
from runtime.processes import free_port

pytestmark = pytest.mark.codex

HAND_CONFIG = '# my project settings\nmodel_reasoning_effort = "low"  # keep me\n'


@dataclass
class InstalledRig:
    upstream: ScriptedUpstream
    project: Path
    home: Path
    codex: Path

    def exec(self, model: str, prompt: str) -> subprocess.CompletedProcess[str]:
        """One ``codex exec`` turn in the project, with the bridge provider selected."""
        env = dict(os.environ)
        env.pop("OCB_E2E_BRIDGE_KEY", None)  # the key must come from the auth command
        return codex_exec(
            self.codex,
            prompt,
            model,
            "-c",
            "model_provider=opencode_bridge",
            codex_home=self.home,
            cwd=self.project,
            timeout=120,
            env=env,
        )


@pytest.fixture
def installed(codex_bin: Path, tmp_path: Path) -> Iterator[InstalledRig]:
    project = tmp_path / "project"
    (project / ".codex").mkdir(parents=True)
    (project / ".codex" / "config.toml").write_text(HAND_CONFIG)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    home = tmp_path / "codex-home"
    home.mkdir()
    # Project-local config and roles load only for a trusted project.
    (home / "config.toml").write_text(
        f'# my own Codex settings\n[projects."{project}"]\ntrust_level = "trusted"\n'
    )
    port = free_port()
    codex_oss = [sys.executable, "-c", "from bridge.cli import main; main()"]
    options = ["--project", str(project), "--codex-home", str(home), "--port", str(port)]
    done = subprocess.run(
        [*codex_oss, "install", *options],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with ScriptedUpstream.in_thread() as upstream:
        settings = bridge_settings(
            project,
            PROXY_API_KEY=None,  # so the bridge takes the key install generated
            UPSTREAM_BASE_URL=upstream.base_url,
            LOCAL_MODEL_BASE_URL=upstream.base_url,
            OPENCODE_GO_API_KEY="e2e-upstream-key-987654321",
            REQUEST_DEADLINE_SECONDS=60,
        )
        assert settings.PROXY_API_KEY  # read from .codex-oss/env/bridge.key
        factory = lambda: create_app(settings, project, heartbeat_seconds=1.0)  # noqa: E731
        with ServerThread(factory, port=port):
            yield InstalledRig(upstream, project, home, codex_bin)


def test_installed_provider_authenticates_with_the_project_key(installed: InstalledRig):
    installed.upstream.set_script({"e2e-model": [{"content": "INSTALLED PROVIDER ANSWERS"}]})
    result = installed.exec("ocg-e2e-model", "say it")
    assert result.returncode == 0, result.stderr
    assert "INSTALLED PROVIDER ANSWERS" in result.stdout
    assert "Ignored unsupported project-local config keys" not in result.stderr
    assert (installed.project / ".codex" / "config.toml").read_text() == HAND_CONFIG


def test_parent_gets_the_answer_of_an_installed_role(installed: InstalledRig):
    installed.upstream.set_script(
        {
            "e2e-parent": [
                {
                    "tool_calls": [
                        {
                            "name": "multi_agent_v1__spawn_agent",
                            "arguments": {
                                "agent_type": "oss_kimi_rapid",
                                "message": "Report the number seven.",
                            },
                        }
                    ]
                },
                # Long enough for the child to finish, so its notification reaches turn 3.
                {"content": "waiting for the worker", "delay_seconds": 5},
                {"content": "PARENT DONE"},
            ],
            "kimi-k2.6": [{"content": "CHILD SAYS SEVEN"}],
        }
    )
    result = installed.exec("ocg-e2e-parent", "delegate to oss_kimi_rapid")
    assert result.returncode == 0, result.stderr

    (child,) = installed.upstream.chat_requests("kimi-k2.6")  # the role's model, via the bridge
    child_text = "\n".join(str(m.get("content")) for m in child.body["messages"])
    assert "Report the number seven." in child_text
    assert "You are a read-only worker running on an open-source model" in child_text

    last_parent = installed.upstream.chat_requests("e2e-parent")[-1]
    parent_text = "\n".join(str(m.get("content")) for m in last_parent.body["messages"])
    assert "CHILD SAYS SEVEN" in parent_text
