"""A bridge's streamed answer read the way Codex reads it: the SSE ``data:`` events, the
commentary messages and the final message in them, a ``response.failed``, and the error text of
a refused request. Pure: the demo, the smoke, the raw probe and the MCP server feed it lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def sse_event(line: str) -> dict[str, Any] | None:
    """The JSON object of an SSE ``data:`` line; None for comments, ``[DONE]`` and the rest."""
    if not line.startswith("data:"):
        return None
    try:
        event = json.loads(line[5:])
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


@dataclass
class AnswerReader:
    """Folds the events of one streamed answer; ``done`` once it completed or failed."""

    commentary: list[str] = field(default_factory=list)
    final_text: str | None = None
    failure: str | None = None
    completed: bool = False
    done: bool = False

    def feed(self, event: dict[str, Any]) -> str | None:
        """Take one event; the commentary line it carried, if it carried one."""
        kind = event.get("type")
        if kind == "response.output_item.done":
            item = event.get("item") or {}
            text = _message_text(item)
            if text is not None and item.get("phase") == "commentary":
                self.commentary.append(text)
                return text
            if text is not None:
                self.final_text = text
        elif kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            self.failure = str(error.get("message") or "the bridge ended the answer as failed")
            self.done = True
        elif kind == "response.completed":
            self.completed = self.done = True
        return None


def error_message(body: str) -> str:
    """The ``error.message`` of a refusal's JSON body, else the body itself (shortened)."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = None
    return str(message) if message else (body.strip()[:500] or "the bridge refused the request")


def _message_text(item: dict[str, Any]) -> str | None:
    if item.get("type") != "message":
        return None
    return "".join(
        part.get("text", "")
        for part in item.get("content") or []
        if isinstance(part, dict) and part.get("type") in ("output_text", "text")
    )
