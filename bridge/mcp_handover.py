"""How ``codex-oss mcp`` runs a mission: it hands it to the project's bridge over loopback HTTP.

The bridge process is the one place that holds the upstream caps, the breakers and the
connection pool, so a mission started from an MCP call queues behind the same limits as one
started by an agent role (see "Design notes" in the README). When no bridge runs for the
project, one is started as a daemon, on the configured port if it is free, else on any free
port (two projects can each have theirs). The mission is sent as the same Responses request
a role would send, and the answer is read the way Codex reads it: commentary messages while
it runs, then the final message holding the report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock

from bridge.stream_reader import AnswerReader, error_message, sse_event
from runtime.answer import extract_report

__all__ = ["BridgeAddress", "HandoverError", "MissionAnswer", "ensure_bridge", "send_mission"]

# The bridge sends a heartbeat about every 5 s; this much silence means it is gone.
IDLE_TIMEOUT_SECONDS = 120.0
START_LOCK = ".codex-oss/run/bridge.start.lock"


class HandoverError(RuntimeError):
    """The mission could not be handed over or its answer read; ``refused`` marks a 4xx."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class BridgeAddress:
    """Where the project's bridge answers, and the key it wants."""

    base_url: str
    key: str | None


@dataclass(frozen=True)
class MissionAnswer:
    """The final message of a mission and the report it carries."""

    final_text: str
    report: dict[str, Any]


def ensure_bridge(project: Path, *, port: int | None = None) -> BridgeAddress:
    """The running bridge of ``project``, started as a daemon first when none runs."""
    from bridge.daemon import serving_port, serving_settings, start_daemon, status
    from runtime.processes import free_port, port_in_use

    settings = serving_settings(project)
    lock_path = project / START_LOCK
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # Two MCP servers of one project (two Codex sessions) must not both start a bridge.
    with FileLock(str(lock_path), timeout=60):
        current = status(project, settings)
        if current.state != "running":
            wanted = serving_port(project, settings, port)
            chosen = wanted if not port_in_use("127.0.0.1", wanted) else free_port()
            current = start_daemon(project, "127.0.0.1", chosen, settings)
    if current.port is None:
        raise HandoverError(f"the bridge of {project} runs but recorded no port")
    host = current.host or "127.0.0.1"
    return BridgeAddress(f"http://{host}:{current.port}/v1", settings.PROXY_API_KEY)


async def send_mission(
    address: BridgeAddress,
    alias: str,
    handoff: str,
    on_commentary: Callable[[str], Awaitable[None]],
) -> MissionAnswer:
    """Run one mission on the bridge; commentary lines go to ``on_commentary`` as they come."""
    body = {
        "model": alias,
        "stream": True,
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": handoff}],
            }
        ],
    }
    headers = {"Authorization": f"Bearer {address.key}"} if address.key else {}
    timeout = httpx.Timeout(10.0, read=IDLE_TIMEOUT_SECONDS)
    reader = AnswerReader()
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        client.stream(
            "POST", address.base_url + "/responses", json=body, headers=headers
        ) as response,
    ):
        if response.status_code >= 400:
            text = (await response.aread()).decode("utf-8", "replace")
            raise HandoverError(error_message(text), refused=response.status_code < 500)
        async for line in response.aiter_lines():
            event = sse_event(line)
            said = reader.feed(event) if event is not None else None
            if said is not None:
                await on_commentary(said)
            if reader.done:
                break
    if reader.final_text is None:
        raise HandoverError(reader.failure or "the bridge answered without a final message")
    report = extract_report(reader.final_text)
    if report is None:
        raise HandoverError("the bridge's final message holds no report block")
    return MissionAnswer(reader.final_text, report)
