"""The record of one upstream call: its attempt count, its failures, and the events it reports.

The upstream client (``_client``) keeps one :class:`CallLog` per call while it walks
the profile chain. Each attempt, retry, fallback and skipped profile is reported to the
caller's sink as a ``ModelCalled`` payload; the failures gathered here make up the message of
the final ``UpstreamError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.events import ModelCalled
from runtime.registry import Profile
from runtime.upstream._completions import Usage

__all__ = ["CallLog", "EventSink"]

EventSink = Callable[[ModelCalled], None]


@dataclass
class CallLog:
    """Bookkeeping of one call across its attempts (``attempt`` counts HTTP requests)."""

    call_index: int
    on_event: EventSink | None
    deadline: float
    attempt: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (profile, message)
    kinds: list[str] = field(default_factory=list)  # why each given-up profile failed
    last_status: int | None = None

    def emit(
        self,
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
        """Report one event of this call; ``attempt`` defaults to the current count."""
        if self.on_event is None:
            return
        latency = (asyncio.get_running_loop().time() - started) * 1000 if started else 0.0
        self.on_event(
            ModelCalled(
                call_index=self.call_index,
                model=profile.upstream_model,
                profile=profile.name,
                attempt=attempt if attempt is not None else self.attempt,
                outcome=outcome,  # type: ignore[arg-type]
                status_code=status_code,
                error=error,
                latency_ms=round(latency, 3),
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                fallback_from=fallback_from,
            )
        )

    def give_up(
        self, profile: Profile, outcome: str, kind: str | None, message: str, **details: Any
    ) -> None:
        """Report that ``profile`` failed for good in this call, and remember why."""
        self.emit(profile, outcome, error=message, **details)
        self.failures.append((profile.name, message))
        if kind is not None:
            self.kinds.append(kind)

    def emit_fallback(self, previous: Profile, profile: Profile) -> None:
        """The marker on ``profile`` saying the call moved on from ``previous``, and why."""
        weaker = ", a weaker profile" if profile.strength < previous.strength else ""
        last = self.failures[-1][1] if self.failures else "it failed"
        self.emit(
            profile,
            "fallback",
            attempt=self.attempt + 1,
            error=f"falling back from {previous.name} to {profile.name}{weaker}: {last}",
            fallback_from=previous.name,
        )
