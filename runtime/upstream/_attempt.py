"""One upstream attempt on the wire: send one chat-completions request and read its answer.

An attempt is a single HTTP request to one profile. It either yields a result (a parsed answer,
an assembled stream, or a stream opened on its first chunk) or raises :class:`AttemptFailed`
saying what went wrong and whether the same profile is worth retrying. Whether it is retried,
falls back or ends the call is the upstream client's decision (``_client``), as
are the concurrency slots, the circuit breaker and the events.

Every wait is bounded twice: by its own timeout (first byte, or idle between reads) and by the
call's total deadline; the failure says which of the two ran out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from runtime.registry import Profile
from runtime.upstream._completions import (
    SNIPPET_CHARS,
    ChatResult,
    MalformedAnswer,
    SseDataLines,
    assemble_chunks,
    decode_json,
    error_message,
    parse_completion,
    retry_after_seconds,
)
from runtime.upstream._connections import TransportPool
from runtime.upstream._limits import Lease

__all__ = [
    "RETRYABLE_STATUS",
    "AttemptFailed",
    "AttemptMode",
    "AttemptRunner",
    "FailureKind",
    "OpenStream",
    "SseReader",
]

RETRYABLE_STATUS = frozenset({408, 409, 429})  # and every 5xx

FailureKind = Literal["status", "timeout", "deadline", "transport", "garbage", "cut"]
# json: a plain answer; collect: a stream assembled into one answer; open: a stream handed on.
AttemptMode = Literal["json", "collect", "open"]


class AttemptFailed(Exception):
    """One HTTP attempt failed; whether to retry it is decided by the call loop."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after


class SseReader:
    """The ``data:`` payloads of one streamed response, read one network chunk at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.reads = response.aiter_bytes()
        self.lines = SseDataLines()
        self.pending: deque[bytes] = deque()
        self.ended = False

    async def aclose(self) -> None:
        """Close the read iterator now rather than leave it to the garbage collector."""
        await self.reads.aclose()  # type: ignore[attr-defined]


@dataclass
class OpenStream:
    """A stream that produced its first chunk; handed from the call loop to ``stream()``."""

    response: httpx.Response
    transport: httpx.AsyncBaseTransport
    lines: SseReader
    first: dict[str, Any]
    profile: Profile
    deadline: float
    # Filled in by the call loop, which owns the slot and the attempt count.
    lease: Lease | None = None
    attempt: int = 0
    fallback_from: str | None = None
    started: float = 0.0


class AttemptRunner:
    """Sends attempts through a :class:`TransportPool` and reads their answers.

    ``first_byte_timeout`` bounds the wait for response headers, ``idle_timeout`` the gap
    between body chunks or stream reads. Shared by every call of one upstream client.
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None,
        first_byte_timeout: float,
        idle_timeout: float,
    ) -> None:
        self.first_byte_timeout = first_byte_timeout
        self.idle_timeout = idle_timeout
        self._transports = TransportPool(transport=transport)
        self._urls: dict[str, httpx.URL] = {}
        self._headers: dict[tuple[str, str | None], dict[str, str]] = {}

    async def aclose(self) -> None:
        """Close the idle connections."""
        await self._transports.aclose()

    async def run(
        self, profile: Profile, payload: bytes, mode: AttemptMode, deadline: float
    ) -> ChatResult | OpenStream:
        """One request to ``profile``: a result, or an :class:`OpenStream` in ``open`` mode
        (which the caller must :meth:`finish`). Raises :class:`AttemptFailed`."""
        transport = self._transports.checkout(profile.base_url)
        keep_open = False
        response: httpx.Response | None = None
        lines: SseReader | None = None
        try:
            response = await self._send(transport, profile, payload, deadline)
            if response.status_code >= 300:
                raise await self._status_failure(response, deadline)
            if mode == "json":
                body = await self._read_body(response, deadline)
                try:
                    return parse_completion(body, profile)
                except MalformedAnswer as exc:
                    raise AttemptFailed("garbage", str(exc)) from None
            lines = SseReader(response)
            first = await self.next_chunk(lines, deadline)
            if first is None:
                raise AttemptFailed("garbage", "the stream ended before its first chunk")
            if mode == "open":
                keep_open = True
                return OpenStream(response, transport, lines, first, profile, deadline)
            chunks = [first]
            while (chunk := await self.next_chunk(lines, deadline)) is not None:
                chunks.append(chunk)
            return assemble_chunks(chunks, profile)
        finally:
            if not keep_open:
                if lines is not None:
                    await lines.aclose()
                if response is not None:
                    await response.aclose()
                self._transports.checkin(profile.base_url, transport)

    async def finish(self, opened: OpenStream) -> None:
        """Close an opened stream and give its transport back (the lease is the caller's)."""
        try:
            await opened.lines.aclose()
            await opened.response.aclose()
        finally:
            self._transports.checkin(opened.profile.base_url, opened.transport)

    async def next_chunk(self, lines: SseReader, deadline: float) -> dict[str, Any] | None:
        """The next ``data:`` chunk of an SSE stream; ``None`` after ``[DONE]``.

        The idle timeout is armed once per network read, not once per line: one read
        usually carries many chunks, and a timeout costs more than parsing one.
        """
        pending = lines.pending
        while not pending:
            if lines.ended:
                raise AttemptFailed("cut", "the stream ended without data: [DONE]")
            wait, kind = self._bounded(self.idle_timeout, deadline)
            try:
                async with asyncio.timeout(wait):
                    data = await anext(lines.reads)
            except StopAsyncIteration:
                lines.ended = True
                pending.extend(lines.lines.close())
                continue
            except TimeoutError:
                raise AttemptFailed(
                    kind, f"the stream stalled for {wait:.2f}s ({_phase(kind, 'idle')})"
                ) from None
            except httpx.HTTPError as exc:
                raise AttemptFailed("cut", f"the stream was cut: {_exc_text(exc)}") from None
            pending.extend(lines.lines.feed(data))
        data = pending.popleft()
        if data == b"[DONE]":
            return None
        try:
            chunk = decode_json(data)
        except ValueError:
            raise AttemptFailed(
                "garbage", f"a stream line is not JSON: {_text(data[:SNIPPET_CHARS])!r}"
            ) from None
        if not isinstance(chunk, dict):
            raise AttemptFailed("garbage", f"a stream chunk is not an object: {_text(data[:80])!r}")
        if "error" in chunk and "choices" not in chunk:
            raise AttemptFailed(
                "status", f"the stream reported an error: {_text(data[:SNIPPET_CHARS])}"
            )
        return chunk

    # -- the request and the body ---------------------------------------------------------------

    async def _send(
        self,
        transport: httpx.AsyncBaseTransport,
        profile: Profile,
        payload: bytes,
        deadline: float,
    ) -> httpx.Response:
        request = httpx.Request(
            "POST", self._url(profile), content=payload, headers=self._header(profile)
        )
        wait, kind = self._bounded(self.first_byte_timeout, deadline)
        try:
            async with asyncio.timeout(wait):
                return await transport.handle_async_request(request)
        except TimeoutError:
            raise AttemptFailed(
                kind, f"no response headers within {wait:.2f}s ({_phase(kind, 'first-byte')})"
            ) from None
        except httpx.HTTPError as exc:
            raise AttemptFailed(
                "transport", f"connection failed: {_exc_text(exc)}", retryable=True
            ) from None

    async def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        parts: list[bytes] = []
        chunks = response.aiter_bytes()
        while True:
            wait, kind = self._bounded(self.idle_timeout, deadline)
            try:
                async with asyncio.timeout(wait):
                    parts.append(await anext(chunks))
            except StopAsyncIteration:
                return b"".join(parts)
            except TimeoutError:
                raise AttemptFailed(
                    kind, f"the body stalled for {wait:.2f}s ({_phase(kind, 'idle')})"
                ) from None
            except httpx.HTTPError as exc:
                raise AttemptFailed(
                    "cut", f"the body was cut: {_exc_text(exc)}", retryable=True
                ) from None

    async def _status_failure(self, response: httpx.Response, deadline: float) -> AttemptFailed:
        status = response.status_code
        try:
            text = (await self._read_body(response, deadline)).decode("utf-8", "replace")
        except AttemptFailed:
            text = ""
        retryable = status in RETRYABLE_STATUS or status >= 500
        return AttemptFailed(
            "status",
            f"HTTP {status}{': ' + error_message(text) if text else ''}",
            status_code=status,
            retryable=retryable,
            retry_after=retry_after_seconds(response.headers) if retryable else None,
        )

    def _bounded(self, wait: float, deadline: float) -> tuple[float, FailureKind]:
        """``wait`` cut to the time left before ``deadline``, and which of the two binds."""
        left = deadline - asyncio.get_running_loop().time()
        if left < wait:
            return max(0.0, left), "deadline"
        return wait, "timeout"

    def _url(self, profile: Profile) -> httpx.URL:
        url = self._urls.get(profile.base_url)
        if url is None:
            url = httpx.URL(profile.base_url.rstrip("/") + "/chat/completions")
            self._urls[profile.base_url] = url
        return url

    def _header(self, profile: Profile) -> dict[str, str]:
        key = (profile.base_url, profile.api_key)
        headers = self._headers.get(key)
        if headers is None:
            headers = {
                "content-type": "application/json",
                "accept": "application/json, text/event-stream",
                "accept-encoding": "gzip, deflate",  # decoded by httpx.Response
                "user-agent": "opencode-bridge",
            }
            if profile.api_key:
                headers["authorization"] = f"Bearer {profile.api_key}"
            self._headers[key] = headers
        return headers


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _exc_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _phase(kind: str, phase: str) -> str:
    return "the total deadline" if kind == "deadline" else f"the {phase} timeout"
