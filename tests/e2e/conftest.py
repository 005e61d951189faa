"""Fixtures for end-to-end tests with the real Codex CLI (see codex_rig.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from codex_rig import BRIDGE_KEY, CODEX_BIN, BridgeRequest, CodexRig, recording

from bridge.app import ServerThread, create_app
from bridge.scripted_upstream import ScriptedUpstream
from runtime.settings import Settings


@pytest.fixture
def codex_bin() -> Path:
    """The pinned Codex CLI; skipped when not installed, except under CI where it must be."""
    if not CODEX_BIN.exists():
        message = "Codex CLI not installed: run 'npm ci' in the repository root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CODEX_BIN


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
        seen: list[BridgeRequest] = []

        def app() -> web.Application:
            return recording(create_app(settings, project, heartbeat_seconds=1.0), seen)

        with ServerThread(app) as bridge:
            yield CodexRig(upstream, bridge, home, project, codex_bin, seen)
