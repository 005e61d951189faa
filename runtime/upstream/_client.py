"""The upstream client's policy: the profile chain, retries, fallbacks, caps, breaker and
deadline. Every attempt is reported as a ``ModelCalled`` payload.

A call walks its profile chain in order. On each profile it retries 408/409/429/5xx and
connection failures (honouring ``Retry-After``, capped); any other failure, a timeout, a
garbage body, a cut stream or an open circuit moves it on to the next profile. It ends with
a result or an :class:`UpstreamError` whose ``reason`` says why. One total deadline
(``REQUEST_DEADLINE_SECONDS``) bounds the whole call, queue waits and retries included.

Events per call, in order (``attempt`` counts HTTP requests; markers carry the next count):
``retry`` (failed, will try the same profile again), ``error`` (failed, giving up on the
profile), ``fallback`` (a marker on the next profile, ``fallback_from`` set, ``error`` says why
and whether it is weaker), ``circuit_open`` (profile skipped), ``ok`` (served, with tokens).

One attempt's wire work (request, timeouts, body and SSE reading) is ``_attempt``; a call's
bookkeeping, its events and its final error are ``_call``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx

from runtime.registry import Profile
from runtime.settings import Settings
from runtime.upstream._attempt import AttemptFailed, AttemptRunner
from runtime.upstream._breaker import CircuitBreaker
from runtime.upstream._call import Attempt, CallLog, EventSink, UpstreamError, describe
from runtime.upstream._completions import ChatResult, Usage, request_payload, usage_of
from runtime.upstream._limits import ConcurrencyLimits, QueueTimeout

__all__ = ["UpstreamClient", "UpstreamError"]

Answer = TypeVar("Answer")


class UpstreamClient:
    """Chat-completions client shared by every call of a bridge process (one connection pool).

    ``first_byte_timeout`` bounds the wait for response headers, ``idle_timeout`` the gap
    between body chunks or stream lines, ``queue_timeout`` the wait for a concurrency slot
    (each defaults to its ``UPSTREAM_*_SECONDS`` setting); ``REQUEST_DEADLINE_SECONDS``
    bounds the whole call. ``clock`` drives the circuit breaker.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        first_byte_timeout: float | None = None,
        idle_timeout: float | None = None,
        queue_timeout: float | None = None,
        max_attempts_per_profile: int = 3,
        max_retry_after: float = 20.0,
        backoff_base: float = 0.25,
        breaker_threshold: int = 5,
        breaker_cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if first_byte_timeout is None:
            first_byte_timeout = settings.UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS
        if idle_timeout is None:
            idle_timeout = settings.UPSTREAM_IDLE_TIMEOUT_SECONDS
        if queue_timeout is None:
            queue_timeout = settings.UPSTREAM_QUEUE_TIMEOUT_SECONDS
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
        self._wire = AttemptRunner(
            transport=transport, first_byte_timeout=first_byte_timeout, idle_timeout=idle_timeout
        )

    @property
    def first_byte_timeout(self) -> float:
        """Seconds an attempt waits for response headers."""
        return self._wire.first_byte_timeout

    @property
    def idle_timeout(self) -> float:
        """Seconds an attempt waits between body chunks or stream reads."""
        return self._wire.idle_timeout

    async def aclose(self) -> None:
        """Close the idle connections."""
        await self._wire.aclose()

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
        call = self._new_call(call_index, on_event)
        streamed = self.settings.UPSTREAM_STREAM
        send = self._wire.collect if streamed else self._wire.answer
        async with self._first_answer(chain, body, call, send, stream=streamed) as first:
            attempt, result = first
        call.emit(attempt, "ok", usage=result.usage)
        return result

    async def open_stream(
        self,
        chain: list[Profile],
        body: dict[str, Any],
        *,
        call_index: int = 0,
        on_event: EventSink | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Parsed ``chat.completion.chunk`` dicts along ``chain``.

        Falls back to the next profile only before the first chunk; a stream cut after that
        raises :class:`UpstreamError` with reason ``stream_cut``. The slot and the circuit
        are held until the stream ends or the caller stops reading.
        """
        call = self._new_call(call_index, on_event)
        attempt: Attempt | None = None
        chunks, usage = 0, Usage()
        try:
            opening = self._first_answer(chain, body, call, self._wire.open, stream=True)
            async with opening as first:
                attempt, opened = first
                try:
                    chunk: dict[str, Any] | None = opened.first
                    while chunk is not None:
                        chunks += 1
                        if chunk.get("usage"):
                            usage = usage_of(chunk)
                        yield chunk
                        chunk = await self._wire.next_chunk(opened.lines, call.deadline)
                finally:
                    await self._wire.finish(opened)
        except AttemptFailed as failure:  # after the first chunk: earlier ones fell back
            message = f"{describe(attempt.profile)} stream cut after {chunks} chunk(s): {failure}"
            call.emit(attempt, "error", error=message)
            reason = "deadline_exceeded" if failure.kind == "deadline" else "stream_cut"
            raise UpstreamError(reason, message, profile=attempt.profile.name) from None
        except BaseException:
            if attempt is not None:  # the caller stopped reading: not the model's fault
                closed = f"stream closed by the caller after {chunks} chunk(s)"
                call.emit(attempt, "ok", error=closed, usage=usage)
            raise
        call.emit(attempt, "ok", usage=usage)

    # -- the call ---------------------------------------------------------------------------

    def _new_call(self, call_index: int, on_event: EventSink | None) -> CallLog:
        budget = self.settings.REQUEST_DEADLINE_SECONDS
        deadline = asyncio.get_running_loop().time() + budget
        return CallLog(call_index, on_event, deadline, budget)

    @asynccontextmanager
    async def _first_answer(
        self,
        chain: list[Profile],
        body: dict[str, Any],
        call: CallLog,
        send: Callable[[Profile, bytes, float], Awaitable[Answer]],
        *,
        stream: bool,
    ) -> AsyncIterator[tuple[Attempt, Answer]]:
        """Walk ``chain`` to the first attempt that answers, and hold that attempt's slot and
        circuit while the caller's block uses the answer. Failures before the answer are
        retried or fall back; a failure inside the block is the caller's to handle."""
        for profile, fallback_from in call.profiles(chain):
            payload = request_payload(profile, body, stream=stream)
            for try_no in range(1, self.max_attempts_per_profile + 1):
                attempt = call.next_attempt(profile, fallback_from)
                answered = False
                try:
                    async with _Hold(self, profile, call):
                        call.start(attempt)
                        answer = await send(profile, payload, call.deadline)
                        answered = True
                        yield attempt, answer
                    return
                except CircuitOpen as exc:
                    message = f"{describe(profile)} skipped: {exc}"
                    call.give_up(attempt, "circuit_open", "circuit_open", message)
                    break
                except QueueTimeout as exc:
                    if asyncio.get_running_loop().time() >= call.deadline:
                        raise call.deadline_error(profile) from None
                    message = f"{describe(profile)} not called: {exc}"
                    call.give_up(attempt, "error", "queue_timeout", message)
                    break
                except AttemptFailed as failure:
                    if answered:
                        raise
                    if not await self._may_retry(attempt, failure, try_no, call):
                        break
        raise call.exhausted_error(chain)

    async def _may_retry(
        self, attempt: Attempt, failure: AttemptFailed, try_no: int, call: CallLog
    ) -> bool:
        """Whether to send ``attempt``'s request again (after waiting); if not, its profile is
        given up. A failure the deadline cut short ends the call."""
        profile = attempt.profile
        call.last_status = failure.status_code
        message = f"{describe(profile)}: {failure}"
        if failure.kind == "deadline":
            call.give_up(attempt, "error", None, message, failure.status_code)
            raise call.deadline_error(profile) from None
        wait = self._retry_wait(failure, try_no)
        if (
            failure.retryable
            and try_no < self.max_attempts_per_profile
            and self.breaker.state(profile.name) == "closed"
            and asyncio.get_running_loop().time() + wait < call.deadline
        ):
            error = f"{message}; retrying in {wait:.2f}s"
            call.emit(attempt, "retry", status_code=failure.status_code, error=error)
            if wait > 0:
                await asyncio.sleep(wait)
            return True
        call.give_up(attempt, "error", failure.kind, message, failure.status_code)
        return False

    def _retry_wait(self, failure: AttemptFailed, try_no: int) -> float:
        if failure.retry_after is not None:
            return min(max(0.0, failure.retry_after), self.max_retry_after)
        return min(self.backoff_base * (2 ** (try_no - 1)), self.max_retry_after)


class CircuitOpen(Exception):
    """The profile's circuit is open, so the attempt is not sent."""


class _Hold:
    """A concurrency slot and a profile's circuit, held for one attempt (``async with``).

    Entering takes both or raises :class:`CircuitOpen`, :class:`QueueTimeout`, or the
    deadline error when the call has no time left. Leaving, however it happens, gives the
    slot back and the breaker its verdict: a success, a failure (an :class:`AttemptFailed`
    other than the deadline's), or none when the deadline, a cancellation or the caller cut
    the attempt short. A class rather than a generator: it is entered on every attempt.
    """

    __slots__ = ("_call", "_client", "_lease", "_profile")

    def __init__(self, client: UpstreamClient, profile: Profile, call: CallLog) -> None:
        self._client = client
        self._profile = profile
        self._call = call

    async def __aenter__(self) -> None:
        breaker, name = self._client.breaker, self._profile.name
        if not breaker.allow(name):
            retry_in = breaker.retry_in(name)
            raise CircuitOpen(
                f"its circuit is open after repeated failures (retry in {retry_in:.0f}s)"
            )
        try:
            remaining = self._call.deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise self._call.deadline_error(self._profile)
            timeout = min(self._client.queue_timeout, remaining)
            self._lease = await self._client.limits.acquire(
                self._profile.upstream_model, name, timeout=timeout
            )
        except BaseException:
            breaker.release(name)
            raise

    async def __aexit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        breaker, name = self._client.breaker, self._profile.name
        self._lease.release()
        if exc is None:
            breaker.record_success(name)
        elif isinstance(exc, AttemptFailed) and exc.kind != "deadline":
            breaker.record_failure(name)
        else:
            breaker.release(name)
