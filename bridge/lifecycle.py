"""What the bridge does for its missions when it starts and when it is asked to stop.

Starting, it closes the runs a previous process left open (killed, crashed): see
:mod:`runtime.recovery`. Stopping (SIGTERM from ``codex-oss stop``), it interrupts the
missions in flight, so each ends FAILED ``interrupted`` and its client gets the final message
that says so, before the server closes its connections.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["interrupt_in_flight", "recover_interrupted"]

log = logging.getLogger("bridge.lifecycle")

# Under ``codex-oss stop``'s SIGKILL deadline (10 s by default), with room for the answers.
INTERRUPT_WAIT_SECONDS = 5.0


def recover_interrupted(project: Path) -> None:
    """Close the project's interrupted runs; each one is logged."""
    from runtime.recovery import recover_runs

    for run in recover_runs(project, closed_by="bridge"):
        log.warning("recovered an interrupted run: %s", run.describe())


async def interrupt_in_flight() -> None:
    """Interrupt the missions this process runs (none when no mission ever started here)."""
    runner = sys.modules.get("runtime.runner")
    if runner is None:  # the mission path was never imported: nothing is in flight
        return
    count = await runner.interrupt_missions(
        "the bridge was asked to stop (codex-oss stop / SIGTERM) while the mission ran",
        timeout=INTERRUPT_WAIT_SECONDS,
    )
    if count:
        log.warning("interrupted %d mission(s) in flight", count)
