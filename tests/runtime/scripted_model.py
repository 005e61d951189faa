"""An in-memory model for the loop's unit tests: the ModelClient protocol, no sockets.

Each ``complete`` answers with the next scripted turn (an Action dict, sent as JSON, or raw
text, sent as is), records the body it was asked with, and reports the call as the upstream
client does, through ``on_event``, so the loop's record counts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.events import ModelCalled

TOKENS_IN, TOKENS_OUT = 120, 30  # what each scripted turn reports as its usage


@dataclass
class Answer:
    content: str


@dataclass
class ScriptedModel:
    turns: list[dict[str, Any] | str]
    grammar: bool = False
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def complete(self, body: dict[str, Any], **call: Any) -> Answer:
        """One turn; ``call`` holds the protocol's ``call_index`` and ``on_event``."""
        on_event: Callable[[ModelCalled], Any] | None = call.get("on_event")
        self.bodies.append(body)
        if not self.turns:
            raise RuntimeError("the script ran out of turns")
        turn = self.turns.pop(0)
        if on_event is not None:
            on_event(
                ModelCalled(
                    call_index=call["call_index"],
                    model="scripted",
                    profile="scripted",
                    outcome="ok",
                    input_tokens=TOKENS_IN,
                    output_tokens=TOKENS_OUT,
                )
            )
        return Answer(turn if isinstance(turn, str) else json.dumps(turn["action"]))
