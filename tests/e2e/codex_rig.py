"""An end-to-end rig: the real Codex CLI (pinned in package.json), a real bridge, and a
scripted upstream.

Each test gets an isolated CODEX_HOME whose provider block points at a bridge served from a
thread; the bridge forwards to a scripted upstream served from another thread. The key goes
through ``env_key``, as a user's setup does.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bridge.app import ServerThread
from bridge.scripted_upstream import ScriptedUpstream
from bridge.smoke import codex_exec

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
stream_idle_timeout_ms = 30000
"""
# Most tests want a failure to show at once; a delivery test keeps Codex's default retries.
NO_RETRIES = """request_max_retries = 0
stream_max_retries = 0
"""


@dataclass(frozen=True)
class BridgeRequest:
    """One request the bridge answered: its path, the model it named, the status it got."""

    path: str
    model: str | None
    status: int


def recording(app: web.Application, seen: list[BridgeRequest]) -> web.Application:
    """``app``, noting every request it answers in ``seen`` (through aiohttp's own signal)."""

    async def note(request: web.Request, response: web.StreamResponse) -> None:
        model = None
        if request.method == "POST" and request.body_exists:
            # The route has read the body already; this reads aiohttp's cached copy.
            with contextlib.suppress(ValueError, AttributeError):
                model = json.loads(await request.read()).get("model")
        seen.append(BridgeRequest(request.path, model, response.status))

    app.on_response_prepare.append(note)
    return app


@dataclass
class CodexRig:
    """A scripted upstream, a bridge in front of it, and a Codex home pointing at the bridge."""

    upstream: ScriptedUpstream
    bridge: ServerThread
    home: Path
    project: Path
    codex: Path
    seen: list[BridgeRequest] = field(default_factory=list)
    retries: bool = False  # True keeps Codex's default request and stream retries

    def configure(self, model: str) -> None:
        """Write the isolated config.toml with ``model`` as the session's model."""
        block = PROVIDER_BLOCK.format(model=model, base_url=self.bridge.base_url, key_env=KEY_ENV)
        (self.home / "config.toml").write_text(
            block + ("" if self.retries else NO_RETRIES), encoding="utf-8"
        )

    def seen_models(self, path: str = "/v1/responses") -> list[str]:
        """The ``model`` of every request the bridge answered on ``path``, in order."""
        return [request.model for request in self.seen if request.path == path]

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
