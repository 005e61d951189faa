"""``codex-oss mcp``: a stdio Model Context Protocol server, the door a GPT parent delegates by.

Codex starts it from ``[mcp_servers.opencode_bridge]`` in the session's folder; GPT calls
``run_mission`` with a MissionV1 object and a mission alias. The server checks the call
(a call that cannot become a mission is a tool error naming the field and the fix), hands the
mission to the project's bridge (:mod:`bridge.mcp_handover`), streams each commentary line
as a progress notification (or a log message when the call carries no progress token), and
answers with the mission's final message as text and its report as ``structuredContent``.
Every mission outcome, FAILED included, is a normal result holding its report.

Codex shows neither progress nor log notifications, so whatever GPT must see is in the text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.stdio import stdio_server

from bridge.mcp_tools import (
    MISSION_REPORT,
    MISSION_SUMMARY,
    MISSION_TRACE,
    PROMOTE_PATCH,
    ROLLBACK_PATCH,
    RUN_MISSION,
    SERVER_NAME,
    ToolCallError,
    check_run_mission,
    contract_problems,
    handoff_text,
    tool_specs,
)

__all__ = ["build_server", "serve_stdio"]

INSTRUCTIONS = (
    "Delegate bounded work to open-source models: call run_mission with a MissionV1 object "
    "and a mission alias. The answer holds an evidence-backed report; check it before you "
    "rely on it. promote_patch lands a verified A5 patch in the workspace."
)
TRACE_LINES_SHOWN = 400


def build_server(project: Path) -> Server[Any, Any]:
    """The MCP server of ``project`` (the folder missions run in)."""
    from bridge.source_hash import package_version
    from runtime.registry import ModelRegistry
    from runtime.settings import load_settings

    registry = ModelRegistry(load_settings(project))
    aliases = [alias for alias in registry.aliases() if registry.resolve(alias).kind == "mission"]
    specs = tool_specs(aliases)
    server: Server[Any, Any] = Server(
        SERVER_NAME, version=package_version(), instructions=INSTRUCTIONS
    )

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [
            types.Tool(
                name=spec.name,
                description=spec.description,
                inputSchema=spec.input_schema,
                annotations=types.ToolAnnotations(
                    readOnlyHint=spec.read_only,
                    destructiveHint=spec.destructive,
                    openWorldHint=spec.name == RUN_MISSION,
                ),
            )
            for spec in specs
        ]

    @server.call_tool(validate_input=False)  # our checks name the field and the fix
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        try:
            if name == RUN_MISSION:
                return await _run_mission(server, project, arguments, aliases, registry)
            return await anyio.to_thread.run_sync(_evidence_tool, project, name, arguments)
        except ToolCallError as exc:
            return _error(str(exc))

    return server


async def serve_stdio(project: Path) -> None:
    """Serve ``project``'s tools on stdin/stdout until the client closes them."""
    server = build_server(project)
    options = InitializationOptions(
        server_name=SERVER_NAME,
        server_version=server.version or "0",
        capabilities=server.get_capabilities(NotificationOptions(), {}),
        instructions=INSTRUCTIONS,
    )
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, options)


# -- run_mission -------------------------------------------------------------------------------


async def _run_mission(
    server: Server[Any, Any],
    project: Path,
    arguments: dict[str, Any],
    aliases: list[str],
    registry: Any,
) -> types.CallToolResult:
    from bridge.mcp_handover import HandoverError, ensure_bridge, send_mission
    from runtime.admission import admit
    from runtime.handoff import HandoffError
    from runtime.mission import MissionContractError
    from runtime.registry import AdmissionError

    mission, alias = check_run_mission(arguments, aliases)
    handoff = handoff_text(mission)
    try:  # the same admission the bridge applies, so a bad call never reaches it
        admit(handoff, registry.resolve(alias), project)
    except MissionContractError as exc:
        raise ToolCallError(contract_problems(exc)) from None
    except (HandoffError, AdmissionError) as exc:  # AdmissionError: the tier was lost here
        raise ToolCallError(f"run_mission refused the call; nothing ran: {exc.message}") from None

    context = server.request_context
    token = context.meta.progressToken if context.meta is not None else None
    count = 0

    async def on_commentary(line: str) -> None:
        nonlocal count
        count += 1
        if token is not None:
            await context.session.send_progress_notification(
                token, float(count), message=line, related_request_id=str(context.request_id)
            )
        else:
            await context.session.send_log_message(
                "info", line, logger=SERVER_NAME, related_request_id=context.request_id
            )

    try:
        address = await anyio.to_thread.run_sync(ensure_bridge, project)
        answer = await send_mission(address, alias, handoff, on_commentary)
    except HandoverError as exc:
        if exc.refused:
            raise ToolCallError(f"run_mission refused the call; nothing ran: {exc}") from None
        return _error(f"the mission could not be run by the bridge of {project}: {exc}")
    except Exception as exc:  # the bridge would not start, or the connection broke
        return _error(
            f"the mission could not be run by the bridge of {project}: "
            f"{type(exc).__name__}: {exc}; check `codex-oss doctor --project {project}`"
        )
    return _result(answer.final_text, answer.report)


# -- evidence and patches ----------------------------------------------------------------------


def _evidence_tool(project: Path, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """The read tools and promote/rollback: local file work, no bridge needed."""
    mission_id = arguments.get("mission_id")
    if not isinstance(mission_id, str) or not mission_id:
        raise ToolCallError(f"{name}: mission_id is missing; give the mission_id of the mission")
    directory = _mission_dir(project, mission_id)
    if name == MISSION_REPORT:
        report = json.loads(_read(directory, "report.json"))
        return _result(json.dumps(report, indent=2), report)
    if name == MISSION_SUMMARY:
        return _result(_read(directory, "summary.md"))
    if name == MISSION_TRACE:
        rows = _read(directory, "trace.jsonl").splitlines()[1:]  # line 1 is the stamp
        shown = rows[-TRACE_LINES_SHOWN:]
        note = [] if len(shown) == len(rows) else [f"(last {len(shown)} of {len(rows)} events)"]
        return _result("\n".join([*note, *shown]))
    if name in (PROMOTE_PATCH, ROLLBACK_PATCH):
        return _patch_tool(project, name, mission_id, bool(arguments.get("dry_run", False)))
    raise ToolCallError(f"unknown tool {name!r}; call tools/list for the tools of this server")


def _patch_tool(project: Path, name: str, mission_id: str, dry_run: bool) -> types.CallToolResult:
    from runtime.patches.promotion import PromotionRefused, promote, rollback

    try:
        if name == PROMOTE_PATCH:
            result = promote(project, mission_id, dry_run=dry_run)
        else:
            result = rollback(project, mission_id, dry_run=dry_run)
    except PromotionRefused as exc:
        return _error(f"{name} refused: {exc}")
    verb = {"promote": "promoted", "rollback": "rolled back"}[result.action]
    text = (
        f"{'would be ' if dry_run else ''}{verb}: {mission_id} (run {result.run_id}): "
        f"{', '.join(result.files_changed)}"
    )
    structured = {
        "mission_id": mission_id,
        "action": result.action,
        "dry_run": dry_run,
        "files_changed": result.files_changed,
        "event_seq": result.event_seq,
    }
    return _result(text, structured)


def _mission_dir(project: Path, mission_id: str) -> Path:
    from runtime.projections import mission_dir

    try:
        directory = mission_dir(project, mission_id)
    except ValueError as exc:
        raise ToolCallError(f"mission_id: {exc}") from None
    if not directory.is_dir():
        raise ToolCallError(
            f"mission_id: no mission {mission_id!r} in {project}/.codex-oss/missions; "
            "give the mission_id of a mission run_mission ran in this project"
        )
    return directory


def _read(directory: Path, name: str) -> str:
    path = directory / name
    if not path.is_file():
        raise ToolCallError(f"mission {directory.name} has no {name} yet (still running?)")
    return path.read_text(encoding="utf-8")


def _result(
    text: str, structured: dict[str, Any] | None = None, *, error: bool = False
) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structuredContent=structured,
        isError=error,
    )


def _error(text: str) -> types.CallToolResult:
    return _result(text, error=True)
