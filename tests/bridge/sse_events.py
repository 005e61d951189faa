"""Read SSE bodies the way Codex does: the JSON ``type`` of each ``data:`` line."""

from __future__ import annotations

import json
from typing import Any


def sse_events(text: str) -> list[dict[str, Any]]:
    """Every ``data:`` payload of an SSE body, decoded."""
    return [
        json.loads(line[len("data: ") :])
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def types_of(events: list[dict[str, Any]]) -> list[str]:
    """The event types, in order."""
    return [event["type"] for event in events]


def done_items(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of ``response.output_item.done`` events (what Codex keeps)."""
    return [e["item"] for e in events if e["type"] == "response.output_item.done"]
