"""A per-profile circuit breaker: skip a model that keeps failing, then try it again later.

Pure state and an injectable clock, so opening, cooling down and half-opening are tested
without sleeping. ``closed`` lets every call through; ``threshold`` consecutive failures open
the circuit for ``cooldown_seconds``; after that one trial call is let through (half-open):
its success closes the circuit, its failure opens it again for another cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False


class CircuitBreaker:
    """Consecutive-failure breaker keyed by profile (or any string)."""

    def __init__(
        self,
        *,
        threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError(f"breaker threshold must be >= 1, got {threshold}")
        if cooldown_seconds < 0:
            raise ValueError(f"breaker cooldown_seconds must be >= 0, got {cooldown_seconds}")
        self.threshold = threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, key: str) -> BreakerState:
        """The circuit's state now (an open circuit past its cooldown reads ``half_open``)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return "closed"
        if self._clock() - circuit.opened_at >= self.cooldown_seconds:
            return "half_open"
        return "open"

    def allow(self, key: str) -> bool:
        """Whether a call to ``key`` may go ahead; in half-open, only one trial at a time."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return True
        if self._clock() - circuit.opened_at < self.cooldown_seconds:
            return False
        if circuit.trial_in_flight:
            return False
        circuit.trial_in_flight = True
        return True

    def record_success(self, key: str) -> None:
        """A call succeeded: the circuit closes and its failure count resets."""
        # Most calls succeed on a closed circuit; skip the dict write then.
        if key in self._circuits:
            del self._circuits[key]

    def record_failure(self, key: str) -> None:
        """A call failed: count it; open (or re-open) the circuit at the threshold."""
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        if circuit.trial_in_flight or circuit.failures >= self.threshold:
            circuit.opened_at = self._clock()
            circuit.trial_in_flight = False

    def release(self, key: str) -> None:
        """A half-open trial ended with neither verdict (e.g. cancelled): allow another."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.trial_in_flight = False

    def retry_in(self, key: str) -> float:
        """Seconds until an open circuit half-opens (0 when it is not open)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return 0.0
        return max(0.0, circuit.opened_at + self.cooldown_seconds - self._clock())
