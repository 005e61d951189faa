"""An end-to-end rig: the real Codex CLI (pinned in package.json), a real bridge, and a
scripted upstream.

Each test gets an isolated CODEX_HOME whose provider block points at a bridge served from a
thread; the bridge forwards to a scripted upstream served from another thread. The key goes
through ``env_key``, as a user's setup does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.app import ServerThread
from bridge.smoke import codex_exec
from pytest_opencode_bridge.scripted_upstream import ScriptedUpstream

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
        return codex_exec(
            self.codex,
            prompt,
            model,
            *extra,
            codex_home=self.home,
            cwd=self.project,
            timeout=timeout,
            env={**os.environ, KEY_ENV: BRIDGE_KEY},
        )
