"""``codex-oss mission run``: run one mission in-process, commentary on the terminal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from bridge.cli.options import project_option

STATUS_EXIT = {"COMPLETE": 0, "VALIDATED": 0, "VERIFIED": 0}


@click.command("run")
@click.argument("handoff_file", type=click.File("r", encoding="utf-8"))
@click.option("--model", "alias", required=True, help="a mission alias, e.g. mission-a3-kimi")
@project_option("the project the mission investigates")
@click.option("--json", "as_json", is_flag=True, help="print only the report JSON on stdout")
def run_command(handoff_file, alias: str, project: Path, as_json: bool) -> None:
    """Run the mission in HANDOFF_FILE (a text holding one handoff block) under ALIAS.

    Exit 0 when the mission ends COMPLETE (or VALIDATED/VERIFIED), 1 for any other honest
    status, 2 for a bad handoff or alias.
    """
    from runtime.handoff import HandoffError
    from runtime.mission import MissionContractError
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
        outcome = asyncio.run(_run(project, resolution, text, settings, as_json))
    except (HandoffError, MissionContractError) as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        click.echo(json.dumps(outcome.report, indent=2, ensure_ascii=False))
    else:
        click.echo(outcome.final_text)
        click.echo(f"\nartifacts: {outcome.artifacts}\nrun log: run {outcome.run_id}")
    raise SystemExit(STATUS_EXIT.get(outcome.status, 1))


async def _run(project, resolution, text, settings, quiet):
    from runtime.runner import run_mission
    from runtime.upstream import UpstreamClient

    async def show(line: str) -> None:
        click.echo(f"  · {line}", err=True)

    client = UpstreamClient(settings)
    try:
        return await run_mission(
            project_root=project,
            resolution=resolution,
            request_input=text,
            settings=settings,
            client=client,
            on_commentary=None if quiet else show,
        )
    finally:
        await client.aclose()
