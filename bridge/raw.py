"""Raw aliases (``ocg-<model>``) and GPT passthrough: no runtime, just translation and routing.

A raw alias turns the Responses request into a chat-completions request for the upstream
client (which applies routing, concurrency caps and fallbacks), then turns the answer back,
as one JSON response or as the full SSE sequence. While the upstream is slow the stream
carries ``response.in_progress`` heartbeats, because Codex's idle timer ignores SSE comments.
A GPT name under ``GPT_MODEL_STRATEGY=passthrough`` is forwarded untouched to OpenAI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from aiohttp import web

from bridge.responses import (
    EventStream,
    RequestError,
    ResponsesRequest,
    error_body,
    response_object,
    usage_object,
)
from bridge.translate import ChatRequest, ToolMap, TranslationError, output_items, to_chat
from runtime.registry import Resolution
from runtime.upstream import UpstreamError

__all__ = ["ChunkRelay", "handle_gpt_passthrough", "handle_raw", "sse_response"]

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
    await response.write(events.created())
    try:
        # The client enforces REQUEST_DEADLINE_SECONDS itself; this is only a backstop.
        async with asyncio.timeout(deadline_seconds + 1):
            if upstream_stream:
                tail = await _relay_stream(
                    response, events, resolution, chat, client, heartbeat_seconds
                )
            else:
                tail = await _relay_complete(
                    response, events, resolution, chat, client, heartbeat_seconds
                )
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
    await response.write(tail)
    await response.write_eof()
    return response


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
        return web.json_response(
            error_body(
                scrub(f"upstream failed ({exc.reason}): {exc}"),
                code="upstream_error",
                type_="server_error",
            ),
            status=502,
        )
    except TimeoutError:
        return web.json_response(
            error_body(
                f"deadline of {deadline_seconds:g}s (REQUEST_DEADLINE_SECONDS) exceeded",
                code="deadline_exceeded",
                type_="server_error",
            ),
            status=504,
        )
    events = EventStream(parsed.model, parsed.body)
    body = response_object(
        events.response_id,
        parsed.model,
        events.created_at,
        status="completed",
        output=output_items(
            result.content, result.reasoning_content, result.tool_calls, chat.tools
        ),
        usage=usage_object(result.usage.input_tokens, result.usage.output_tokens),
        request=parsed.body,
    )
    return web.json_response(body)


async def _relay_complete(
    response: web.StreamResponse,
    events: EventStream,
    resolution: Resolution,
    chat: ChatRequest,
    client: Any,
    heartbeat_seconds: float,
) -> bytes:
    """One non-streamed upstream call, heartbeats while waiting; returns the closing bytes."""
    task = asyncio.ensure_future(client.complete(resolution.chain, chat.body))
    try:
        result = await await_with_heartbeats(task, response, events, heartbeat_seconds)
    finally:
        if not task.done():
            task.cancel()
    items = output_items(result.content, result.reasoning_content, result.tool_calls, chat.tools)
    usage = usage_object(result.usage.input_tokens, result.usage.output_tokens)
    return b"".join(events.item(item) for item in items) + events.completed(usage)


async def await_with_heartbeats(
    task: asyncio.Future[Any],
    response: web.StreamResponse,
    events: EventStream,
    interval: float,
) -> Any:
    """The task's result, writing a heartbeat every ``interval`` seconds until it is done."""
    while True:
        done, _ = await asyncio.wait({task}, timeout=interval)
        if done:
            return task.result()
        await response.write(events.heartbeat())


async def _relay_stream(
    response: web.StreamResponse,
    events: EventStream,
    resolution: Resolution,
    chat: ChatRequest,
    client: Any,
    heartbeat_seconds: float,
) -> bytes:
    """Relay a streamed upstream answer as it arrives; returns the closing bytes."""
    relay = ChunkRelay(events, chat.tools)
    async for chunk in _with_idle_ticks(
        client.stream(resolution.chain, chat.body), heartbeat_seconds
    ):
        out = events.heartbeat() if chunk is None else relay.feed(chunk)
        if out:
            await response.write(out)
    return relay.finish()


async def _with_idle_ticks(
    chunks: AsyncIterator[dict[str, Any]], interval: float
) -> AsyncIterator[dict[str, Any] | None]:
    """The chunks, with ``None`` yielded whenever ``interval`` passes without one."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for chunk in chunks:
                queue.put_nowait(("chunk", chunk))
            queue.put_nowait(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait(("error", exc))

    task = asyncio.ensure_future(pump())
    try:
        while True:
            try:
                kind, value = await asyncio.wait_for(queue.get(), interval)
            except TimeoutError:
                yield None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


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
                self._add_call_piece(call)
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

    def _add_call_piece(self, piece: dict[str, Any]) -> None:
        index = piece.get("index", len(self.calls))
        call = self.calls.setdefault(
            index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if piece.get("id"):
            call["id"] = piece["id"]
        function = piece.get("function") or {}
        if function.get("name"):
            call["function"]["name"] += function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] += function["arguments"]


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
