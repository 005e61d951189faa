"""The real Codex CLI (pinned in package.json) against a real bridge and a scripted upstream.

Each test gets an isolated CODEX_HOME whose provider block points at a bridge served from a
thread; the bridge forwards to a scripted upstream served from another thread. The key goes
through ``env_key``, as a user's setup does.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.app import ServerThread, create_app
from pytest_opencode_bridge.scripted_upstream import ScriptedUpstream
from runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CODEX_BIN = REPO / "node_modules" / ".bin" / "codex"
BRIDGE_KEY = "e2e-local-key-0123456789"
KEY_ENV = "OCB_E2E_BRIDGE_KEY"

PROVIDER_BLOCK = """
model_provider = "bridge"
model = "{model}"

[model_providers.bridge]
name = "OpenCode Bridge (test)"
base_url = "{base_url}"
env_key = "{key_env}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 30000
"""


@pytest.fixture
def codex_bin() -> Path:
    """The pinned Codex CLI; skipped when not installed, except under CI where it must be."""
    if not CODEX_BIN.exists():
        message = "Codex CLI not installed: run 'npm ci' in the repository root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CODEX_BIN


@dataclass
class CodexRig:
    """A scripted upstream, a bridge in front of it, and a Codex home pointing at the bridge."""

    upstream: ScriptedUpstream
    bridge: ServerThread
    home: Path
    project: Path
    codex: Path

    def configure(self, model: str) -> None:
        """Write the isolated config.toml with ``model`` as the session's model."""
        (self.home / "config.toml").write_text(
            PROVIDER_BLOCK.format(model=model, base_url=self.bridge.base_url, key_env=KEY_ENV),
            encoding="utf-8",
        )

    def add_role(self, name: str, model: str, instructions: str) -> None:
        """An agent role file in CODEX_HOME/agents selecting ``model`` on the bridge."""
        agents = self.home / "agents"
        agents.mkdir(exist_ok=True)
        (agents / f"{name}.toml").write_text(
            f'name = "{name}"\n'
            f'description = "Test role {name} served by the bridge."\n'
            f'developer_instructions = "{instructions}"\n'
            f'model = "{model}"\n'
            'model_provider = "bridge"\n',
            encoding="utf-8",
        )

    def exec(self, prompt: str, model: str, *extra: str, timeout: float = 120) -> Any:
        """``codex exec`` one non-interactive turn; the completed process."""
        self.configure(model)
        env = {**os.environ, "CODEX_HOME": str(self.home), KEY_ENV: BRIDGE_KEY}
        return subprocess.run(
            [str(self.codex), "exec", "--skip-git-repo-check", "-m", model, *extra, prompt],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.project,
            timeout=timeout,
        )


@pytest.fixture
def rig(codex_bin: Path, tmp_path: Path) -> Iterator[CodexRig]:
    """Everything running; set the upstream's script, then ``rig.exec(...)``."""
    project = tmp_path / "project"
    project.mkdir()
    home = tmp_path / "codex-home"
    home.mkdir()
    with ScriptedUpstream.in_thread() as upstream:
        settings = Settings(
            PROXY_API_KEY=BRIDGE_KEY,
            UPSTREAM_BASE_URL=upstream.base_url,
            LOCAL_MODEL_BASE_URL=upstream.base_url,
            OPENCODE_GO_API_KEY="e2e-upstream-key-987654321",
            REQUEST_DEADLINE_SECONDS=60,
        )
        with ServerThread(lambda: create_app(settings, project, heartbeat_seconds=1.0)) as bridge:
            yield CodexRig(upstream, bridge, home, project, codex_bin)
