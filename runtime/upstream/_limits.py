"""Concurrency caps for upstream calls: one global cap, one per model, a bounded queue wait.

A call takes its model's slot first and the global slot second, so a call queued behind a
saturated model never sits on a global slot another model could use. Waiting is bounded;
a wait that runs out raises :class:`QueueTimeout` naming the cap that was full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

__all__ = ["ConcurrencyLimits", "Lease", "QueueTimeout"]


class QueueTimeout(Exception):
    """No slot freed up within the queue wait."""

    def __init__(self, scope: str, cap: int, waited: float) -> None:
        super().__init__(f"waited {waited:.2f}s for a free {scope} slot (cap {cap})")


class Lease:
    """A held slot; :meth:`release` gives it back (idempotent)."""

    __slots__ = ("_limits", "_model_sem", "_name", "_released")

    def __init__(
        self, limits: ConcurrencyLimits, name: str, model_sem: asyncio.Semaphore | None
    ) -> None:
        self._limits = limits
        self._name = name
        self._model_sem = model_sem
        self._released = False

    def release(self) -> None:
        """Free the global and the model slot."""
        if self._released:
            return
        self._released = True
        self._limits.in_flight[self._name] -= 1
        self._limits._global.release()
        if self._model_sem is not None:
            self._model_sem.release()


class ConcurrencyLimits:
    """A global semaphore plus lazily created per-model semaphores.

    ``per_model`` maps a model key (upstream model id or profile name) to its cap; models
    without an entry share only the global cap. Create it inside the event loop that uses it.
    """

    def __init__(self, global_cap: int, per_model: Mapping[str, int] | None = None) -> None:
        if isinstance(global_cap, bool) or not isinstance(global_cap, int) or global_cap < 1:
            raise ValueError(
                f"MAX_GLOBAL_UPSTREAM_CONCURRENCY must be an integer >= 1, got {global_cap!r}"
            )
        for key, cap in (per_model or {}).items():
            if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
                raise ValueError(
                    f"MODEL_CONCURRENCY_JSON[{key!r}] must be an integer >= 1, got {cap!r}"
                )
        self.global_cap = global_cap
        self.per_model = dict(per_model or {})
        self._global = asyncio.Semaphore(global_cap)
        self._models: dict[str, asyncio.Semaphore] = {}
        self.in_flight: dict[str, int] = {}

    def cap_for(self, *keys: str) -> tuple[str, int] | None:
        """The first of ``keys`` that has a per-model cap, with the cap."""
        for key in keys:
            cap = self.per_model.get(key)
            if cap is not None:
                return key, cap
        return None

    async def acquire(self, *keys: str, timeout: float) -> Lease:
        """Wait (at most ``timeout`` seconds in all) for a model slot and a global slot.

        The model slot is that of the first of ``keys`` with a per-model cap; ``keys[0]``
        names the call in :attr:`in_flight`.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        model_sem: asyncio.Semaphore | None = None
        capped = self.cap_for(*keys)
        if capped is not None:
            key, cap = capped
            model_sem = self._models.get(key)
            if model_sem is None:
                model_sem = self._models[key] = asyncio.Semaphore(cap)
            await _acquire(model_sem, timeout, f"model {key!r}", cap, started)
        try:
            remaining = timeout - (loop.time() - started)
            await _acquire(self._global, remaining, "global", self.global_cap, started)
        except BaseException:
            if model_sem is not None:
                model_sem.release()
            raise
        name = keys[0] if keys else ""
        self.in_flight[name] = self.in_flight.get(name, 0) + 1
        return Lease(self, name, model_sem)


async def _acquire(
    sem: asyncio.Semaphore, timeout: float, scope: str, cap: int, started: float
) -> None:
    # Fast path without a timer: under the cap the slot is free and nobody is queued.
    if not sem.locked():
        await sem.acquire()
        return
    try:
        async with asyncio.timeout(max(0.0, timeout)):
            await sem.acquire()
    except TimeoutError:
        raise QueueTimeout(scope, cap, asyncio.get_running_loop().time() - started) from None
