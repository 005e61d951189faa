"""A scripted OpenAI *Responses* server: the GPT parent of end-to-end tests.

Codex's built-in provider is pointed at it with ``-c openai_base_url=<base_url>``, so the
parent session runs where a GPT user's does (not on the bridge). Each ``POST /v1/responses``
is recorded and answered by the next scripted turn, streamed as Codex expects it: a text
message, or a function call (with its ``namespace`` for namespaced tools such as
``mcp__opencode_bridge``). A turn may be a callable of the request body, for answers that
depend on what Codex sent back; ``model_turns`` answers the requests of one model (a spawned
child's) from their own queue. When the script runs out the answer is ``PARENT DONE``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["ScriptedResponses", "call_turn", "function_outputs", "search_turn", "text_turn"]

Turn = dict[str, Any]
TurnSource = Turn | Callable[[dict[str, Any]], Turn]
DONE_TEXT = "PARENT DONE"


def text_turn(text: str) -> Turn:
    """A turn that answers with one assistant message."""
    return {"text": text}


def call_turn(name: str, arguments: dict[str, Any], namespace: str | None = None) -> Turn:
    """A turn that calls tool ``name`` (inside ``namespace`` when given)."""
    return {"call": {"name": name, "arguments": arguments, "namespace": namespace}}


def search_turn(query: str) -> Turn:
    """A turn that calls Codex's ``tool_search``, as GPT models do to load MCP tools.

    For a model of OpenAI's catalog (gpt-5.5), Codex 0.169.0 defers MCP tools behind
    ``tool_search``: the namespace is added to the session once a search has run.
    """
    n = abs(hash(query)) % 10_000
    return {
        "item": {
            "type": "tool_search_call",
            "id": f"ts_{n}",
            "call_id": f"call_ts_{n}",
            "execution": "client",
            "status": "completed",
            "arguments": {"query": query},
        }
    }


def function_outputs(body: dict[str, Any]) -> list[str]:
    """The texts of every ``function_call_output`` in a recorded request, in order."""
    texts: list[str] = []
    for item in body.get("input") or []:
        if not isinstance(item, dict) or item.get("type") != "function_call_output":
            continue
        output = item.get("output")
        if isinstance(output, str):
            texts.append(output)
        elif isinstance(output, list):
            texts.append("\n".join(p.get("text", "") for p in output if isinstance(p, dict)))
    return texts


@dataclass
class ScriptedResponses:
    """Serves ``/v1/responses`` from a script and records every request body."""

    turns: list[TurnSource] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Turns for requests of one model (a spawned child's, say), taken before ``turns``.
    model_turns: dict[str, list[TurnSource]] = field(default_factory=dict)
    port: int = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/responses", self._respond)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        # Codex asks for its own catalog shape; an empty one keeps its built-in defaults.
        return web.json_response({"models": [], "etag": ""})

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        from bridge.responses import EventStream, usage_object
        from bridge.translate import message_item

        body = await request.json()
        self.requests.append(body)
        queue = self.model_turns.get(body.get("model", "")) or self.turns
        source = queue.pop(0) if queue else text_turn(DONE_TEXT)
        turn = source(body) if callable(source) else source
        events = EventStream(body.get("model", "gpt-scripted"), body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(events.created())
        if "item" in turn:  # any output item, as is (e.g. a tool_search_call)
            await response.write(events.item(turn["item"]))
        elif "call" in turn:
            call = turn["call"]
            item: dict[str, Any] = {
                "type": "function_call",
                "id": f"fc_{len(self.requests)}",
                "call_id": f"call_{len(self.requests)}",
                "name": call["name"],
                "arguments": json.dumps(call["arguments"]),
                "status": "completed",
            }
            if call.get("namespace"):
                item["namespace"] = call["namespace"]
            await response.write(events.item(item))
        else:
            await response.write(events.message(message_item(turn["text"])))
        await response.write(events.completed(usage_object(1, 1)))
        await response.write_eof()
        return response

    @contextmanager
    def in_thread(self) -> Iterator[ScriptedResponses]:
        """Serve on 127.0.0.1 (a free port) from a daemon thread while the block runs."""
        from bridge.app import ServerThread

        with ServerThread(self.app) as server:
            self.port = server.port
            yield self
