"""Raw aliases (``ocg-<model>``) and GPT passthrough: no runtime, just translation and routing.

A raw alias turns the Responses request into a chat-completions request for the upstream
client (which applies routing, concurrency caps and fallbacks), then turns the answer back,
as one JSON response or as the full SSE sequence. While the upstream is slow the stream
carries ``response.in_progress`` heartbeats, because Codex's idle timer ignores SSE comments.
A GPT name under ``GPT_MODEL_STRATEGY=passthrough`` is forwarded untouched to OpenAI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
from aiohttp import web

from bridge.responses import (
    EventStream,
    RequestError,
    ResponsesRequest,
    dumps,
    error_body,
    usage_object,
)
from bridge.translate import ChatRequest, ToolMap, TranslationError, output_items, to_chat
from runtime.registry import Resolution
from runtime.upstream import UpstreamError, merge_tool_call

__all__ = ["ChunkRelay", "SseWriter", "handle_gpt_passthrough", "handle_raw", "sse_response"]

log = logging.getLogger("bridge.raw")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


async def handle_raw(
    request: web.Request,
    parsed: ResponsesRequest,
    resolution: Resolution,
    *,
    client: Any,
    deadline_seconds: float,
    heartbeat_seconds: float,
    upstream_stream: bool,
    scrub: Callable[[str], str] = str,
) -> web.StreamResponse:
    """Answer a raw-alias request through the upstream client."""
    try:
        chat = to_chat(parsed.body)
    except TranslationError as exc:
        raise RequestError(exc.message, param=exc.param) from None
    if not parsed.stream:
        return await _answer_json(parsed, resolution, chat, client, deadline_seconds, scrub)
    response = await sse_response(request)
    events = EventStream(parsed.model, parsed.body)
    async with SseWriter(response, events, heartbeat_seconds) as writer:
        # Queued, not awaited: it leaves in the write that follows this loop step, which is
        # before the upstream answers; a fast answer then goes out whole in one more write.
        writer.send(events.created())
        try:
            # The client enforces REQUEST_DEADLINE_SECONDS itself; this is only a backstop.
            async with asyncio.timeout(deadline_seconds + 1):
                if upstream_stream:
                    relay = ChunkRelay(events, chat.tools)
                    async for chunk in client.open_stream(resolution.chain, chat.body):
                        writer.send(relay.feed(chunk))
                    tail = relay.finish()
                else:
                    tail = await _relay_complete(events, resolution, chat, client)
        except UpstreamError as exc:
            message = scrub(f"upstream failed ({exc.reason}): {exc}")
            log.warning("raw %s: %s", parsed.model, message)
            tail = events.failed(message, code="upstream_error")
        except TimeoutError:
            tail = events.failed(
                f"deadline of {deadline_seconds:g}s (REQUEST_DEADLINE_SECONDS) exceeded "
                "before the upstream answered",
                code="deadline_exceeded",
            )
        except asyncio.CancelledError:
            log.info("raw %s: client disconnected; upstream call cancelled", parsed.model)
            raise
        await writer.end(tail)
    return response


def json_answer(body: dict[str, Any], status: int = 200) -> web.Response:
    """A JSON response written with the fast encoder."""
    return web.Response(body=dumps(body), status=status, content_type="application/json")


async def sse_response(request: web.Request) -> web.StreamResponse:
    """A prepared ``text/event-stream`` response."""
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    return response


async def _answer_json(
    parsed: ResponsesRequest,
    resolution: Resolution,
    chat: ChatRequest,
    client: Any,
    deadline_seconds: float,
    scrub: Callable[[str], str],
) -> web.Response:
    try:
        async with asyncio.timeout(deadline_seconds + 1):
            result = await client.complete(resolution.chain, chat.body)
    except UpstreamError as exc:
        status, code = 502, "upstream_error"
        message = scrub(f"upstream failed ({exc.reason}): {exc}")
    except TimeoutError:
        status, code = 504, "deadline_exceeded"
        message = f"deadline of {deadline_seconds:g}s (REQUEST_DEADLINE_SECONDS) exceeded"
    else:
        items, usage = _answer_of(result, chat.tools)
        events = EventStream(parsed.model, parsed.body)
        return json_answer(events.response("completed", output=items, usage=usage))
    body = error_body(message, code=code, type_="server_error")
    return web.json_response(body, status=status)


async def _relay_complete(
    events: EventStream, resolution: Resolution, chat: ChatRequest, client: Any
) -> bytes:
    """One non-streamed upstream call; returns the bytes that answer and close the stream."""
    items, usage = _answer_of(await client.complete(resolution.chain, chat.body), chat.tools)
    return b"".join(events.item(item) for item in items) + events.completed(usage)


def _answer_of(result: Any, tools: ToolMap) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The output items and the usage block of one upstream completion."""
    items = output_items(result.content, result.reasoning_content, result.tool_calls, tools)
    return items, usage_object(result.usage.input_tokens, result.usage.output_tokens)


class SseWriter:
    """Writes SSE frames for one response; ``async with`` it around the waiting.

    Frames sent within one step of the event loop (chunks that arrived in the same read) go
    out in one write, and a ``response.in_progress`` heartbeat is sent whenever ``interval``
    passes without a frame: Codex's idle timer ignores SSE comments but not that event.
    ``end(tail)`` writes what is pending, ``tail`` and the end of the body at once; leaving
    the block without it flushes what is pending.
    """

    def __init__(self, response: web.StreamResponse, events: EventStream, interval: float) -> None:
        self.response = response
        self.events = events
        self.interval = interval
        self._loop = asyncio.get_running_loop()
        self._buffer: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._beat: asyncio.TimerHandle | None = None
        self._last = self._loop.time()

    async def __aenter__(self) -> SseWriter:
        self._beat = self._loop.call_at(self._last + self.interval, self._heartbeat)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop_heartbeats()
        if exc[0] is None:
            await self.drain()
        elif self._writing is not None and not self._writing.done():
            self._writing.cancel()

    async def end(self, tail: bytes = b"") -> None:
        """Write what is queued and ``tail``, then end the response, in one write if idle."""
        self._stop_heartbeats()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._buffer.append(tail)
        data = b"".join(self._buffer)
        self._buffer.clear()
        if self._writing is not None:
            await self._writing
        await self.response.write_eof(data)

    def _stop_heartbeats(self) -> None:
        # A timer, not a task: no task to create and cancel per response, and no
        # CancelledError (with a traceback holding this writer) left behind.
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None

    def send(self, data: bytes) -> None:
        """Queue bytes; they are written once the current loop step ends."""
        if not data:
            return
        self._buffer.append(data)
        self._last = self._loop.time()
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    async def drain(self) -> None:
        """Write what is queued and wait until it has been handed to the socket."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush()
        if self._writing is not None:
            await self._writing

    def _flush(self) -> None:
        self._flush_handle = None
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._writing = asyncio.ensure_future(self._write(self._writing, data))
        self._writing.add_done_callback(_retrieve)

    async def _write(self, previous: asyncio.Task[None] | None, data: bytes) -> None:
        if previous is not None:
            await previous  # keeps frames in order behind a slow drain
        await self.response.write(data)

    def _heartbeat(self) -> None:
        if self._loop.time() >= self._last + self.interval:
            self.send(self.events.heartbeat())  # moves _last to now
        self._beat = self._loop.call_at(self._last + self.interval, self._heartbeat)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a write's failure as seen (the handler learns of it through drain or cancel)."""
    if not task.cancelled():
        task.exception()


class ChunkRelay:
    """Turns chat-completion chunks into Responses SSE events (pure: bytes in, bytes out).

    Text is relayed as it arrives; reasoning is gathered and emitted as one item before the
    first text or call (Codex shows it, and echoes it back next turn); tool calls are
    assembled and emitted whole at the end, when their names and arguments are complete.
    """

    def __init__(self, events: EventStream, tools: ToolMap) -> None:
        self.events = events
        self.tools = tools
        self.reasoning: list[str] = []
        self.reasoning_sent = False
        self.message_open = False
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events for one chunk (possibly none)."""
        out: list[bytes] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                self.reasoning.append(reasoning)
            text = delta.get("content")
            if isinstance(text, str) and text:
                out.append(self._flush_reasoning())
                if not self.message_open:
                    out.append(self.events.open_message())
                    self.message_open = True
                out.append(self.events.text_delta(text))
            for call in delta.get("tool_calls") or ():
                merge_tool_call(self.calls, call)
        return b"".join(out)

    def finish(self) -> bytes:
        """Close what is open, emit the assembled calls, then ``response.completed``."""
        out = [self._flush_reasoning()]
        if self.message_open:
            out.append(self.events.close_message())
            self.message_open = False
        calls = [self.calls[i] for i in sorted(self.calls)]
        for item in output_items(None, None, calls, self.tools):
            out.append(self.events.item(item))
        usage = self.usage or {}
        out.append(
            self.events.completed(
                usage_object(
                    int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
                )
            )
        )
        return b"".join(out)

    def _flush_reasoning(self) -> bytes:
        if self.reasoning_sent or not self.reasoning:
            return b""
        self.reasoning_sent = True
        (item,) = output_items(None, "".join(self.reasoning), None, self.tools)
        return self.events.item(item)


# ---------------------------------------------------------------------------------------------
# GPT passthrough


async def handle_gpt_passthrough(
    request: web.Request,
    raw_body: bytes,
    resolution: Resolution,
    http: httpx.AsyncClient,
) -> web.StreamResponse:
    """Forward the request as-is to ``OPENAI_BASE_URL/responses`` and relay the answer."""
    profile = resolution.primary
    if not profile.api_key:
        raise RequestError(
            "GPT_MODEL_STRATEGY=passthrough needs OPENAI_API_KEY to forward GPT names",
            code="missing_openai_key",
            param="model",
        )
    url = profile.base_url.rstrip("/") + "/responses"
    headers = {
        "Authorization": f"Bearer {profile.api_key}",
        "Content-Type": "application/json",
        "Accept": request.headers.get("Accept", "application/json"),
    }
    upstream_request = http.build_request("POST", url, content=raw_body, headers=headers)
    try:
        upstream = await http.send(upstream_request, stream=True)
    except httpx.HTTPError as exc:
        return web.json_response(
            error_body(f"OpenAI passthrough failed: {type(exc).__name__}", type_="server_error"),
            status=502,
        )
    try:
        response = web.StreamResponse(
            status=upstream.status_code,
            headers={"Content-Type": upstream.headers.get("content-type", "application/json")},
        )
        await response.prepare(request)
        async for piece in upstream.aiter_raw():
            await response.write(piece)
        await response.write_eof()
        return response
    finally:
        await upstream.aclose()
