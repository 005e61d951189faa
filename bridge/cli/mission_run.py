"""``codex-oss mission run``: run one mission in-process, commentary on the terminal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from bridge.cli.options import project_option

HARD_STOP_GRACE = 30  # seconds past --timeout before the command cancels the mission itself


@click.command("run")
@click.argument("handoff_file", type=click.File("r", encoding="utf-8"))
@click.option("--model", "alias", required=True, help="a mission alias, e.g. mission-a3-kimi")
@project_option("the project the mission investigates")
@click.option(
    "--timeout",
    type=click.IntRange(1, None),
    default=None,
    metavar="SECONDS",
    help="cap the mission's time budget at SECONDS (the runtime then closes it PARTIAL, "
    "deadline_reached); the command gives up 30 s after that",
)
@click.option("--json", "as_json", is_flag=True, help="print only the report JSON on stdout")
def run_command(handoff_file, alias: str, project: Path, timeout: int | None, as_json: bool):
    """Run the mission in HANDOFF_FILE (a text holding one handoff block) under --model.

    Commentary goes to stderr as it happens; the final message (or, with --json, the report)
    to stdout. Exit 0 when the mission ends COMPLETE (or VALIDATED/VERIFIED), 1 for any other
    honest status, 2 for a bad handoff or alias, 3 when --timeout passed without an answer.
    """
    from runtime.admission import admit
    from runtime.closure import Status
    from runtime.handoff import HandoffError
    from runtime.mission import MissionContractError
    from runtime.patches.status import PASSED
    from runtime.registry import AdmissionError, ModelRegistry
    from runtime.settings import load_settings

    settings = load_settings(project)
    try:
        resolution = ModelRegistry(settings).resolve(alias)
    except AdmissionError as error:
        raise click.UsageError(str(error)) from None
    if resolution.kind != "mission":
        raise click.UsageError(f"{alias} is not a mission alias (use mission-a<2..6>-<profile>)")
    text = handoff_file.read()
    try:
        if timeout is not None:
            text = _with_time_cap(text, timeout)
        compiled = admit(text, resolution, project)
        work = _run(project, resolution, compiled, settings, as_json)
        outcome = asyncio.run(
            asyncio.wait_for(work, timeout + HARD_STOP_GRACE) if timeout is not None else work
        )
    except (HandoffError, MissionContractError) as error:
        raise click.UsageError(str(error)) from None
    except AdmissionError as error:  # the profile lost this tier in the project
        raise click.UsageError(error.message) from None
    except TimeoutError:
        click.echo(f"the mission gave no answer within --timeout {timeout}s (+30s)", err=True)
        raise SystemExit(3) from None
    if as_json:
        click.echo(json.dumps(outcome.report, indent=2, ensure_ascii=False))
    else:
        click.echo(outcome.final_text)
        click.echo(f"\nartifacts: {outcome.artifacts}\nrun log: run {outcome.run_id}")
    raise SystemExit(0 if outcome.status in {Status.COMPLETE, *PASSED} else 1)


def _with_time_cap(text: str, seconds: int) -> str:
    """The handoff text with its mission's ``time_budget_seconds`` capped at ``seconds``.

    The cap goes into the contract, so the runtime closes the mission itself and the log
    shows the budget it ran under."""
    from runtime.handoff import CLOSE_TAG, OPEN_TAG, extract_handoff_from_text

    mission = extract_handoff_from_text(text)
    budget = mission.get("time_budget_seconds")
    mission["time_budget_seconds"] = min(budget, seconds) if isinstance(budget, int) else seconds
    return f"{OPEN_TAG}\n{json.dumps(mission)}\n{CLOSE_TAG}"


async def _run(project, resolution, compiled, settings, quiet):
    from runtime.runner import run_mission
    from runtime.upstream import UpstreamClient

    async def show(line: str) -> None:
        click.echo(f"  · {line}", err=True)

    async with UpstreamClient(settings) as client:
        return await run_mission(
            project_root=project,
            resolution=resolution,
            compiled=compiled,
            settings=settings,
            client=client,
            on_commentary=None if quiet else show,
        )
