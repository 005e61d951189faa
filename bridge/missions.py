"""Mission aliases (``mission-a<N>-<profile>``): run the runtime and stream what it says.

The handoff is checked before the stream starts, so a bad one is a 400 whose body Codex shows
verbatim. Once running, each commentary line becomes an assistant message with
``phase: "commentary"`` as it happens, ``response.in_progress`` heartbeats keep Codex's idle
timer alive between lines, and the final report is the last message (``phase:
"final_answer"``), because Codex hands a parent only a child's last message. A client that
goes away cancels the mission; the runtime records the cancellation in its log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bridge.raw import SseWriter, json_answer, sse_response
from bridge.responses import (
    EventStream,
    RequestError,
    ResponsesRequest,
    error_body,
    response_object,
    usage_object,
)
from bridge.translate import message_item
from runtime.admission import TierMismatch, admit
from runtime.handoff import HandoffError
from runtime.mission import MissionContractError
from runtime.registry import Resolution
from runtime.settings import Settings
from runtime.upstream import UpstreamError

if TYPE_CHECKING:
    from runtime.runner import MissionOutcome

__all__ = ["check_handoff", "handle_mission"]

log = logging.getLogger("bridge.missions")


def check_handoff(parsed: ResponsesRequest, resolution: Resolution) -> None:
    """Raise a 400 :class:`RequestError` when the handoff cannot be admitted by this alias."""
    try:
        admit(parsed.input, resolution.alias, resolution.tier)
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
    check_handoff(parsed, resolution)
    # Imported here: the runner pulls in the whole runtime, which raw aliases never need.
    from runtime.runner import run_mission

    async def run(on_commentary: Callable[[str], Awaitable[None]]) -> MissionOutcome:
        return await run_mission(
            project_root=project_root,
            resolution=resolution,
            request_input=parsed.input,
            settings=settings,
            client=client,
            on_commentary=on_commentary,
        )

    try:
        if parsed.stream:
            return await _stream(request, parsed, run, heartbeat_seconds, scrub)
        return await _json(parsed, run, scrub)
    except asyncio.CancelledError:
        # aiohttp cancels the handler when the client goes; the cancellation went through
        # the runner, which recorded it in the mission's log before re-raising.
        log.warning("mission alias %s: client disconnected; mission cancelled", parsed.model)
        raise


MissionRun = Callable[[Callable[[str], Awaitable[None]]], Awaitable["MissionOutcome"]]


async def _stream(
    request: web.Request,
    parsed: ResponsesRequest,
    run: MissionRun,
    heartbeat_seconds: float,
    scrub: Callable[[str], str],
) -> web.StreamResponse:
    response = await sse_response(request)
    events = EventStream(parsed.model, parsed.body)
    async with SseWriter(response, events, heartbeat_seconds) as writer:
        writer.send(events.created())

        async def on_commentary(text: str) -> None:
            writer.send(events.message(message_item(text, phase="commentary")))

        try:
            outcome = await run(on_commentary)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            writer.send(events.failed(scrub(_failure_text(exc)), code=_failure_code(exc)))
        else:
            log.info(
                "mission %s (run %s) closed %s: %s",
                outcome.mission_id,
                outcome.run_id,
                outcome.status,
                outcome.closure_reason,
            )
            writer.send(events.message(message_item(outcome.final_text, phase="final_answer")))
            if outcome.status == "FAILED":
                # The report still goes out as the last message; the turn ends as failed so
                # the user (or the parent agent) sees why without parsing the report.
                writer.send(
                    events.failed(
                        f"mission {outcome.mission_id} FAILED: {outcome.closure_reason} "
                        f"(report in .codex-oss/missions/{outcome.mission_id}/report.json)",
                        code="mission_failed",
                    )
                )
            else:
                usage = usage_object(outcome.usage.input_tokens, outcome.usage.output_tokens)
                writer.send(events.completed(usage))
        await writer.end()
    return response


async def _json(
    parsed: ResponsesRequest, run: MissionRun, scrub: Callable[[str], str]
) -> web.Response:
    commentary: list[dict[str, Any]] = []

    async def on_commentary(text: str) -> None:
        commentary.append(message_item(text, phase="commentary"))

    try:
        outcome = await run(on_commentary)
    except (HandoffError, MissionContractError) as exc:
        raise RequestError(str(exc), code="invalid_mission", param="input") from None
    except Exception as exc:
        return web.json_response(
            error_body(scrub(_failure_text(exc)), code=_failure_code(exc), type_="server_error"),
            status=502 if isinstance(exc, UpstreamError) else 500,
        )
    events = EventStream(parsed.model, parsed.body)
    output = [*commentary, message_item(outcome.final_text, phase="final_answer")]
    return json_answer(
        response_object(
            events.response_id,
            parsed.model,
            events.created_at,
            status="failed" if outcome.status == "FAILED" else "completed",
            output=output,
            usage=usage_object(outcome.usage.input_tokens, outcome.usage.output_tokens),
            request=parsed.body,
        )
    )


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, UpstreamError):
        return f"mission stopped: upstream failed: {exc}"
    if isinstance(exc, HandoffError | MissionContractError):
        return f"handoff rejected: {exc}"
    log.exception("mission crashed", exc_info=exc)
    return f"mission crashed: {type(exc).__name__}: {exc}"


def _failure_code(exc: BaseException) -> str:
    if isinstance(exc, UpstreamError):
        return "upstream_error"
    if isinstance(exc, HandoffError | MissionContractError):
        return "invalid_mission"
    return "server_error"
