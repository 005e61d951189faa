"""``codex-oss scripted-upstream``: serve a scripted OpenAI-compatible upstream for test rigs."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import IO

import click

from bridge.scripted_upstream import (
    RecordedRequest,
    ScriptedUpstream,
    ScriptError,
    load_script,
)


@click.command("scripted-upstream")
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 picks a free port",
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="append every request received to this JSONL file as it arrives",
)
def scripted_upstream(script: Path, port: int, record: Path | None) -> None:
    """Play SCRIPT (JSON: model id -> turns) as a chat-completions server on 127.0.0.1.

    Prints its base URL (http://127.0.0.1:PORT/v1) alone on the first line of stdout, so
    ``UPSTREAM_BASE_URL=$(codex-oss scripted-upstream s.json | head -1)`` style rigs work;
    then serves until interrupted (Ctrl-C or SIGTERM). The script format is described in
    bridge/scripted_upstream.py. Exit 0 when stopped, 2 for a bad script.
    """
    try:
        load_script(script)
    except ScriptError as exc:
        raise click.BadParameter(str(exc), param_hint="SCRIPT") from None
    sink = record.open("a", encoding="utf-8") if record is not None else None
    try:
        asyncio.run(_serve(script, port, sink))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    finally:
        if sink is not None:
            sink.close()


async def _serve(script: Path, port: int, sink: IO[str] | None) -> None:
    def write(request: RecordedRequest) -> None:
        if sink is not None:
            # One line per request, flushed, so a harness can read it while we run.
            sink.write(json.dumps(request.to_json(), ensure_ascii=False) + "\n")
            sink.flush()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with ScriptedUpstream(script, port=port, on_request=write) as upstream:
        click.echo(upstream.base_url)
        click.echo(f"scripted upstream listening on {upstream.base_url}", err=True)
        await stop.wait()
    click.echo("scripted upstream stopped", err=True)
