"""Run one mission end to end: handoff -> contract -> loop -> projections -> answer.

This is the runtime's one entry point for the bridge and the CLI; the loop stays pure of
files and sockets, and this module wires the log, the tools and the model client around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.answer import render_answer
from runtime.closure import Reason, Status
from runtime.commentary import CommentaryDelivery
from runtime.eventlog import MissionEventLog, new_run_id, run_log_path
from runtime.events import MissionInterrupted, ModelCalled
from runtime.loop import Completion, Journal, LoopResult, MissionLoop
from runtime.mission import PATCH_TIERS, CompiledMission, MissionV1
from runtime.patches.pipeline import PatchPipeline
from runtime.projections import mission_dir, project_log
from runtime.recovery import own_run
from runtime.redact import Redactor
from runtime.registry import Profile, Resolution
from runtime.scorecard import record_mission
from runtime.settings import Settings
from runtime.tools import TOOL_CLASSES, TOOL_SPECS, ProjectToolBox
from runtime.upstream import UpstreamClient, Usage

logger = logging.getLogger("runtime.runner")


@dataclass(frozen=True)
class MissionOutcome:
    """What the bridge needs to answer: the final message and where the evidence lives."""

    status: str
    closure_reason: str
    final_text: str
    report: dict[str, Any]
    usage: Usage
    run_id: str
    mission_id: str
    artifacts: Path


async def run_mission(
    *,
    project_root: Path,
    resolution: Resolution,
    compiled: CompiledMission,
    settings: Settings,
    client: UpstreamClient,
    on_commentary: Callable[[str], Awaitable[None]] | None = None,
) -> MissionOutcome:
    """Run ``compiled`` (admitted by :func:`runtime.admission.admit`, once, by the caller)
    under ``resolution``'s route.

    Re-raises CancelledError after the log records the cancellation.
    """
    mission = compiled.mission
    project_root = project_root.resolve()
    redactor = Redactor(settings.secret_values())
    with open_run(project_root, mission.mission_id) as log:
        journal = Journal(
            log, redactor, settings.OSS_VISIBLE_TRACE, settings.OSS_VISIBLE_TRACE_MAX_EVENTS
        )
        delivery = CommentaryDelivery(
            on_commentary if settings.OSS_VISIBLE_TRACE_STREAM else None,
            settings.OSS_VISIBLE_TRACE,
        )
        loop = MissionLoop(
            mission=mission,
            clamps=compiled.clamps,
            route=resolution.route(),
            client=RoutedModel(client, resolution.chain),
            toolbox=ProjectToolBox(project_root, mission, redactor),
            journal=journal,
            tool_specs=allowed_specs(mission),
            patch_step=_patch_step(project_root, mission, redactor),
            on_commentary=delivery.callback,
        )
        try:
            try:
                result = await _run_loop(loop)
            except Exception as error:  # a fault after admission is still an answer: FAILED
                result = await _close_on_fault(loop, error)
        finally:  # a cancelled mission's artifacts are written too
            record_mission(
                project_root, project_log(project_root, log, (journal.events, journal.record))
            )
    recorded = journal.lines_emitted
    delivery.write(
        mission_dir(project_root, mission.mission_id), mission.mission_id, log.run_id, recorded
    )
    return MissionOutcome(
        status=result.status,
        closure_reason=result.closure_reason,
        final_text=render_answer(result.report, delivery=delivery.status_line(recorded)),
        report=result.report,
        usage=Usage(input_tokens=result.input_tokens, output_tokens=result.output_tokens),
        run_id=log.run_id,
        mission_id=mission.mission_id,
        artifacts=mission_dir(project_root, mission.mission_id),
    )


async def _close_on_fault(loop: MissionLoop, error: Exception) -> LoopResult:
    """Close a mission the loop could not close itself (a bug, a broken sink) as FAILED.

    The loop's own closure is reused so the log ends like any other FAILED mission's, with a
    report; a fault while closing propagates, and the bridge answers with a report of its own.
    """
    logger.error("mission %s: runtime fault", loop.mission.mission_id, exc_info=error)
    why = loop.journal.redactor.redact(f"runtime fault: {type(error).__name__}: {error}").text
    closed = loop._runtime_closure(Status.FAILED, Reason.RUNTIME_CRASHED, why)
    loop._close(closed)
    try:  # the commentary sink may be what broke; the closing lines are in the log either way
        await loop._flush()
    except Exception:
        logger.warning("mission %s: closing commentary not delivered", loop.mission.mission_id)
    return loop.result()


@contextmanager
def open_run(project_root: Path, mission_id: str) -> Iterator[MissionEventLog]:
    """A new run's event log, closed when the mission ends, whichever way it ends.

    The runner owns the handle: nothing else keeps a reference that could outlive the
    mission (before, 200 failed missions left 200 ``events.jsonl`` handles to the collector).
    """
    run_id = new_run_id()
    path = run_log_path(project_root, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owned before the log exists, so recovery in another process never sees it unowned.
    with own_run(path), MissionEventLog.create(project_root, run_id, mission_id) as log:
        yield log


# The missions this process is running: what interrupt_missions reaches.
_IN_FLIGHT: dict[asyncio.Task[LoopResult], MissionLoop] = {}


async def interrupt_missions(detail: str, timeout: float = 5.0) -> int:
    """End every mission this process runs as FAILED ``interrupted`` (the bridge is stopping).

    Each log gets MissionInterrupted, then the loop closes it; each caller of
    :func:`run_mission` gets its outcome (status FAILED, reason interrupted) to answer with.
    Waits up to ``timeout`` seconds for the loops to close; returns how many were interrupted.
    """
    pending = []
    for task, loop in list(_IN_FLIGHT.items()):
        if task.done() or loop.record.finalized_at is not None:
            continue  # closing already: it ends the way it was ending
        loop.journal.add(MissionInterrupted(cause="bridge_stopped", detail=detail), "bridge")
        loop.interrupted = True
        task.cancel()
        pending.append(task)
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    return len(pending)


async def _run_loop(loop: MissionLoop) -> LoopResult:
    """``loop.run()`` in a task :func:`interrupt_missions` can reach.

    A client that goes away still cancels the loop (cancelling this await cancels the task);
    an interrupted loop's result is rebuilt from the log it closed.
    """
    task = asyncio.ensure_future(loop.run())
    _IN_FLIGHT[task] = loop
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not loop.interrupted or (current is not None and current.cancelling()):
            raise
        return loop.result()
    finally:
        _IN_FLIGHT.pop(task, None)


@dataclass(frozen=True)
class RoutedModel:
    """The upstream client bound to one mission's route: its fallback chain of profiles."""

    upstream: UpstreamClient
    chain: list[Profile]

    @property
    def grammar(self) -> bool:
        return bool(self.chain) and all(profile.supports_json_schema for profile in self.chain)

    async def complete(
        self,
        body: dict[str, Any],
        *,
        call_index: int,
        on_event: Callable[[ModelCalled], None] | None = None,
    ) -> Completion:
        return await self.upstream.complete(
            self.chain, body, call_index=call_index, on_event=on_event
        )


def allowed_specs(mission: MissionV1) -> dict[str, dict[str, Any]]:
    """The specs of the tools ``mission``'s tool classes allow: what the model is offered."""
    allowed = set(mission.allowed_tool_classes)
    return {name: spec for name, spec in TOOL_SPECS.items() if TOOL_CLASSES[name] in allowed}


def _patch_step(project_root: Path, mission: MissionV1, redactor: Redactor) -> PatchPipeline | None:
    """The patch pipeline for A4+ missions (None below A4)."""
    if mission.tier not in PATCH_TIERS:
        return None
    return PatchPipeline(project_root, mission, redactor)
