"""An event loop on a daemon thread, so blocking code (tests driving subprocesses, the demo,
the smoke) can serve aiohttp apps beside it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
WAIT_SECONDS = 30.0

Run = Callable[[Coroutine[Any, Any, T]], T]


@contextmanager
def loop_thread(name: str) -> Iterator[Run[Any]]:
    """A loop running on a thread while the block runs; yields ``run(coroutine)``, which runs
    the coroutine on that loop and returns its result (or raises its exception)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(WAIT_SECONDS)

    try:
        yield run
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT_SECONDS)
        loop.close()
