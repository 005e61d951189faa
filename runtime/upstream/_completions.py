"""The chat-completions wire format: request payloads, answers, streamed chunks, error bodies.

Pure functions over bytes and dicts, so the upstream client's I/O stays thin and these can be
tested without a server.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from runtime.bounded_json import loads_bounded
from runtime.registry import Profile

__all__ = [
    "SNIPPET_CHARS",
    "ChatResult",
    "MalformedAnswer",
    "SseDataLines",
    "Usage",
    "assemble_chunks",
    "decode_json",
    "encode_json",
    "error_message",
    "merge_tool_call",
    "parse_completion",
    "request_payload",
    "retry_after_seconds",
    "usage_of",
]

SNIPPET_CHARS = 300  # how much of a bad answer an error message quotes


class MalformedAnswer(ValueError):
    """A 2xx answer that is not a chat completion (not JSON, or no message)."""


@dataclass(frozen=True)
class Usage:
    """Token counts the upstream reported (0 when it did not say)."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ChatResult:
    """One assistant turn: the first choice's message, and who served it."""

    content: str
    reasoning_content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str | None
    usage: Usage
    profile: str
    model: str
    raw: dict[str, Any]


def request_payload(profile: Profile, body: dict[str, Any], *, stream: bool) -> bytes:
    """The request body for ``profile``: its model id, and a response_format it honours."""
    payload = dict(body)
    payload["model"] = profile.upstream_model
    if stream:
        payload["stream"] = True
    else:
        payload.pop("stream", None)
    response_format = payload.get("response_format")
    if (
        not profile.supports_json_schema
        and isinstance(response_format, dict)
        and response_format.get("type") == "json_schema"
    ):
        payload["response_format"] = {"type": "json_object"}
    return encode_json(payload)


def encode_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON with non-ASCII kept as is (what the stdlib writes, 5-10x faster).

    orjson refuses what JSON cannot carry as such (integers beyond 64 bits, non-string keys);
    for those the stdlib decides, so the bytes mean the same either way.
    """
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_json(data: bytes | str) -> Any:
    """Parsed JSON; orjson first, the stdlib for what it alone takes (NaN, Infinity)."""
    try:
        return orjson.loads(data)
    except ValueError:  # orjson.JSONDecodeError
        return loads_bounded(data)  # a deep body must not end in RecursionError


class SseDataLines:
    """Splits a server-sent-event byte stream into its ``data:`` payloads (pure).

    Fed one network read at a time, so a reader awaits (and arms a timeout) once per read,
    not once per line; a line split across reads is kept until its end arrives. Lines may end
    in LF, CRLF or CR. Each ``data:`` line is one payload, stripped; other fields, comments
    and blank separators are skipped.
    """

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads of the lines ``data`` completes."""
        if b"\r" in data:
            # A CRLF split across two reads becomes an extra blank line, which is skipped.
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = (self._tail + data if self._tail else data).split(b"\n")
        self._tail = lines.pop()
        return [line[5:].strip() for line in lines if line.startswith(b"data:")]

    def close(self) -> list[bytes]:
        """The payload of an unterminated last line, if it is a ``data:`` line."""
        tail, self._tail = self._tail, b""
        return [tail[5:].strip()] if tail.startswith(b"data:") else []


def parse_completion(body: bytes, profile: Profile) -> ChatResult:
    """A non-streamed answer as a result; :class:`MalformedAnswer` if it is not one."""
    try:
        raw = decode_json(body)
    except ValueError:
        text = body[:SNIPPET_CHARS].decode("utf-8", "replace")
        raise MalformedAnswer(f"the answer is not JSON: {text!r}") from None
    try:
        choice = raw["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError
    except (KeyError, IndexError, TypeError):
        snippet = json.dumps(raw)[:SNIPPET_CHARS] if isinstance(raw, dict) else repr(raw)[:80]
        raise MalformedAnswer(f"the answer has no choices[0].message: {snippet}") from None
    return ChatResult(
        content=message.get("content") or "",
        reasoning_content=message.get("reasoning_content") or message.get("reasoning"),
        tool_calls=list(message.get("tool_calls") or []),
        finish_reason=choice.get("finish_reason"),
        usage=usage_of(raw),
        profile=profile.name,
        model=profile.upstream_model,
        raw=raw,
    )


def assemble_chunks(chunks: list[dict[str, Any]], profile: Profile) -> ChatResult:
    """Fold streamed chunks into one result (tool call fragments merged by index)."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish_reason: str | None = None
    usage = Usage()
    for chunk in chunks:
        if chunk.get("usage"):
            usage = usage_of(chunk)
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                content.append(delta["content"])
            piece = delta.get("reasoning_content") or delta.get("reasoning")
            if piece:
                reasoning.append(piece)
            for fragment in delta.get("tool_calls") or ():
                merge_tool_call(calls, fragment)
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    tool_calls = [calls[i] for i in sorted(calls)]
    if tool_calls:
        message["tool_calls"] = tool_calls
    raw = {
        "id": chunks[0].get("id"),
        "object": "chat.completion",
        "model": chunks[0].get("model", profile.upstream_model),
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens},
    }
    return ChatResult(
        content=message["content"],
        reasoning_content=message.get("reasoning_content"),
        tool_calls=tool_calls,
        finish_reason=finish_reason,
        usage=usage,
        profile=profile.name,
        model=profile.upstream_model,
        raw=raw,
    )


def merge_tool_call(calls: dict[int, dict[str, Any]], fragment: dict[str, Any]) -> None:
    """Fold one streamed ``tool_calls`` fragment into ``calls`` (by index)."""
    index = fragment.get("index", len(calls))
    call = calls.setdefault(
        index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
    )
    if fragment.get("id"):
        call["id"] = fragment["id"]
    if fragment.get("type"):
        call["type"] = fragment["type"]
    function = fragment.get("function") or {}
    if function.get("name"):
        call["function"]["name"] += function["name"]
    if function.get("arguments"):
        call["function"]["arguments"] += function["arguments"]


def usage_of(raw: dict[str, Any]) -> Usage:
    """Token counts of an answer or chunk (OpenAI or Responses field names)."""
    usage = raw.get("usage")
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or usage.get("output_tokens") or 0),
    )


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_message(text: str) -> str:
    """The upstream's own error message if the body is an OpenAI error, else a snippet."""
    try:
        data = json.loads(text)
        message = data["error"]["message"] if isinstance(data["error"], dict) else data["error"]
        return str(message)[:SNIPPET_CHARS]
    except (ValueError, KeyError, TypeError):
        return " ".join(text.split())[:SNIPPET_CHARS]
