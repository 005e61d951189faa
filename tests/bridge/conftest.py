"""Fixtures for bridge tests: a real bridge on a free 127.0.0.1 port in front of a real
scripted upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from bridge_helpers import bridge_settings

from bridge.app import create_app, start_server
from bridge.scripted_upstream import ScriptedUpstream
from runtime.settings import Settings

StartBridge = Callable[..., Awaitable[str]]


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    """A scripted upstream with an empty script."""
    async with ScriptedUpstream() as server:
        yield server


@pytest.fixture
async def start_bridge(tmp_path: Path) -> AsyncIterator[StartBridge]:
    """``await start_bridge(settings, **create_app_kwargs)`` -> the bridge's ``/v1`` base URL."""
    runners = []

    async def start(settings: Settings, project_root: Path | None = None, **kwargs: Any) -> str:
        app = create_app(settings, project_root or tmp_path, **kwargs)
        runner, port = await start_server(app, "127.0.0.1", 0)
        runners.append(runner)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def raw_bridge(upstream: ScriptedUpstream, start_bridge: StartBridge) -> str:
    """A bridge with default settings in front of ``upstream`` (heartbeats every 0.1 s)."""
    return await start_bridge(bridge_settings(upstream.base_url), heartbeat_seconds=0.1)


@pytest.fixture
def total_project(tmp_path: Path) -> Path:
    """A project whose ``src/app.py`` holds ``total()``, which drops the last item."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def total(items):\n    return sum(items[:-1])\n")
    return root
