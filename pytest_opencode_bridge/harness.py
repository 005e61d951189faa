"""The mission harness: throwaway git projects, a mission runner and a running bridge, all
over real HTTP against the scripted upstream.

Proof packs and tests use it through the fixtures ``git_project``, ``mission_runner``,
``running_bridge`` and ``scripted_upstream`` (registered by the plugin). The runtime and the
bridge are imported when a fixture is used, not when the plugin loads, so a pytest run never
depends on them importing.

``scripted_upstream`` (async, function scope) is a running server with an empty script: call
``scripted_upstream.set_script({...})`` (or ``add_turns``) before driving it, then point
clients at ``scripted_upstream.base_url``. ``scripted_upstream_thread`` is the same server on
its own event loop in a thread, for tests that drive subprocesses (the Codex CLI) and must
not block on the test's loop.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridge.scripted_upstream import RecordedRequest, ScriptedUpstream
from bridge.scripting import final_action, handoff_text, make_git_project, tool_action

try:  # async fixtures need pytest-asyncio (the test extra)
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover
    _async_fixture = pytest.fixture

__all__ = [
    "BridgeServer",
    "MissionRun",
    "MissionRunner",
    "final_action",
    "git_project",
    "handoff_text",
    "make_git_project",
    "mission_runner",
    "running_bridge",
    "scripted_upstream",
    "scripted_upstream_thread",
    "tool_action",
]

UPSTREAM_TEST_KEY = "upstream-test-key-for-harness-0123"
BRIDGE_TEST_KEY = "bridge-test-key-for-harness-4567"


@dataclass
class MissionRun:
    """What one mission run produced: the runtime's outcome and what the upstream saw."""

    outcome: Any
    requests: list[RecordedRequest]
    commentary: list[str]
    project: Path

    @property
    def log_path(self) -> Path:
        """The run's events.jsonl."""
        from runtime.eventlog import run_log_path

        return run_log_path(self.project, self.outcome.run_id)

    def events(self) -> list[Any]:
        """The run's events, loaded and checked."""
        from runtime.eventlog import load_events

        return load_events(self.log_path)

    def events_of(self, event_type: str) -> list[Any]:
        """The run's events of one type (``"ToolCallDenied"``, ``"ModelCalled"``, ...)."""
        return [event for event in self.events() if event.event_type == event_type]

    def upstream_text(self) -> str:
        """Every request body the upstream received, as one JSON text."""
        return json.dumps([request.body for request in self.requests])

    def disk_text(self) -> str:
        """Everything the runtime wrote under ``.codex-oss/``, as one text."""
        root = self.project / ".codex-oss"
        return "\n".join(
            path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(root.rglob("*"))
            if path.is_file()
        )


@dataclass
class MissionRunner:
    """Runs missions through ``runtime.runner.run_mission`` against a scripted upstream."""

    settings_overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self, upstream: ScriptedUpstream, **overrides: Any) -> Any:
        """Settings pointing every profile at ``upstream``."""
        from runtime.settings import Settings

        values: dict[str, Any] = {
            "UPSTREAM_BASE_URL": upstream.base_url,
            "LOCAL_MODEL_BASE_URL": upstream.base_url,
            "OPENCODE_GO_API_KEY": UPSTREAM_TEST_KEY,
            "PROXY_API_KEY": None,
            "OPENAI_API_KEY": None,
        }
        values.update(self.settings_overrides)
        values.update(overrides)
        return Settings(**values)

    async def run(
        self,
        project: Path,
        script: Mapping[str, Any],
        *,
        alias: str = "mission-a3-kimi",
        handoff: str | None = None,
        **settings_overrides: Any,
    ) -> MissionRun:
        """Serve ``script`` and run one mission on ``project``."""
        async with ScriptedUpstream(script) as upstream:
            runs = await self.run_many(
                project, upstream, [handoff or handoff_text()], alias=alias, **settings_overrides
            )
            return runs[0]

    async def run_many(
        self,
        project: Path,
        upstream: ScriptedUpstream,
        handoffs: list[str],
        *,
        alias: str = "mission-a3-kimi",
        **settings_overrides: Any,
    ) -> list[MissionRun]:
        """Run several missions at once through one upstream client (shared caps)."""
        import asyncio

        from runtime.admission import admit
        from runtime.registry import ModelRegistry
        from runtime.runner import run_mission
        from runtime.upstream import UpstreamClient

        settings = self.settings(upstream, **settings_overrides)
        resolution = ModelRegistry(settings).resolve(alias)
        lines: list[list[str]] = [[] for _ in handoffs]

        def collector(index: int) -> Callable[[str], Any]:
            async def collect(line: str) -> None:
                lines[index].append(line)

            return collect

        async with UpstreamClient(settings) as client:
            outcomes = await asyncio.gather(
                *(
                    run_mission(
                        project_root=project,
                        resolution=resolution,
                        compiled=admit(text, resolution, project),
                        settings=settings,
                        client=client,
                        on_commentary=collector(index),
                    )
                    for index, text in enumerate(handoffs)
                )
            )
        return [
            MissionRun(outcome, list(upstream.requests), lines[index], project)
            for index, outcome in enumerate(outcomes)
        ]


@dataclass
class BridgeServer:
    """A bridge served on a free 127.0.0.1 port in front of a scripted upstream."""

    base_url: str
    api_key: str
    upstream: ScriptedUpstream
    project: Path

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header clients must send."""
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def git_project(tmp_path: Path) -> Callable[..., Path]:
    """``git_project({"src/app.py": "..."}, name="project")`` -> a committed repository."""

    def make(files: Mapping[str, str], name: str = "project", commit: bool = True) -> Path:
        return make_git_project(tmp_path / name, files, commit=commit)

    return make


@pytest.fixture
def mission_runner() -> MissionRunner:
    """Runs missions against a scripted upstream: ``await mission_runner.run(project, script)``."""
    return MissionRunner()


@_async_fixture
async def scripted_upstream() -> AsyncIterator[ScriptedUpstream]:
    """A scripted upstream with an empty script, served on 127.0.0.1 for one test."""
    async with ScriptedUpstream() as upstream:
        yield upstream


@pytest.fixture
def scripted_upstream_thread() -> Iterator[ScriptedUpstream]:
    """A scripted upstream served from its own thread and event loop, for one test."""
    with ScriptedUpstream.in_thread() as upstream:
        yield upstream


@_async_fixture
async def running_bridge(tmp_path: Path) -> AsyncIterator[BridgeServer]:
    """A real bridge (auth on) on a free port, in front of a scripted upstream with an empty
    script, serving the project ``tmp_path / "served"``."""
    from bridge.app import create_app, start_server

    project = tmp_path / "served"
    project.mkdir(exist_ok=True)
    async with ScriptedUpstream() as upstream:
        settings = MissionRunner().settings(
            upstream, PROXY_API_KEY=BRIDGE_TEST_KEY, REQUEST_DEADLINE_SECONDS=20
        )
        runner, port = await start_server(
            create_app(settings, project, heartbeat_seconds=0.2), "127.0.0.1", 0
        )
        try:
            yield BridgeServer(f"http://127.0.0.1:{port}/v1", BRIDGE_TEST_KEY, upstream, project)
        finally:
            await runner.cleanup()
