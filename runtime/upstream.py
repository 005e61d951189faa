"""The upstream client: OpenAI-compatible chat completions with retries, deadlines, caps,
fallback chains and a circuit breaker. Every attempt is reported as a ``ModelCalled`` payload.

A call walks its profile chain in order. On each profile it retries 408/409/429/5xx and
connection failures (honouring ``Retry-After``, capped); any other failure, a timeout, a
garbage body, a cut stream or an open circuit moves it on to the next profile. It ends with
a result or an :class:`UpstreamError` whose ``reason`` says why. One total deadline
(``REQUEST_DEADLINE_SECONDS``) bounds the whole call, queue waits and retries included.

Events per call, in order (``attempt`` counts HTTP requests; markers carry the next count):
``retry`` (failed, will try the same profile again), ``error`` (failed, giving up on the
profile), ``fallback`` (a marker on the next profile, ``fallback_from`` set, ``error`` says why
and whether it is weaker), ``circuit_open`` (profile skipped), ``ok`` (served, with tokens).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from runtime.breaker import CircuitBreaker
from runtime.completions import (
    SNIPPET_CHARS,
    ChatResult,
    MalformedAnswer,
    SseDataLines,
    Usage,
    assemble_chunks,
    decode_json,
    error_message,
    parse_completion,
    request_payload,
    retry_after_seconds,
    usage_of,
)
from runtime.connections import TransportPool
from runtime.events import ModelCalled
from runtime.limits import ConcurrencyLimits, Lease, QueueTimeout
from runtime.registry import Profile
from runtime.settings import Settings

__all__ = [
    "ChatResult",
    "EventSink",
    "ModelClient",
    "UpstreamClient",
    "UpstreamError",
    "Usage",
]

EventSink = Callable[[ModelCalled], None]
RETRYABLE_STATUS = frozenset({408, 409, 429})


class UpstreamError(Exception):
    """The call failed for good; ``reason`` is the machine reason, ``str(e)`` the sentence.

    Reasons: ``all_profiles_failed``, ``deadline_exceeded``, ``queue_timeout``,
    ``circuit_open``, ``stream_cut``, ``empty_chain``.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status_code: int | None = None,
        profile: str | None = None,
        failures: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status_code = status_code
        self.profile = profile
        self.failures = failures or []


class ModelClient(Protocol):
    """What the mission loop and the bridge need from an upstream."""

    async def complete(
        self,
        chain: list[Profile],
        body: dict[str, Any],
        *,
        call_index: int = 0,
        on_event: EventSink | None = None,
    ) -> ChatResult: ...

    def stream(
        self,
        chain: list[Profile],
        body: dict[str, Any],
        *,
        call_index: int = 0,
        on_event: EventSink | None = None,
    ) -> AsyncIterator[dict[str, Any]]: ...


FailureKind = Literal["status", "timeout", "deadline", "transport", "garbage", "cut"]


class _AttemptFailed(Exception):
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


class _SseReader:
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
class _OpenStream:
    """A stream that produced its first chunk; handed from the call loop to ``stream()``."""

    response: httpx.Response
    transport: httpx.AsyncBaseTransport
    lines: _SseReader
    first: dict[str, Any]
    profile: Profile
    deadline: float
    # Filled in by the call loop, which owns the slot and the attempt count.
    lease: Lease | None = None
    attempt: int = 0
    fallback_from: str | None = None
    started: float = 0.0


@dataclass
class _CallState:
    """Bookkeeping of one call across its attempts."""

    call_index: int
    on_event: EventSink | None
    deadline: float
    attempt: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    last_status: int | None = None


class UpstreamClient:
    """Chat-completions client shared by every call of a bridge process (one connection pool).

    ``first_byte_timeout`` bounds the wait for response headers, ``idle_timeout`` the gap
    between body chunks or stream lines, ``queue_timeout`` the wait for a concurrency slot;
    ``REQUEST_DEADLINE_SECONDS`` bounds the whole call. ``clock`` drives the circuit breaker.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        first_byte_timeout: float = 120.0,
        idle_timeout: float = 60.0,
        queue_timeout: float = 60.0,
        max_attempts_per_profile: int = 3,
        max_retry_after: float = 20.0,
        backoff_base: float = 0.25,
        breaker_threshold: int = 5,
        breaker_cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("first_byte_timeout", first_byte_timeout),
            ("idle_timeout", idle_timeout),
            ("queue_timeout", queue_timeout),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value}")
        if max_attempts_per_profile < 1:
            raise ValueError(
                f"max_attempts_per_profile must be >= 1, got {max_attempts_per_profile}"
            )
        self.settings = settings
        self.first_byte_timeout = first_byte_timeout
        self.idle_timeout = idle_timeout
        self.queue_timeout = queue_timeout
        self.max_attempts_per_profile = max_attempts_per_profile
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.limits = ConcurrencyLimits(
            settings.MAX_GLOBAL_UPSTREAM_CONCURRENCY, settings.MODEL_CONCURRENCY_JSON
        )
        self.breaker = CircuitBreaker(
            threshold=breaker_threshold, cooldown_seconds=breaker_cooldown_seconds, clock=clock
        )
        # The caps above bound requests in flight, so the pool needs no limit of its own.
        self._transports = TransportPool(transport=transport)
        self._urls: dict[str, httpx.URL] = {}
        self._headers: dict[tuple[str, str | None], dict[str, str]] = {}

    async def aclose(self) -> None:
        """Close the idle connections."""
        await self._transports.aclose()

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- public calls ---------------------------------------------------------------------

    async def complete(
        self,
        chain: list[Profile],
        body: dict[str, Any],
        *,
        call_index: int = 0,
        on_event: EventSink | None = None,
    ) -> ChatResult:
        """One chat completion along ``chain``; ``body`` has no ``model`` (set per profile).

        With ``UPSTREAM_STREAM`` the upstream is asked to stream and the chunks are
        assembled here, so the idle deadline guards long generations and a cut stream still
        falls back (nothing has reached the caller yet).
        """
        mode: Literal["json", "collect"] = "collect" if self.settings.UPSTREAM_STREAM else "json"
        state = self._new_state(call_index, on_event)
        return await self._run(chain, body, state, mode)

    async def stream(
        self,
        chain: list[Profile],
        body: dict[str, Any],
        *,
        call_index: int = 0,
        on_event: EventSink | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Parsed ``chat.completion.chunk`` dicts along ``chain``.

        Falls back to the next profile only before the first chunk; a stream cut after that
        raises :class:`UpstreamError` with reason ``stream_cut``.
        """
        state = self._new_state(call_index, on_event)
        opened: _OpenStream = await self._run(chain, body, state, "open")
        chunks = 1
        usage = usage_of(opened.first)
        outcome: str | None = None
        try:
            yield opened.first
            while True:
                chunk = await self._next_chunk(opened.lines, opened.deadline, opened.profile)
                if chunk is None:
                    break
                chunks += 1
                if chunk.get("usage"):
                    usage = usage_of(chunk)
                yield chunk
            outcome = "ok"
        except _AttemptFailed as failure:
            outcome = "error"
            self.breaker.record_failure(opened.profile.name)
            message = f"{_describe(opened.profile)} stream cut after {chunks} chunk(s): {failure}"
            self._emit(
                state,
                opened.profile,
                "error",
                attempt=opened.attempt,
                error=message,
                started=opened.started,
                fallback_from=opened.fallback_from,
            )
            reason = "deadline_exceeded" if failure.kind == "deadline" else "stream_cut"
            raise UpstreamError(reason, message, profile=opened.profile.name) from None
        finally:
            try:
                await opened.lines.aclose()
                await opened.response.aclose()
            finally:
                self._transports.checkin(opened.profile.base_url, opened.transport)
                if opened.lease is not None:
                    opened.lease.release()
            if outcome == "ok":
                self.breaker.record_success(opened.profile.name)
                self._emit(
                    state,
                    opened.profile,
                    "ok",
                    attempt=opened.attempt,
                    started=opened.started,
                    usage=usage,
                    fallback_from=opened.fallback_from,
                )
            elif outcome is None:
                # The caller stopped reading: not the model's fault, so no breaker verdict.
                self.breaker.release(opened.profile.name)
                self._emit(
                    state,
                    opened.profile,
                    "ok",
                    attempt=opened.attempt,
                    error=f"stream closed by the caller after {chunks} chunk(s)",
                    started=opened.started,
                    usage=usage,
                    fallback_from=opened.fallback_from,
                )

    # -- the call loop ----------------------------------------------------------------------

    def _new_state(self, call_index: int, on_event: EventSink | None) -> _CallState:
        deadline = asyncio.get_running_loop().time() + self.settings.REQUEST_DEADLINE_SECONDS
        return _CallState(call_index=call_index, on_event=on_event, deadline=deadline)

    async def _run(
        self,
        chain: list[Profile],
        body: dict[str, Any],
        state: _CallState,
        mode: Literal["json", "collect", "open"],
    ) -> Any:
        if not chain:
            raise UpstreamError("empty_chain", "no upstream profile to call (empty chain)")
        loop = asyncio.get_running_loop()
        previous: Profile | None = None
        for profile in chain:
            fallback_from = previous.name if previous is not None else None
            if previous is not None:
                self._emit_fallback(state, previous, profile)
            previous = profile
            if not self.breaker.allow(profile.name):
                message = (
                    f"{_describe(profile)} skipped: its circuit is open after repeated failures "
                    f"(retry in {self.breaker.retry_in(profile.name):.0f}s)"
                )
                self._emit(
                    state,
                    profile,
                    "circuit_open",
                    attempt=state.attempt + 1,
                    error=message,
                    fallback_from=fallback_from,
                )
                state.failures.append((profile.name, message))
                state.kinds.append("circuit_open")
                continue
            payload = request_payload(profile, body, stream=mode != "json")
            for try_no in range(1, self.max_attempts_per_profile + 1):
                remaining = state.deadline - loop.time()
                if remaining <= 0:
                    self.breaker.release(profile.name)
                    raise self._deadline_error(state, profile)
                try:
                    lease = await self.limits.acquire(
                        profile.upstream_model,
                        profile.name,
                        timeout=min(self.queue_timeout, remaining),
                    )
                except QueueTimeout as exc:
                    self.breaker.release(profile.name)
                    if loop.time() >= state.deadline:
                        raise self._deadline_error(state, profile) from None
                    message = f"{_describe(profile)} not called: {exc}"
                    self._emit(
                        state,
                        profile,
                        "error",
                        attempt=state.attempt + 1,
                        error=message,
                        fallback_from=fallback_from,
                    )
                    state.failures.append((profile.name, message))
                    state.kinds.append("queue_timeout")
                    break
                state.attempt += 1
                started = loop.time()
                try:
                    result = await self._attempt(profile, payload, mode, state.deadline)
                except _AttemptFailed as failure:
                    lease.release()
                    state.last_status = failure.status_code
                    message = f"{_describe(profile)}: {failure}"
                    if failure.kind == "deadline":
                        self.breaker.release(profile.name)
                        self._emit(
                            state,
                            profile,
                            "error",
                            status_code=failure.status_code,
                            error=message,
                            started=started,
                            fallback_from=fallback_from,
                        )
                        state.failures.append((profile.name, message))
                        raise self._deadline_error(state, profile) from None
                    self.breaker.record_failure(profile.name)
                    wait = self._retry_wait(failure, try_no)
                    if (
                        failure.retryable
                        and try_no < self.max_attempts_per_profile
                        and self.breaker.state(profile.name) == "closed"
                        and loop.time() + wait < state.deadline
                    ):
                        self._emit(
                            state,
                            profile,
                            "retry",
                            status_code=failure.status_code,
                            error=f"{message}; retrying in {wait:.2f}s",
                            started=started,
                            fallback_from=fallback_from,
                        )
                        if wait > 0:
                            await asyncio.sleep(wait)
                        continue
                    self._emit(
                        state,
                        profile,
                        "error",
                        status_code=failure.status_code,
                        error=message,
                        started=started,
                        fallback_from=fallback_from,
                    )
                    state.failures.append((profile.name, message))
                    state.kinds.append(failure.kind)
                    break
                except BaseException:
                    lease.release()
                    self.breaker.release(profile.name)
                    raise
                if mode == "open":
                    opened: _OpenStream = result
                    opened.lease = lease
                    opened.attempt = state.attempt
                    opened.fallback_from = fallback_from
                    opened.started = started
                    return opened
                lease.release()
                self.breaker.record_success(profile.name)
                chat: ChatResult = result
                self._emit(
                    state,
                    profile,
                    "ok",
                    usage=chat.usage,
                    started=started,
                    fallback_from=fallback_from,
                )
                return chat
        raise self._exhausted_error(state, chain)

    def _retry_wait(self, failure: _AttemptFailed, try_no: int) -> float:
        if failure.retry_after is not None:
            return min(max(0.0, failure.retry_after), self.max_retry_after)
        return min(self.backoff_base * (2 ** (try_no - 1)), self.max_retry_after)

    def _deadline_error(self, state: _CallState, profile: Profile) -> UpstreamError:
        budget = self.settings.REQUEST_DEADLINE_SECONDS
        last = f"; last error: {state.failures[-1][1]}" if state.failures else ""
        return UpstreamError(
            "deadline_exceeded",
            f"the upstream call ran out of its {budget:g}s deadline while on "
            f"{_describe(profile)}{last}",
            status_code=state.last_status,
            profile=profile.name,
            failures=state.failures,
        )

    def _exhausted_error(self, state: _CallState, chain: list[Profile]) -> UpstreamError:
        kinds = set(state.kinds)
        if kinds == {"circuit_open"}:
            reason = "circuit_open"
        elif kinds == {"queue_timeout"}:
            reason = "queue_timeout"
        else:
            reason = "all_profiles_failed"
        names = ", ".join(p.name for p in chain)
        detail = "; ".join(message for _, message in state.failures)
        return UpstreamError(
            reason,
            f"every upstream profile failed ({names}): {detail}",
            status_code=state.last_status,
            profile=chain[-1].name,
            failures=state.failures,
        )

    # -- one attempt --------------------------------------------------------------------------

    async def _attempt(
        self, profile: Profile, payload: bytes, mode: str, deadline: float
    ) -> ChatResult | _OpenStream:
        transport = self._transports.checkout(profile.base_url)
        keep_open = False
        response: httpx.Response | None = None
        lines: _SseReader | None = None
        try:
            response = await self._send(transport, profile, payload, deadline)
            if response.status_code >= 300:
                raise await self._status_failure(response, deadline, profile)
            if mode == "json":
                body = await self._read_body(response, deadline, profile)
                try:
                    return parse_completion(body, profile)
                except MalformedAnswer as exc:
                    raise _AttemptFailed("garbage", str(exc)) from None
            lines = _SseReader(response)
            first = await self._next_chunk(lines, deadline, profile)
            if first is None:
                raise _AttemptFailed("garbage", "the stream ended before its first chunk")
            if mode == "open":
                keep_open = True
                return _OpenStream(response, transport, lines, first, profile, deadline)
            chunks = [first]
            while (chunk := await self._next_chunk(lines, deadline, profile)) is not None:
                chunks.append(chunk)
            return assemble_chunks(chunks, profile)
        finally:
            if not keep_open:
                if lines is not None:
                    await lines.aclose()
                if response is not None:
                    await response.aclose()
                self._transports.checkin(profile.base_url, transport)

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
            raise _AttemptFailed(
                kind, f"no response headers within {wait:.2f}s ({_phase(kind, 'first-byte')})"
            ) from None
        except httpx.HTTPError as exc:
            raise _AttemptFailed(
                "transport", f"connection failed: {_exc_text(exc)}", retryable=True
            ) from None

    async def _read_body(
        self, response: httpx.Response, deadline: float, profile: Profile
    ) -> bytes:
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
                raise _AttemptFailed(
                    kind, f"the body stalled for {wait:.2f}s ({_phase(kind, 'idle')})"
                ) from None
            except httpx.HTTPError as exc:
                raise _AttemptFailed(
                    "cut", f"the body was cut: {_exc_text(exc)}", retryable=True
                ) from None

    async def _next_chunk(
        self, lines: _SseReader, deadline: float, profile: Profile
    ) -> dict[str, Any] | None:
        """The next ``data:`` chunk of an SSE stream; ``None`` after ``[DONE]``.

        The idle timeout is armed once per network read, not once per line: one read
        usually carries many chunks, and a timeout costs more than parsing one.
        """
        pending = lines.pending
        while not pending:
            if lines.ended:
                raise _AttemptFailed("cut", "the stream ended without data: [DONE]")
            wait, kind = self._bounded(self.idle_timeout, deadline)
            try:
                async with asyncio.timeout(wait):
                    data = await anext(lines.reads)
            except StopAsyncIteration:
                lines.ended = True
                pending.extend(lines.lines.close())
                continue
            except TimeoutError:
                raise _AttemptFailed(
                    kind, f"the stream stalled for {wait:.2f}s ({_phase(kind, 'idle')})"
                ) from None
            except httpx.HTTPError as exc:
                raise _AttemptFailed("cut", f"the stream was cut: {_exc_text(exc)}") from None
            pending.extend(lines.lines.feed(data))
        data = pending.popleft()
        if data == b"[DONE]":
            return None
        try:
            chunk = decode_json(data)
        except ValueError:
            raise _AttemptFailed(
                "garbage", f"a stream line is not JSON: {_text(data[:SNIPPET_CHARS])!r}"
            ) from None
        if not isinstance(chunk, dict):
            raise _AttemptFailed(
                "garbage", f"a stream chunk is not an object: {_text(data[:80])!r}"
            )
        if "error" in chunk and "choices" not in chunk:
            raise _AttemptFailed(
                "status", f"the stream reported an error: {_text(data[:SNIPPET_CHARS])}"
            )
        return chunk

    async def _status_failure(
        self, response: httpx.Response, deadline: float, profile: Profile
    ) -> _AttemptFailed:
        status = response.status_code
        try:
            text = (await self._read_body(response, deadline, profile)).decode("utf-8", "replace")
        except _AttemptFailed:
            text = ""
        retryable = status in RETRYABLE_STATUS or status >= 500
        return _AttemptFailed(
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

    # -- events --------------------------------------------------------------------------------

    def _emit(
        self,
        state: _CallState,
        profile: Profile,
        outcome: str,
        *,
        attempt: int | None = None,
        status_code: int | None = None,
        error: str | None = None,
        started: float | None = None,
        usage: Usage | None = None,
        fallback_from: str | None = None,
    ) -> None:
        if state.on_event is None:
            return
        latency = (asyncio.get_running_loop().time() - started) * 1000 if started else 0.0
        state.on_event(
            ModelCalled(
                call_index=state.call_index,
                model=profile.upstream_model,
                profile=profile.name,
                attempt=attempt if attempt is not None else state.attempt,
                outcome=outcome,  # type: ignore[arg-type]
                status_code=status_code,
                error=error,
                latency_ms=round(latency, 3),
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                fallback_from=fallback_from,
            )
        )

    def _emit_fallback(self, state: _CallState, previous: Profile, profile: Profile) -> None:
        weaker = ", a weaker profile" if profile.strength < previous.strength else ""
        last = state.failures[-1][1] if state.failures else "it failed"
        self._emit(
            state,
            profile,
            "fallback",
            attempt=state.attempt + 1,
            error=f"falling back from {previous.name} to {profile.name}{weaker}: {last}",
            fallback_from=previous.name,
        )


# -- helpers -------------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _exc_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _describe(profile: Profile) -> str:
    return f"{profile.name} ({profile.upstream_model})"


def _phase(kind: str, phase: str) -> str:
    return "the total deadline" if kind == "deadline" else f"the {phase} timeout"
