"""One upstream attempt on the wire: send one chat-completions request and read its answer.

An attempt is a single HTTP request to one profile. It either gives an answer (``answer``: a
parsed body; ``collect``: a stream assembled; ``open``: a stream opened on its first chunk) or
raises :class:`AttemptFailed` saying what went wrong and whether the same profile is worth
retrying. Whether it is retried, falls back or ends the call is the upstream client's decision
(``_client``), as are the concurrency slots, the circuit breaker and the events.

Every wait is bounded twice: by its own timeout (first byte, or idle between reads) and by the
call's total deadline; the failure says which of the two ran out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
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

__all__ = ["AttemptFailed", "AttemptRunner", "OpenStream"]

RETRYABLE_STATUS = frozenset({408, 409, 429})  # and every 5xx

FailureKind = Literal["status", "timeout", "deadline", "transport", "garbage", "cut"]


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


@dataclass(slots=True)
class OpenStream:
    """A stream that produced its first chunk; its reader must :meth:`AttemptRunner.finish` it."""

    response: httpx.Response
    transport: httpx.AsyncBaseTransport
    lines: SseReader
    first: dict[str, Any]
    profile: Profile


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

    async def answer(self, profile: Profile, payload: bytes, deadline: float) -> ChatResult:
        """A non-streamed answer from ``profile``. Raises :class:`AttemptFailed`."""
        transport = self._transports.checkout(profile.base_url)
        response: httpx.Response | None = None
        try:
            response = await self._send(transport, profile, payload, deadline)
            body = await self._read_body(response, deadline)
        finally:
            await self._close(profile, transport, response)
        try:
            return parse_completion(body, profile)
        except MalformedAnswer as exc:
            raise AttemptFailed("garbage", str(exc)) from None

    async def collect(self, profile: Profile, payload: bytes, deadline: float) -> ChatResult:
        """A streamed answer from ``profile``, assembled. Raises :class:`AttemptFailed`."""
        opened = await self.open(profile, payload, deadline)
        chunks = [opened.first]
        try:
            while (chunk := await self.next_chunk(opened.lines, deadline)) is not None:
                chunks.append(chunk)
        finally:
            await self.finish(opened)
        return assemble_chunks(chunks, profile)

    async def open(self, profile: Profile, payload: bytes, deadline: float) -> OpenStream:
        """A stream from ``profile`` opened on its first chunk, which the caller must
        :meth:`finish`. Raises :class:`AttemptFailed`."""
        transport = self._transports.checkout(profile.base_url)
        response: httpx.Response | None = None
        lines: SseReader | None = None
        try:
            response = await self._send(transport, profile, payload, deadline)
            lines = SseReader(response)
            first = await self.next_chunk(lines, deadline)
            if first is None:
                raise AttemptFailed("garbage", "the stream ended before its first chunk")
        except BaseException:
            await self._close(profile, transport, response, lines)
            raise
        return OpenStream(response, transport, lines, first, profile)

    async def finish(self, opened: OpenStream) -> None:
        """Close an opened stream and give its transport back."""
        await self._close(opened.profile, opened.transport, opened.response, opened.lines)

    async def next_chunk(self, lines: SseReader, deadline: float) -> dict[str, Any] | None:
        """The next ``data:`` chunk of an SSE stream; ``None`` after ``[DONE]``.

        The idle timeout is armed once per network read, not once per line: one read
        usually carries many chunks, and a timeout costs more than parsing one.
        """
        pending = lines.pending
        while not pending:
            if lines.ended:
                raise AttemptFailed("cut", "the stream ended without data: [DONE]")
            read = await self._next_read(lines.reads, deadline, "stream", cut_retryable=False)
            if read is None:
                lines.ended = True
                pending.extend(lines.lines.close())
            else:
                pending.extend(lines.lines.feed(read))
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

    async def _close(
        self,
        profile: Profile,
        transport: httpx.AsyncBaseTransport,
        response: httpx.Response | None,
        lines: SseReader | None = None,
    ) -> None:
        try:
            if lines is not None:
                await lines.aclose()
            if response is not None:
                await response.aclose()
        finally:
            self._transports.checkin(profile.base_url, transport)

    async def _send(
        self,
        transport: httpx.AsyncBaseTransport,
        profile: Profile,
        payload: bytes,
        deadline: float,
    ) -> httpx.Response:
        """The response to one request, headers read; a status other than 2xx is a failure."""
        request = httpx.Request(
            "POST", self._url(profile), content=payload, headers=self._header(profile)
        )
        wait, kind = self._bounded(self.first_byte_timeout, deadline)
        try:
            async with asyncio.timeout(wait):
                response = await transport.handle_async_request(request)
        except TimeoutError:
            raise AttemptFailed(
                kind, f"no response headers within {wait:.2f}s ({_phase(kind, 'first-byte')})"
            ) from None
        except httpx.HTTPError as exc:
            raise AttemptFailed(
                "transport", f"connection failed: {_exc_text(exc)}", retryable=True
            ) from None
        if response.status_code >= 300:
            try:
                raise await self._status_failure(response, deadline)
            finally:
                await response.aclose()
        return response

    async def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        parts: list[bytes] = []
        reads = response.aiter_bytes()
        while (
            part := await self._next_read(reads, deadline, "body", cut_retryable=True)
        ) is not None:
            parts.append(part)
        return b"".join(parts)

    async def _next_read(
        self, reads: AsyncIterator[bytes], deadline: float, what: str, *, cut_retryable: bool
    ) -> bytes | None:
        """The next network read of a body or a stream (``what``); ``None`` at its end."""
        wait, kind = self._bounded(self.idle_timeout, deadline)
        try:
            async with asyncio.timeout(wait):
                return await anext(reads)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise AttemptFailed(
                kind, f"the {what} stalled for {wait:.2f}s ({_phase(kind, 'idle')})"
            ) from None
        except httpx.HTTPError as exc:
            raise AttemptFailed(
                "cut", f"the {what} was cut: {_exc_text(exc)}", retryable=cut_retryable
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
