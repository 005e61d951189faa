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

This module is the policy: the chain, retries, fallbacks, caps, breaker and deadline. One
attempt's wire work (request, timeouts, body and SSE reading) is ``_attempt``; a call's
bookkeeping and the events it reports are ``_call``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx

from runtime.registry import Profile
from runtime.settings import Settings
from runtime.upstream._attempt import AttemptFailed, AttemptMode, AttemptRunner, OpenStream
from runtime.upstream._breaker import CircuitBreaker
from runtime.upstream._call import CallLog, EventSink
from runtime.upstream._completions import ChatResult, request_payload, usage_of
from runtime.upstream._limits import ConcurrencyLimits, QueueTimeout

__all__ = ["UpstreamClient", "UpstreamError"]


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
        self._attempts = AttemptRunner(
            transport=transport, first_byte_timeout=first_byte_timeout, idle_timeout=idle_timeout
        )

    @property
    def first_byte_timeout(self) -> float:
        """Seconds an attempt waits for response headers."""
        return self._attempts.first_byte_timeout

    @property
    def idle_timeout(self) -> float:
        """Seconds an attempt waits between body chunks or stream reads."""
        return self._attempts.idle_timeout

    async def aclose(self) -> None:
        """Close the idle connections."""
        await self._attempts.aclose()

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
        opened: OpenStream = await self._run(chain, body, state, "open")
        chunks = 1
        usage = usage_of(opened.first)
        outcome: str | None = None
        next_chunk = self._attempts.next_chunk
        try:
            yield opened.first
            while True:
                chunk = await next_chunk(opened.lines, opened.deadline)
                if chunk is None:
                    break
                chunks += 1
                if chunk.get("usage"):
                    usage = usage_of(chunk)
                yield chunk
            outcome = "ok"
        except AttemptFailed as failure:
            outcome = "error"
            self.breaker.record_failure(opened.profile.name)
            message = f"{_describe(opened.profile)} stream cut after {chunks} chunk(s): {failure}"
            state.emit(
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
                await self._attempts.finish(opened)
            finally:
                if opened.lease is not None:
                    opened.lease.release()
            if outcome == "ok":
                self.breaker.record_success(opened.profile.name)
                state.emit(
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
                state.emit(
                    opened.profile,
                    "ok",
                    attempt=opened.attempt,
                    error=f"stream closed by the caller after {chunks} chunk(s)",
                    started=opened.started,
                    usage=usage,
                    fallback_from=opened.fallback_from,
                )

    # -- the call loop ----------------------------------------------------------------------

    def _new_state(self, call_index: int, on_event: EventSink | None) -> CallLog:
        deadline = asyncio.get_running_loop().time() + self.settings.REQUEST_DEADLINE_SECONDS
        return CallLog(call_index=call_index, on_event=on_event, deadline=deadline)

    async def _run(
        self,
        chain: list[Profile],
        body: dict[str, Any],
        state: CallLog,
        mode: AttemptMode,
    ) -> Any:
        if not chain:
            raise UpstreamError("empty_chain", "no upstream profile to call (empty chain)")
        loop = asyncio.get_running_loop()
        previous: Profile | None = None
        for profile in chain:
            fallback_from = previous.name if previous is not None else None
            if previous is not None:
                state.emit_fallback(previous, profile)
            previous = profile
            if not self.breaker.allow(profile.name):
                message = (
                    f"{_describe(profile)} skipped: its circuit is open after repeated failures "
                    f"(retry in {self.breaker.retry_in(profile.name):.0f}s)"
                )
                state.give_up(
                    profile,
                    "circuit_open",
                    "circuit_open",
                    message,
                    attempt=state.attempt + 1,
                    fallback_from=fallback_from,
                )
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
                    state.give_up(
                        profile,
                        "error",
                        "queue_timeout",
                        message,
                        attempt=state.attempt + 1,
                        fallback_from=fallback_from,
                    )
                    break
                state.attempt += 1
                started = loop.time()
                try:
                    result = await self._attempts.run(profile, payload, mode, state.deadline)
                except AttemptFailed as failure:
                    lease.release()
                    state.last_status = failure.status_code
                    message = f"{_describe(profile)}: {failure}"
                    if failure.kind == "deadline":
                        self.breaker.release(profile.name)
                        state.give_up(
                            profile,
                            "error",
                            None,
                            message,
                            status_code=failure.status_code,
                            started=started,
                            fallback_from=fallback_from,
                        )
                        raise self._deadline_error(state, profile) from None
                    self.breaker.record_failure(profile.name)
                    wait = self._retry_wait(failure, try_no)
                    if (
                        failure.retryable
                        and try_no < self.max_attempts_per_profile
                        and self.breaker.state(profile.name) == "closed"
                        and loop.time() + wait < state.deadline
                    ):
                        state.emit(
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
                    state.give_up(
                        profile,
                        "error",
                        failure.kind,
                        message,
                        status_code=failure.status_code,
                        started=started,
                        fallback_from=fallback_from,
                    )
                    break
                except BaseException:
                    lease.release()
                    self.breaker.release(profile.name)
                    raise
                if mode == "open":
                    opened: OpenStream = result
                    opened.lease = lease
                    opened.attempt = state.attempt
                    opened.fallback_from = fallback_from
                    opened.started = started
                    return opened
                lease.release()
                self.breaker.record_success(profile.name)
                chat: ChatResult = result
                state.emit(
                    profile,
                    "ok",
                    usage=chat.usage,
                    started=started,
                    fallback_from=fallback_from,
                )
                return chat
        raise self._exhausted_error(state, chain)

    def _retry_wait(self, failure: AttemptFailed, try_no: int) -> float:
        if failure.retry_after is not None:
            return min(max(0.0, failure.retry_after), self.max_retry_after)
        return min(self.backoff_base * (2 ** (try_no - 1)), self.max_retry_after)

    def _deadline_error(self, state: CallLog, profile: Profile) -> UpstreamError:
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

    def _exhausted_error(self, state: CallLog, chain: list[Profile]) -> UpstreamError:
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


# -- helpers -------------------------------------------------------------------------------------


def _describe(profile: Profile) -> str:
    return f"{profile.name} ({profile.upstream_model})"
