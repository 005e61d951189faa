"""The record of one upstream call: its attempts, its failures, the events it reports and the
error it ends with.

The upstream client (``_client``) keeps one :class:`CallLog` per call while it walks the
profile chain. Each attempt, retry, fallback and skipped profile is reported to the caller's
sink as a ``ModelCalled`` payload; the failures gathered here make up the message of the final
:class:`UpstreamError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from runtime.events import ModelCalled
from runtime.registry import Profile
from runtime.upstream._completions import Usage

__all__ = ["Attempt", "CallLog", "EventSink", "UpstreamError", "describe"]

EventSink = Callable[[ModelCalled], None]


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


@dataclass(slots=True)
class Attempt:
    """One HTTP request of a call, or the marker of one that was not sent (``started`` None)."""

    profile: Profile
    number: int  # counts the call's HTTP requests; a marker carries the next count
    fallback_from: str | None
    started: float | None = None


@dataclass
class CallLog:
    """Bookkeeping of one call across its attempts; ``budget`` is its total deadline in seconds."""

    call_index: int
    on_event: EventSink | None
    deadline: float
    budget: float
    attempts: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (profile, message)
    kinds: list[str] = field(default_factory=list)  # why each given-up profile failed
    last_status: int | None = None

    def profiles(self, chain: list[Profile]) -> Iterator[tuple[Profile, str | None]]:
        """``chain``'s profiles in order, each with the one it falls back from, announced."""
        if not chain:
            raise UpstreamError("empty_chain", "no upstream profile to call (empty chain)")
        previous: Profile | None = None
        for profile in chain:
            if previous is not None:
                self._announce_fallback(previous, profile)
            yield profile, previous.name if previous is not None else None
            previous = profile

    def next_attempt(self, profile: Profile, fallback_from: str | None) -> Attempt:
        """The attempt the call would make next on ``profile`` (not sent yet)."""
        return Attempt(profile, self.attempts + 1, fallback_from)

    def start(self, attempt: Attempt) -> None:
        """``attempt`` is being sent now."""
        self.attempts = attempt.number
        attempt.started = asyncio.get_running_loop().time()

    def emit(
        self,
        attempt: Attempt,
        outcome: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        usage: Usage | None = None,
    ) -> None:
        """Report one event of this call about ``attempt``."""
        if self.on_event is None:
            return
        started = attempt.started
        latency = (asyncio.get_running_loop().time() - started) * 1000 if started else 0.0
        profile = attempt.profile
        self.on_event(
            ModelCalled(
                call_index=self.call_index,
                model=profile.upstream_model,
                profile=profile.name,
                attempt=attempt.number,
                outcome=outcome,  # type: ignore[arg-type]
                status_code=status_code,
                error=error,
                latency_ms=round(latency, 3),
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                fallback_from=attempt.fallback_from,
            )
        )

    def give_up(
        self,
        attempt: Attempt,
        outcome: str,
        kind: str | None,
        message: str,
        status_code: int | None = None,
    ) -> None:
        """Report that ``attempt``'s profile failed for good in this call, and remember why."""
        self.emit(attempt, outcome, error=message, status_code=status_code)
        self.failures.append((attempt.profile.name, message))
        if kind is not None:
            self.kinds.append(kind)

    def deadline_error(self, profile: Profile) -> UpstreamError:
        """The error of a call that ran out of its total deadline while on ``profile``."""
        last = f"; last error: {self.failures[-1][1]}" if self.failures else ""
        return UpstreamError(
            "deadline_exceeded",
            f"the upstream call ran out of its {self.budget:g}s deadline while on "
            f"{describe(profile)}{last}",
            status_code=self.last_status,
            profile=profile.name,
            failures=self.failures,
        )

    def exhausted_error(self, chain: list[Profile]) -> UpstreamError:
        """The error of a call whose every profile failed or was skipped."""
        kinds = set(self.kinds)
        if kinds == {"circuit_open"}:
            reason = "circuit_open"
        elif kinds == {"queue_timeout"}:
            reason = "queue_timeout"
        else:
            reason = "all_profiles_failed"
        names = ", ".join(p.name for p in chain)
        detail = "; ".join(message for _, message in self.failures)
        return UpstreamError(
            reason,
            f"every upstream profile failed ({names}): {detail}",
            status_code=self.last_status,
            profile=chain[-1].name,
            failures=self.failures,
        )

    def _announce_fallback(self, previous: Profile, profile: Profile) -> None:
        weaker = ", a weaker profile" if profile.strength < previous.strength else ""
        last = self.failures[-1][1] if self.failures else "it failed"
        self.emit(
            self.next_attempt(profile, previous.name),
            "fallback",
            error=f"falling back from {previous.name} to {profile.name}{weaker}: {last}",
        )


def describe(profile: Profile) -> str:
    """A profile as error messages name it."""
    return f"{profile.name} ({profile.upstream_model})"
