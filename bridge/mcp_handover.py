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

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock

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
    commentary_lines: int


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
    final_text: str | None = None
    failure: str | None = None
    lines = 0
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        client.stream(
            "POST", address.base_url + "/responses", json=body, headers=headers
        ) as response,
    ):
        if response.status_code >= 400:
            text = (await response.aread()).decode("utf-8", "replace")
            raise HandoverError(_error_message(text), refused=response.status_code < 500)
        async for event in _events(response):
            kind = event.get("type")
            if kind == "response.output_item.done":
                item = event.get("item") or {}
                text = _message_text(item)
                if text is None:
                    continue
                if item.get("phase") == "commentary":
                    lines += 1
                    await on_commentary(text)
                else:
                    final_text = text
            elif kind == "response.failed":
                error = (event.get("response") or {}).get("error") or {}
                failure = str(error.get("message") or "the bridge ended the mission as failed")
            elif kind == "response.completed":
                break
    if final_text is None:
        raise HandoverError(failure or "the bridge answered without a final message")
    report = extract_report(final_text)
    if report is None:
        raise HandoverError("the bridge's final message holds no report block")
    return MissionAnswer(final_text, report, lines)


async def _events(response: httpx.Response) -> Any:
    """The JSON ``data:`` payloads of an SSE body, in order."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == "[DONE]":
            continue
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            yield event


def _message_text(item: dict[str, Any]) -> str | None:
    if item.get("type") != "message":
        return None
    parts = [
        part.get("text", "")
        for part in item.get("content") or []
        if isinstance(part, dict) and part.get("type") == "output_text"
    ]
    return "".join(parts)


def _error_message(text: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text.strip() or "the bridge refused the mission"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return text.strip()
