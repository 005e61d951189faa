"""``codex-oss up|stop|restart|status|doctor``: run and inspect the bridge of a project."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from bridge.cli.options import codex_home_option, project_option

_project_option = project_option("the project served")


def _host_port(func):  # type: ignore[no-untyped-def]
    func = click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=None,
        help="Port (default: PROXY_PORT, else the port install wrote, else 4000).",
    )(func)
    return click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")(
        func
    )


@click.command("up")
@_host_port
@_project_option
@click.option("--daemon", is_flag=True, help="Run detached; state goes to .codex-oss/run/.")
def up(host: str, port: int | None, project: Path, daemon: bool) -> None:
    """Serve the bridge (foreground unless --daemon)."""
    from bridge.auth import KeyConfigError
    from bridge.daemon import DaemonError, serving_port, serving_settings

    settings = serving_settings(project)
    bind_port = serving_port(project, settings, port)
    try:
        if daemon:
            from bridge.daemon import start_daemon

            current = start_daemon(project, host, bind_port, settings)
            click.echo(
                f"bridge running on http://{current.host}:{current.port}/v1 (pid {current.pid}); "
                f"log: {project / '.codex-oss/run/bridge.log'}"
            )
            return
        from bridge.daemon import serve_foreground

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        serve_foreground(project, host, bind_port, settings)
    except (DaemonError, KeyConfigError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("stop")
@_project_option
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds before SIGKILL."
)
def stop(project: Path, timeout: float) -> None:
    """Stop the project's bridge (works from any directory of the project)."""
    from bridge.daemon import stop as stop_bridge

    click.echo(stop_bridge(project, timeout=timeout))


@click.command("restart")
@_host_port
@_project_option
def restart(host: str, port: int | None, project: Path) -> None:
    """Stop the bridge if it runs, then start it as a daemon (same port unless --port)."""
    from bridge.daemon import (
        DaemonError,
        RunFiles,
        serving_port,
        serving_settings,
        start_daemon,
    )
    from bridge.daemon import stop as stop_bridge

    recorded = RunFiles(project).read() or {}
    click.echo(stop_bridge(project))
    settings = serving_settings(project)
    bind_port = serving_port(project, settings, recorded.get("port") if port is None else port)
    try:
        current = start_daemon(project, host, bind_port, settings)
    except DaemonError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"bridge running on http://{current.host}:{current.port}/v1 (pid {current.pid})")


@click.command("status")
@_project_option
@codex_home_option("compared")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(project: Path, codex_home: Path | None, as_json: bool) -> None:
    """Say whether the bridge runs (exit 0) or not (exit 1), whether its code is current, and
    whether Codex's config points at it (with the command that fixes it when not)."""
    from bridge.daemon import bridge_settings
    from bridge.daemon import status as bridge_status
    from bridge.wiring import config_mismatches, default_codex_home, read_wiring

    current = bridge_status(project, bridge_settings(project))
    running_port = current.port if current.state == "running" else None
    wiring = read_wiring(codex_home or default_codex_home())
    codex = config_mismatches(project, wiring, running_port)
    if as_json:
        data = current.to_json()
        data["codex_config"] = [
            {"name": name, "status": state, "detail": detail} for name, state, detail in codex
        ]
        click.echo(json.dumps(data, indent=2))
    elif current.state == "running":
        code = {True: "code matches the disk", False: "code on disk changed: restart"}.get(
            current.code_matches, "code state unknown"
        )
        click.echo(
            f"running: pid {current.pid}, http://{current.host}:{current.port}/v1, {code}"
            + (f" ({current.detail})" if current.detail else "")
        )
    else:
        click.echo(f"{current.state}: {current.detail}")
    if not as_json:
        for _name, state, detail in codex:
            if state != "ok":
                click.echo(f"{state}: {detail}")
    raise SystemExit(0 if current.state == "running" else 1)


@click.command("doctor")
@_project_option
@click.option("--network", is_flag=True, help="Also check that the upstream answers.")
@click.option(
    "--live-model",
    "live_model",
    is_flag=False,
    flag_value="ocg-kimi-k2.6",
    default=None,
    help="Also make one live model call (optionally name the alias; default ocg-kimi-k2.6).",
)
@codex_home_option("checked")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor(
    project: Path, network: bool, live_model: str | None, codex_home: Path | None, as_json: bool
) -> None:
    """Check configuration, keys, port, the running server's code, the Codex wiring (MCP
    server, delegation paths), and (opt-in) the upstream."""
    from bridge.daemon import doctor_checks

    checks = doctor_checks(project, network=network, live_model=live_model, codex_home=codex_home)
    if as_json:
        click.echo(json.dumps([c.to_json() for c in checks], indent=2))
    else:
        for check in checks:
            click.echo(f"{check.status:>4}  {check.name}: {check.detail}")
    raise SystemExit(1 if any(c.status == "fail" for c in checks) else 0)
