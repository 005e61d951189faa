"""A scripted OpenAI-compatible chat-completions server for deterministic tests.

It plays model turns from a script, records every request it receives, and counts requests
in flight per model, over real HTTP on 127.0.0.1.

Script format (a dict, or a JSON file holding one)::

    {"models": {"kimi-k2.6": [TURN, ...], "*": [TURN, ...]}, "repeat_last": false}

or the shorthand ``{"kimi-k2.6": [TURN, ...], "*": [...]}``. A model's queue may also be
``{"turns": [TURN, ...], "repeat_last": true}``. Requests take the next turn of their model's
queue, else of ``"*"``; an exhausted queue replays its last turn under ``repeat_last``, else
answers 500 ``script exhausted for model X``. A TURN is an object with:

- ``content``: the assistant text; ``action``: an object sent as JSON text (a mission Action);
- ``tool_calls``: ``[{"name", "arguments" (object or JSON text), "id"?}]`` or OpenAI form;
- ``reasoning_content``: thinking text, alongside any of the above;
- ``status`` (with optional ``body`` and ``headers``): an HTTP error answer, e.g. 500 or 429
  with ``{"Retry-After": "0"}``;
- ``garbage``: a 200 answer whose body (or SSE data line) is this non-JSON text;
- ``delay_seconds``: wait before answering (timeouts, concurrency); alone it answers "";
- ``cut_stream_after``: send that many SSE chunks (or half the JSON body), then drop the
  connection; ``chunk_delay_seconds``: wait between SSE chunks (idle timeouts);
- ``finish_reason``, ``usage`` (``prompt_tokens``/``completion_tokens``), ``headers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

__all__ = [
    "RecordedRequest",
    "ScriptError",
    "ScriptedUpstream",
    "Turn",
    "load_script",
]

DEFAULT_QUEUE = "*"
_CHUNK_CHARS = 16


class ScriptError(ValueError):
    """A script that cannot be played; the message names the turn and the field."""


@dataclass(frozen=True)
class Turn:
    """One scripted answer, validated."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reasoning_content: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    cut_stream_after: int | None = None
    chunk_delay_seconds: float = 0.0
    garbage: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive, as received
    body: Any
    time: float
    model: str | None = None
    peer: str | None = None  # "host:port" of the client socket: shows connection reuse

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``--record`` files)."""
        return {item.name: getattr(self, item.name) for item in fields(self)} | {
            "headers": dict(self.headers)
        }


# A turn's keys: its fields, and ``action`` (sent as the content's JSON text).
_TURN_KEYS = frozenset({item.name for item in fields(Turn)} | {"action"})


@dataclass
class _Queue:
    turns: list[Turn]
    repeat_last: bool
    position: int = 0


def load_script(script: Mapping[str, Any] | str | Path) -> dict[str, _Queue]:
    """Validate a script (a dict, or the path of a JSON file) into per-model queues."""
    if isinstance(script, str | Path):
        path = Path(script)
        try:
            script = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScriptError(f"cannot read script {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ScriptError(f"script {path} is not JSON: {exc}") from None
    if not isinstance(script, Mapping):
        raise ScriptError(
            f"a script is an object of model ids to turns, not {type(script).__name__}"
        )
    repeat_default = script.get("repeat_last", False)
    if not isinstance(repeat_default, bool):
        raise ScriptError("script.repeat_last must be true or false")
    if "models" in script and isinstance(script["models"], Mapping):
        extra = set(script) - {"models", "repeat_last"}
        if extra:
            raise ScriptError(f"script has unknown keys {sorted(extra)} beside 'models'")
        models = script["models"]
        where = "script.models"
    else:
        models = {k: v for k, v in script.items() if k != "repeat_last"}
        where = "script"
    queues: dict[str, _Queue] = {}
    for model, entry in models.items():
        repeat = repeat_default
        turns = entry
        if isinstance(entry, Mapping):
            unknown = set(entry) - {"turns", "repeat_last"}
            if unknown:
                raise ScriptError(f"{where}[{model!r}] has unknown keys {sorted(unknown)}")
            turns = entry.get("turns", [])
            repeat = entry.get("repeat_last", repeat_default)
            if not isinstance(repeat, bool):
                raise ScriptError(f"{where}[{model!r}].repeat_last must be true or false")
        if not isinstance(turns, list):
            raise ScriptError(f"{where}[{model!r}] must be a list of turns")
        queues[model] = _Queue(
            [_parse_turn(turn, f"{where}[{model!r}][{i}]") for i, turn in enumerate(turns)],
            repeat,
        )
    return queues


def _parse_turn(data: Any, where: str) -> Turn:
    if not isinstance(data, Mapping):
        raise ScriptError(f"{where} must be an object, not {type(data).__name__}")
    unknown = set(data) - _TURN_KEYS
    if unknown:
        raise ScriptError(
            f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_TURN_KEYS)}"
        )
    answers = [k for k in ("content", "action", "garbage", "status") if k in data]
    if len(answers) > 1:
        raise ScriptError(f"{where} sets {answers}; a turn has at most one of them")
    if ("status" in data or "garbage" in data) and "tool_calls" in data:
        raise ScriptError(f"{where}: tool_calls cannot go with status or garbage")
    content = data.get("content")
    if content is not None and not isinstance(content, str):
        raise ScriptError(f"{where}.content must be a string")
    if "action" in data:
        if not isinstance(data["action"], Mapping):
            raise ScriptError(f"{where}.action must be an object")
        content = json.dumps(data["action"], ensure_ascii=False)
    status = data.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise ScriptError(f"{where}.status must be an HTTP status code, got {status!r}")
    headers = data.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ScriptError(f"{where}.headers must map header names to strings")
    for key in ("delay_seconds", "chunk_delay_seconds"):
        value = data.get(key, 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ScriptError(f"{where}.{key} must be a number >= 0, got {value!r}")
    cut = data.get("cut_stream_after")
    if cut is not None and (not isinstance(cut, int) or isinstance(cut, bool) or cut < 0):
        raise ScriptError(f"{where}.cut_stream_after must be an integer >= 0, got {cut!r}")
    for key in ("reasoning_content", "garbage", "finish_reason"):
        if key in data and not isinstance(data[key], str):
            raise ScriptError(f"{where}.{key} must be a string")
    usage = data.get("usage")
    if usage is not None and (
        not isinstance(usage, Mapping) or not all(isinstance(v, int) for v in usage.values())
    ):
        raise ScriptError(f"{where}.usage must map token counts to integers")
    return Turn(
        content=content,
        tool_calls=_parse_tool_calls(data.get("tool_calls", []), f"{where}.tool_calls"),
        reasoning_content=data.get("reasoning_content"),
        status=status,
        body=data.get("body"),
        headers=dict(headers),
        delay_seconds=float(data.get("delay_seconds", 0)),
        cut_stream_after=cut,
        chunk_delay_seconds=float(data.get("chunk_delay_seconds", 0)),
        garbage=data.get("garbage"),
        finish_reason=data.get("finish_reason"),
        usage=dict(usage) if usage is not None else None,
    )


def _parse_tool_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(calls, list):
        raise ScriptError(f"{where} must be a list")
    parsed = []
    for i, call in enumerate(calls):
        if not isinstance(call, Mapping):
            raise ScriptError(f"{where}[{i}] must be an object")
        function = call.get("function", call)
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise ScriptError(f"{where}[{i}].name must be a non-empty string")
        arguments = function.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        parsed.append(
            {
                "id": call.get("id") or f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )
    return parsed


class ScriptedUpstream:
    """The server. ``async with ScriptedUpstream(script) as up:`` then call ``up.base_url``."""

    def __init__(
        self,
        script: Mapping[str, Any] | str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_request: Callable[[RecordedRequest], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.total_in_flight = 0
        self.max_total_in_flight = 0
        self.on_request = on_request
        self._lock = threading.Lock()
        self._queues = load_script(script or {})
        self._runner: web.AppRunner | None = None
        self._served = 0

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what an OpenAI client takes as its base URL."""
        if self._runner is None:
            raise RuntimeError("the scripted upstream is not running")
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> ScriptedUpstream:
        """Bind and serve; ``port`` 0 picks a free port (read it back from ``.port``)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def stop(self) -> None:
        """Stop serving (requests still in a delay are cancelled)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> ScriptedUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(
        cls, script: Mapping[str, Any] | str | Path | None = None, **kwargs: Any
    ) -> Iterator[ScriptedUpstream]:
        """Serve from a private event loop in a thread (for tests that drive subprocesses)."""
        from bridge.loop_thread import loop_thread

        with loop_thread("scripted-upstream") as run:
            upstream = run(cls(script, **kwargs).start())
            try:
                yield upstream
            finally:
                run(upstream.stop())

    # -- the script ---------------------------------------------------------------------

    def set_script(self, script: Mapping[str, Any] | str | Path) -> None:
        """Replace the script (queues restart from their first turn; requests are kept)."""
        queues = load_script(script)
        with self._lock:
            self._queues = queues

    def add_turns(self, model: str, turns: list[dict[str, Any]]) -> None:
        """Append turns to a model's queue (creating it)."""
        parsed = [_parse_turn(t, f"add_turns[{model!r}][{i}]") for i, t in enumerate(turns)]
        with self._lock:
            queue = self._queues.setdefault(model, _Queue([], False))
            queue.turns.extend(parsed)

    def chat_requests(self, model: str | None = None) -> list[RecordedRequest]:
        """Recorded chat-completions requests, optionally only those for ``model``."""
        return [
            r
            for r in self.requests
            if r.path.endswith("/chat/completions") and (model is None or r.model == model)
        ]

    def _next_turn(self, model: str) -> Turn | None:
        with self._lock:
            queue = self._queues.get(model) or self._queues.get(DEFAULT_QUEUE)
            if queue is None:
                return None
            if queue.position < len(queue.turns):
                queue.position += 1
                return queue.turns[queue.position - 1]
            if queue.repeat_last and queue.turns:
                return queue.turns[-1]
            return None

    # -- HTTP ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        parse_error = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                body = raw.decode("utf-8", "replace")
                parse_error = str(exc)
        model = body.get("model") if isinstance(body, dict) else None
        peername = request.transport.get_extra_info("peername") if request.transport else None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=CIMultiDict(request.headers),
            body=body,
            time=time.time(),
            model=model if isinstance(model, str) else None,
            peer=f"{peername[0]}:{peername[1]}" if peername else None,
        )
        self.requests.append(record)
        if self.on_request is not None:
            self.on_request(record)
        path = request.path.rstrip("/")
        if request.method == "GET" and path in ("/v1/models", "/models"):
            return self._models()
        if request.method == "GET" and path == "/health":
            return web.json_response({"status": "ok"})
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return _error(404, f"no route {request.method} {request.path}", "not_found")
        if request.method != "POST":
            return _error(405, f"{request.path} takes POST", "method_not_allowed")
        if parse_error is not None or not isinstance(body, dict):
            return _error(400, f"the request body is not a JSON object: {parse_error}", "bad_json")
        if not isinstance(model, str) or not model:
            return _error(400, "the request names no model", "missing_model")
        self.in_flight[model] = self.in_flight.get(model, 0) + 1
        self.max_in_flight[model] = max(self.max_in_flight.get(model, 0), self.in_flight[model])
        self.total_in_flight += 1
        self.max_total_in_flight = max(self.max_total_in_flight, self.total_in_flight)
        try:
            return await self._answer(request, body, model, len(raw))
        finally:
            self.in_flight[model] -= 1
            self.total_in_flight -= 1

    def _models(self) -> web.Response:
        with self._lock:
            ids = [m for m in self._queues if m != DEFAULT_QUEUE]
        data = [{"id": m, "object": "model", "owned_by": "scripted"} for m in ids]
        return web.json_response({"object": "list", "data": data})

    async def _answer(
        self, request: web.Request, body: dict[str, Any], model: str, size: int
    ) -> web.StreamResponse:
        turn = self._next_turn(model)
        if turn is None:
            return _error(500, f"script exhausted for model {model}", "script_exhausted")
        self._served += 1
        if turn.delay_seconds:
            await asyncio.sleep(turn.delay_seconds)
        if turn.status is not None:
            return _status_answer(turn)
        stream = bool(body.get("stream"))
        if turn.garbage is not None:
            if stream:
                response = await _prepare_sse(request, turn)
                await response.write(f"data: {turn.garbage}\n\n".encode())
                await response.write_eof()
                return response
            return web.Response(
                text=turn.garbage, content_type="application/json", headers=turn.headers
            )
        completion_id = f"chatcmpl-scripted-{self._served}"
        if stream:
            return await self._stream_answer(request, turn, model, completion_id, size)
        answer = _completion(turn, model, completion_id, size)
        if turn.cut_stream_after is not None:
            return await _cut_json(request, answer, turn)
        return web.json_response(answer, headers=turn.headers)

    async def _stream_answer(
        self, request: web.Request, turn: Turn, model: str, completion_id: str, size: int
    ) -> web.StreamResponse:
        response = await _prepare_sse(request, turn)
        for sent, chunk in enumerate(_chunks(turn, model, completion_id, size)):
            if turn.cut_stream_after is not None and sent >= turn.cut_stream_after:
                _drop(request)
                return response
            if sent and turn.chunk_delay_seconds:
                await asyncio.sleep(turn.chunk_delay_seconds)
            data = chunk if isinstance(chunk, str) else json.dumps(chunk, ensure_ascii=False)
            await response.write(f"data: {data}\n\n".encode())
        await response.write_eof()
        return response


# -- answers -----------------------------------------------------------------------------------


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "scripted_upstream", "code": code}}, status=status
    )


def _status_answer(turn: Turn) -> web.Response:
    status = turn.status or 500
    if turn.body is None:
        payload: Any = {
            "error": {"message": f"scripted status {status}", "type": "scripted_upstream"}
        }
    else:
        payload = turn.body
    if isinstance(payload, str):
        return web.Response(status=status, text=payload, headers=turn.headers)
    return web.json_response(payload, status=status, headers=turn.headers)


def _usage(turn: Turn, size: int) -> dict[str, int]:
    produced = len(turn.content or "") + len(turn.reasoning_content or "")
    produced += sum(len(c["function"]["arguments"]) for c in turn.tool_calls)
    usage = {"prompt_tokens": max(1, size // 4), "completion_tokens": max(1, produced // 4)}
    if turn.usage:
        usage.update(turn.usage)
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _finish_reason(turn: Turn) -> str:
    return turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")


def _completion(turn: Turn, model: str, completion_id: str, size: int) -> dict[str, Any]:
    # OpenAI sends content null beside tool calls, and a string otherwise.
    content = turn.content if turn.content is not None or turn.tool_calls else ""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if turn.reasoning_content is not None:
        message["reasoning_content"] = turn.reasoning_content
    if turn.tool_calls:
        message["tool_calls"] = turn.tool_calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(turn)}],
        "usage": _usage(turn, size),
    }


def _chunks(
    turn: Turn, model: str, completion_id: str, size: int
) -> Iterator[dict[str, Any] | str]:
    """The SSE data payloads of a streamed answer, ``[DONE]`` last."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(turn.reasoning_content or ""):
        yield chunk({"reasoning_content": piece})
    for piece in _pieces(turn.content or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(turn.tool_calls):
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        for piece in _pieces(call["function"]["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, _finish_reason(turn), usage=_usage(turn, size))
    yield "[DONE]"


def _pieces(text: str) -> Iterator[str]:
    for start in range(0, len(text), _CHUNK_CHARS):
        yield text[start : start + _CHUNK_CHARS]


async def _prepare_sse(request: web.Request, turn: Turn) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **turn.headers}
    )
    await response.prepare(request)
    return response


async def _cut_json(request: web.Request, answer: dict[str, Any], turn: Turn) -> web.StreamResponse:
    """Announce the whole JSON body, send half of it, then drop the connection."""
    data = json.dumps(answer).encode()
    response = web.StreamResponse(headers={"Content-Type": "application/json", **turn.headers})
    response.content_length = len(data)
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    _drop(request)
    return response


def _drop(request: web.Request) -> None:
    """Close the socket under a half-sent answer, as a crashing provider would."""
    transport = request.transport
    if transport is not None:
        transport.abort()
