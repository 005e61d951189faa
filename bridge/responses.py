"""The Responses API wire format: request parsing and validation, response objects, SSE events.

Parsing is deliberately light: the JSON is decoded once and the few fields the bridge relies on
are checked by hand, because Codex sends 40-50 KB per turn and a full model validation of every
item would cost more than the rest of the request path together. Item types are still checked
one by one so that an unknown type is a 400 that names it, never a 500.

The SSE side emits the complete event sequence the openai SDK's strict ``responses.stream()``
helper and Codex expect: ``response.created`` first, ``content_part.added`` before text deltas,
every item closed by ``output_item.done`` (Codex reads text only from there), and a final
``response.completed`` or ``response.failed`` carrying the response id.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from bridge.translate import new_id

try:  # orjson parses and writes the 40-50 KB Codex bodies 3-5x faster than the stdlib
    import orjson
except ImportError:  # pragma: no cover - the stdlib gives the same bytes, slower
    orjson = None

__all__ = [
    "INPUT_ITEM_TYPES",
    "EventStream",
    "RequestError",
    "ResponsesRequest",
    "dumps",
    "error_body",
    "parse_request",
    "usage_object",
]

INPUT_ITEM_TYPES = frozenset(
    {
        "message",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "reasoning",
    }
)


class RequestError(Exception):
    """A client error answered as JSON ``{"error": {...}}`` with an HTTP status (400 by default)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        code: str | None = None,
        param: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.type = type_

    def body(self) -> dict[str, Any]:
        """The JSON error body (OpenAI's shape, so SDKs surface the message)."""
        return error_body(self.message, code=self.code, param=self.param, type_=self.type)


def error_body(
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    type_: str = "invalid_request_error",
) -> dict[str, Any]:
    """``{"error": {"message", "type", "code", "param"}}``."""
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}


@dataclass(slots=True)
class ResponsesRequest:
    """The fields of a Responses request the bridge acts on, plus the decoded body."""

    model: str
    stream: bool
    body: dict[str, Any]

    @property
    def input(self) -> Any:
        return self.body.get("input")


def parse_request(raw: bytes) -> ResponsesRequest:
    """Decode and check a ``POST /v1/responses`` body; every problem is a :class:`RequestError`."""
    body = _loads(raw)
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    model = body.get("model")
    if model is None:
        raise RequestError("model is required", param="model", code="missing_model")
    if not isinstance(model, str) or not model.strip():
        raise RequestError("model must be a non-empty string", param="model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("stream must be true or false", param="stream")
    if body.get("previous_response_id"):
        raise RequestError(
            "previous_response_id is not supported: the bridge stores no responses; "
            "send the whole history in input",
            param="previous_response_id",
        )
    _check_input(body.get("input"))
    _check_type_fields(body)
    for key in ("max_output_tokens",):
        value = body.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise RequestError(f"{key} must be a positive integer", param=key)
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise RequestError(f"{key} must be a number", param=key)
    return ResponsesRequest(model=model, stream=stream, body=body)


def _loads(raw: bytes) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the stdlib decides (it also takes integers beyond 64 bits) and explains
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"request body is not valid JSON: {exc}") from None


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON (non-ASCII kept as is)."""
    if orjson is not None:
        return orjson.dumps(obj)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _check_input(items: Any) -> None:
    if items is None:
        raise RequestError("input is required", param="input")
    if isinstance(items, str):
        return
    if not isinstance(items, list):
        raise RequestError("input must be a string or a list of items", param="input")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(f"input[{index}] must be an object", param=f"input[{index}]")
        kind = item.get("type", "message")  # the SDK's "easy" messages carry no type
        if not isinstance(kind, str) or kind not in INPUT_ITEM_TYPES:
            raise RequestError(
                f"input[{index}].type {kind!r} is not supported by the bridge "
                f"(supported: {', '.join(sorted(INPUT_ITEM_TYPES))})",
                param=f"input[{index}].type",
                code="unsupported_item_type",
            )
        if kind == "message" and item.get("role") not in (
            "user",
            "assistant",
            "system",
            "developer",
        ):
            raise RequestError(
                f"input[{index}].role must be user, assistant, system or developer",
                param=f"input[{index}].role",
            )


def _check_type_fields(body: dict[str, Any]) -> None:
    """Every ``type`` the translator dispatches on is a string (a list there was a 500)."""
    places: list[tuple[str, Any]] = [("tool_choice", body.get("tool_choice"))]
    text = body.get("text")
    if isinstance(text, dict):
        places.append(("text.format", text.get("format")))
    for field_name in ("input", "tools"):
        items = body.get(field_name)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            where = f"{field_name}[{index}]"
            places.append((where, item))
            if not isinstance(item, dict):
                continue
            for inner in ("content", "output", "tools", "summary"):
                parts = item.get(inner)
                if isinstance(parts, list):
                    places.extend((f"{where}.{inner}[{j}]", part) for j, part in enumerate(parts))
    for where, value in places:
        if isinstance(value, dict) and not isinstance(value.get("type", ""), str):
            raise RequestError(f"{where}.type must be a string", param=f"{where}.type")


def usage_object(input_tokens: int = 0, output_tokens: int = 0) -> dict[str, Any]:
    """A Responses ``usage`` block."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


class EventStream:
    """Builds the SSE bytes of one streamed response, numbering events in order (and, for an
    answer that is not streamed, its one ``response`` object)."""

    def __init__(self, model: str, request: dict[str, Any] | None = None) -> None:
        self.response_id = new_id("resp")
        self.model = model
        self.created_at = int(time.time())
        self.request = request or {}
        self.output: list[dict[str, Any]] = []
        self._seq = 0
        self._open: dict[str, Any] = {}
        self._open_index = 0
        self._open_text: list[str] = []

    # -- framing

    def event(self, type_: str, **fields: Any) -> bytes:
        """One SSE frame: ``event:`` line plus a ``data:`` line holding ``type`` first."""
        payload = {"type": type_, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: " + type_.encode() + b"\ndata: " + dumps(payload) + b"\n\n"

    def response(
        self,
        status: str,
        *,
        output: list[dict[str, Any]] | None = None,
        usage: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A Responses ``response`` object as the API returns it."""
        request = self.request
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": output if output is not None else [],
            "usage": usage,
            "error": error,
            "incomplete_details": None,
            "instructions": None,
            "metadata": {},
            "parallel_tool_calls": bool(request.get("parallel_tool_calls", True)),
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": [],
            "temperature": request.get("temperature"),
            "top_p": request.get("top_p"),
            "max_output_tokens": request.get("max_output_tokens"),
            "store": False,
        }

    # -- lifecycle

    def created(self) -> bytes:
        """``response.created`` followed by the first ``response.in_progress``."""
        snapshot = self.response("in_progress")
        return self.event("response.created", response=snapshot) + self.event(
            "response.in_progress", response=snapshot
        )

    def heartbeat(self) -> bytes:
        """A repeated ``response.in_progress``: resets Codex's idle timer (comments do not)."""
        return self.event("response.in_progress", response=self.response("in_progress"))

    def completed(self, usage: dict[str, Any] | None = None) -> bytes:
        """``response.completed`` with every item emitted so far."""
        return self.event(
            "response.completed",
            response=self.response("completed", output=self.output, usage=usage),
        )

    def failed(self, message: str, code: str = "server_error") -> bytes:
        """``response.failed``: Codex shows ``response.error.message`` to the user."""
        return self.event(
            "response.failed",
            response=self.response(
                "failed", output=self.output, error={"code": code, "message": message}
            ),
        )

    # -- items

    def item(self, item: dict[str, Any]) -> bytes:
        """The whole event sequence of one finished output item."""
        kind = item["type"]
        if kind == "message":
            return self.message(item)
        index = len(self.output)
        self.output.append(item)
        if kind == "function_call":
            prefix = "response.function_call_arguments"
            return self._call_item(index, item, "arguments", prefix, name=item["name"])
        if kind == "custom_tool_call":
            return self._call_item(index, item, "input", "response.custom_tool_call_input")
        # reasoning and anything else: added then done
        return self.event("response.output_item.added", output_index=index, item=item) + self.event(
            "response.output_item.done", output_index=index, item=item
        )

    def _call_item(
        self, index: int, item: dict[str, Any], key: str, prefix: str, **done_fields: Any
    ) -> bytes:
        """A tool call whose ``key`` (arguments, input) streams as one ``prefix`` delta."""
        value = item[key]
        added = {**item, "status": "in_progress", key: ""}
        return b"".join(
            (
                self.event("response.output_item.added", output_index=index, item=added),
                self.event(f"{prefix}.delta", item_id=item["id"], output_index=index, delta=value),
                self.event(
                    f"{prefix}.done",
                    item_id=item["id"],
                    output_index=index,
                    **done_fields,
                    **{key: value},
                ),
                self.event("response.output_item.done", output_index=index, item=item),
            )
        )

    def message(self, item: dict[str, Any]) -> bytes:
        """A finished assistant message: added, part added, one delta, done events."""
        opening = self.open_message(item.get("phase"), item_id=item["id"])
        text = item["content"][0]["text"]
        return opening + self.text_delta(text) + self.close_message()

    # Incremental messages, for text that arrives in pieces.

    def open_message(self, phase: str | None = None, item_id: str | None = None) -> bytes:
        """Start an assistant message; text follows through :meth:`text_delta`."""
        item: dict[str, Any] = {
            "type": "message",
            "id": item_id or new_id("msg"),
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        if phase:
            item["phase"] = phase
        self._open = item
        self._open_index = len(self.output)
        self._open_text = []
        self.output.append(item)
        part = {"type": "output_text", "text": "", "annotations": []}
        return self.event(
            "response.output_item.added", output_index=self._open_index, item=dict(item)
        ) + self._part_event("response.content_part.added", part=part)

    def text_delta(self, delta: str) -> bytes:
        """A piece of the open message's text."""
        self._open_text.append(delta)
        return self._part_event("response.output_text.delta", delta=delta, logprobs=[])

    def close_message(self) -> bytes:
        """Finish the open message: text done, part done, item done."""
        item = self._open
        text = "".join(self._open_text)
        part = {"type": "output_text", "text": text, "annotations": []}
        item["status"] = "completed"
        item["content"] = [part]
        return (
            self._part_event("response.output_text.done", text=text, logprobs=[])
            + self._part_event("response.content_part.done", part=part)
            + self.event("response.output_item.done", output_index=self._open_index, item=item)
        )

    def _part_event(self, type_: str, **fields: Any) -> bytes:
        """An event about the open message's one content part."""
        return self.event(
            type_,
            item_id=self._open["id"],
            output_index=self._open_index,
            content_index=0,
            **fields,
        )
