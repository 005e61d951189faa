"""``codex-oss start``: the origin document's name for starting the bridge as a daemon."""

from __future__ import annotations

from pathlib import Path

import click

from bridge.cli.server import _host_port, _project_option, up


@click.command("start")
@_host_port
@_project_option
@click.pass_context
def start(ctx: click.Context, host: str, port: int | None, project: Path) -> None:
    """Start the bridge as a daemon (the same as 'up --daemon'); state goes to .codex-oss/run/.

    Exit 0 when the bridge is up, 1 when it could not start (the message says why).
    """
    ctx.invoke(up, host=host, port=port, project=project, daemon=True)
