"""Mission aliases (``mission-a<N>-<profile>``): run the runtime and stream what it says.

The handoff is checked before the stream starts, so a bad one is a 400 whose body Codex shows
verbatim; so is a mission id that another handoff already used (a 400, not a 409, which Codex
retries). Once running, each commentary line becomes an assistant message with ``phase:
"commentary"`` as it happens, ``response.in_progress`` heartbeats keep Codex's idle timer alive
between lines, and the final report is the last message (``phase: "final_answer"``), because
Codex hands a parent only a child's last message.

Every admitted mission is an answer, whatever its status: the final message, then
``response.completed`` (JSON: ``status: "completed"``). A FAILED mission ended as
``response.failed`` loses its report (Codex hands the parent only "stream disconnected"), and
Codex retries such a turn, running the mission again. A fault the runtime cannot close itself
is answered the same way, with a report the bridge writes. A client that goes away cancels the
mission; the runtime records the cancellation in its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bridge.raw import SseWriter, json_answer, sse_response
from bridge.responses import (
    EventStream,
    RequestError,
    ResponsesRequest,
    usage_object,
)
from bridge.translate import message_item
from runtime.admission import TierMismatch, admit
from runtime.handoff import HandoffError
from runtime.mission import CompiledMission, MissionContractError
from runtime.registry import AdmissionError, Resolution
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.runner import MissionOutcome

__all__ = ["check_handoff", "handle_mission"]

log = logging.getLogger("bridge.missions")

# How long a request waits for an earlier request of the same mission id to finish: covers
# Codex retrying the moment its stream broke, while the bridge is still closing the first run.
SAME_ID_GRACE_SECONDS = 2.0

# Missions being answered by this bridge process: (project, mission id) -> set when done.
_running: dict[tuple[Path, str], asyncio.Event] = {}


def check_handoff(
    parsed: ResponsesRequest, resolution: Resolution, project_root: Path
) -> CompiledMission:
    """The admitted mission, or a 400 :class:`RequestError` naming what to fix."""
    try:
        return admit(parsed.input, resolution, project_root)
    except AdmissionError as exc:  # the profile lost the tier in this project
        raise RequestError(exc.message, code=exc.code, param="model") from None
    except HandoffError as exc:
        raise RequestError(f"handoff rejected: {exc}", code=exc.code, param="input") from None
    except TierMismatch as exc:
        raise RequestError(str(exc), code="tier_mismatch", param="model") from None
    except MissionContractError as exc:
        raise RequestError(f"mission contract rejected: {exc}", code="invalid_mission") from None


async def handle_mission(
    request: web.Request,
    parsed: ResponsesRequest,
    resolution: Resolution,
    *,
    project_root: Path,
    settings: Settings,
    client: Any,
    heartbeat_seconds: float,
    scrub: Callable[[str], str] = str,
) -> web.StreamResponse:
    """Run the mission of ``parsed`` and answer it as SSE (or one JSON response)."""
    compiled = check_handoff(parsed, resolution, project_root)
    mission_id = compiled.mission.mission_id
    async with _claim(project_root, mission_id):
        # Reading a prior run folds its whole log: off the event loop, which serves the rest.
        replay = await asyncio.to_thread(_earlier_answer, project_root, compiled, resolution.alias)

        async def run(on_commentary: Callable[[str], Awaitable[None]]) -> MissionOutcome:
            if replay is not None:
                return replay
            # Imported here: the runner pulls in the whole runtime, which raw aliases never need.
            from runtime.runner import run_mission

            try:
                return await run_mission(
                    project_root=project_root,
                    resolution=resolution,
                    compiled=compiled,
                    settings=settings,
                    client=client,
                    on_commentary=on_commentary,
                )
            except Exception as exc:  # the runtime could not even close the mission
                log.exception("mission %s: the runtime failed to close it", mission_id)
                return _bridge_failure(
                    project_root, compiled, scrub(f"{type(exc).__name__}: {exc}")
                )

        try:
            if parsed.stream:
                return await _stream(request, parsed, run, heartbeat_seconds)
            return await _json(parsed, run)
        except asyncio.CancelledError:
            # aiohttp cancels the handler when the client goes; the cancellation went through
            # the runner, which recorded it in the mission's log before re-raising.
            log.warning("mission alias %s: client disconnected; mission cancelled", parsed.model)
            raise


MissionRun = Callable[[Callable[[str], Awaitable[None]]], Awaitable["MissionOutcome"]]


async def _stream(
    request: web.Request, parsed: ResponsesRequest, run: MissionRun, heartbeat_seconds: float
) -> web.StreamResponse:
    response = await sse_response(request)
    events = EventStream(parsed.model, parsed.body)
    async with SseWriter(response, events, heartbeat_seconds) as writer:
        writer.send(events.created())

        async def on_commentary(text: str) -> None:
            writer.send(events.message(message_item(text, phase="commentary")))

        outcome = await run(on_commentary)
        _log_closure(outcome)
        writer.send(events.message(message_item(outcome.final_text, phase="final_answer")))
        await writer.end(events.completed(_usage(outcome)))
    return response


async def _json(parsed: ResponsesRequest, run: MissionRun) -> web.Response:
    commentary: list[dict[str, Any]] = []

    async def on_commentary(text: str) -> None:
        commentary.append(message_item(text, phase="commentary"))

    outcome = await run(on_commentary)
    _log_closure(outcome)
    output = [*commentary, message_item(outcome.final_text, phase="final_answer")]
    events = EventStream(parsed.model, parsed.body)
    return json_answer(events.response("completed", output=output, usage=_usage(outcome)))


def _usage(outcome: MissionOutcome) -> dict[str, Any]:
    return usage_object(outcome.usage.input_tokens, outcome.usage.output_tokens)


def _log_closure(outcome: MissionOutcome) -> None:
    log.info(
        "mission %s (run %s) closed %s: %s",
        outcome.mission_id,
        outcome.run_id,
        outcome.status,
        outcome.closure_reason,
    )


# -- one run per mission id ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _claim(project_root: Path, mission_id: str) -> AsyncIterator[None]:
    """Hold ``mission_id`` for this request; 400 while another request of this bridge runs it."""
    key = (project_root.resolve(), mission_id)
    running = _running.get(key)
    if running is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(running.wait(), SAME_ID_GRACE_SECONDS)
        if key in _running:
            raise RequestError(
                f"mission {mission_id!r} is running in this bridge for another request; its "
                f"report will be at .codex-oss/missions/{mission_id}/report.json. Wait for it, "
                "or give this mission a new mission_id.",
                code="mission_in_progress",
                param="input",
            )
    done = _running[key] = asyncio.Event()
    try:
        yield
    finally:
        del _running[key]
        done.set()


def _earlier_answer(
    project_root: Path, compiled: CompiledMission, alias: str
) -> MissionOutcome | None:
    """The recorded answer when this handoff already ran; 400 when its id ran another one."""
    from runtime.mission_ids import Reuse, find_prior_run, judge, refusal, replay_note

    mission = compiled.mission
    prior = find_prior_run(project_root, mission.mission_id)
    verdict = judge(prior, mission.model_dump(mode="json"), alias)
    if prior is None or verdict is Reuse.RUN:
        return None
    if verdict is Reuse.REFUSE:
        raise RequestError(refusal(prior), code="mission_id_in_use", param="input")
    assert prior.report is not None  # judge replays only a run that has its report
    log.info("mission %s: replayed from run %s", mission.mission_id, prior.run_id)
    return _outcome(project_root, prior.report, prior.run_id, note=replay_note(prior))


def _bridge_failure(project_root: Path, compiled: CompiledMission, why: str) -> MissionOutcome:
    """A FAILED answer the bridge writes when the runtime could not close the mission itself."""
    from runtime.closure import Closure, Reason, Status
    from runtime.evidence import EvidenceIndex
    from runtime.report import runtime_report

    report = runtime_report(
        compiled.mission, EvidenceIndex(), Status.FAILED, f"runtime fault: {why}"
    )
    report["caveats"] = [
        "the runtime could not close this mission; the bridge wrote this report, and the "
        "mission's log and report.json may be incomplete or missing"
    ]
    report["closure"] = Closure(Status.FAILED, Reason.RUNTIME_CRASHED, "bridge", why).for_report()
    return _outcome(project_root, report, "")


def _outcome(
    project_root: Path, report: dict[str, Any], run_id: str, note: str | None = None
) -> MissionOutcome:
    """A MissionOutcome for an answer that spent no model tokens in this request."""
    from runtime.answer import render_answer
    from runtime.projections import mission_dir
    from runtime.runner import MissionOutcome
    from runtime.upstream import Usage

    mission_id = str(report.get("mission_id"))
    return MissionOutcome(
        status=str(report.get("status")),
        closure_reason=str((report.get("closure") or {}).get("reason")),
        final_text=render_answer(report, note=note),
        report=report,
        usage=Usage(input_tokens=0, output_tokens=0),
        run_id=run_id,
        mission_id=mission_id,
        artifacts=mission_dir(project_root, mission_id),
    )
