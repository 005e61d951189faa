"""``codex-oss app-server-probe`` (and the origin document's ``app-server-pre-final-text-probe``
and ``app-server-visible-commentary-probe``): is pre-final text delivered over the real
``codex app-server`` as ``item/agentMessage/delta`` notifications?"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bridge.cli.options import json_option, project_option

EXIT = {"pass": 0, "fail": 1, "setup_failed": 3}
_EXIT_TEXT = (
    "Exit 0 when pre-final text arrived before the final message (probe_status pass), 1 when "
    "only the final message did (fail), 3 when the probe could not run (setup_failed)."
)


def _probe_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = json_option(func)
    func = click.option(
        "--timeout", type=float, default=120.0, show_default=True, help="seconds for the turn"
    )(func)
    func = click.option(
        "--codex",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="the Codex CLI to drive (default: node_modules/.bin/codex, else codex on PATH)",
    )(func)
    return project_option("the project whose .codex-oss/probes/ records the result")(func)


@click.command("app-server-probe")
@click.option(
    "--mode",
    type=click.Choice(["visible-commentary", "pre-final-text"]),
    default="visible-commentary",
    show_default=True,
    help="visible-commentary: a real bridge mission's commentary; pre-final-text: the bare "
    "channel with a scripted Responses server",
)
@_probe_options
def app_server_probe(
    mode: str, project: Path, codex: Path | None, timeout: float, as_json: bool
) -> None:
    """Drive the real codex app-server (JSON messages over stdio) and record whether commentary
    arrives as agent-message deltas before the final message.

    The visible-commentary mode runs an A3 mission through a real bridge in a temporary
    folder (scripted model turns) and writes what the app-server consumer observed into that
    mission's commentary_delivery.json. The result goes to
    .codex-oss/probes/app-server-<mode>.json.
    """
    _run(mode, project, codex, timeout, as_json)


@click.command("app-server-visible-commentary-probe")
@_probe_options
def visible_commentary_probe(project: Path, codex: Path | None, timeout: float, as_json: bool):
    """The product path: runtime commentary of a bridge mission as app-server deltas before the
    final report (the same as 'app-server-probe --mode visible-commentary')."""
    _run("visible-commentary", project, codex, timeout, as_json)


@click.command("app-server-pre-final-text-probe")
@_probe_options
def pre_final_text_probe(project: Path, codex: Path | None, timeout: float, as_json: bool):
    """The bare channel: three progress messages, then a final one, from a scripted Responses
    server; no bridge or model (the same as 'app-server-probe --mode pre-final-text')."""
    _run("pre-final-text", project, codex, timeout, as_json)


for _command in (app_server_probe, visible_commentary_probe, pre_final_text_probe):
    _command.help = f"{_command.help}\n\n{_EXIT_TEXT}"


def _run(mode: str, project: Path, codex: Path | None, timeout: float, as_json: bool) -> None:
    from bridge.app_server_probe import run_probe, write_result
    from bridge.smoke import find_codex

    result = run_probe(mode, codex or find_codex(), timeout=timeout)  # type: ignore[arg-type]
    path = write_result(project, result)
    if as_json:
        click.echo(json.dumps({**result.to_json(), "recorded": str(path)}, indent=2))
    else:
        click.echo(f"probe_status: {result.probe_status} ({result.probe}): {result.detail}")
        for text in result.pre_final_texts:
            click.echo(f"  before final: {text}")
        if result.delivery is not None:
            click.echo(
                f"commentary_delivery: sse_emitted={result.delivery['sse_emitted']}, "
                f"consumer_observed={result.delivery['consumer_observed']}"
            )
        click.echo(f"recorded: {path}")
    raise SystemExit(EXIT[result.probe_status])
