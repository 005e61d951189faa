"""``codex-oss install`` and ``codex-oss print-bridge-key``.

``print-bridge-key`` is the auth command Codex runs for the bridge provider; it imports only
the key module so that it answers in the time of an interpreter start.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("install")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The Codex project to wire to the bridge.",
)
@click.option(
    "--codex-home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CODEX_HOME",
    default=Path("~/.codex"),
    show_default=True,
    help="Codex's home (CODEX_HOME): its config.toml gets the bridge provider block.",
)
@click.option("--dry-run", is_flag=True, help="Print the diff of every change; write nothing.")
@click.option("--force", is_flag=True, help="Replace role files the user edited.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Bridge port for the provider's base URL (default: PROXY_PORT, else the port Codex's "
    "config already names, else 4000).",
)
def install(project: Path, codex_home: Path, dry_run: bool, force: bool, port: int | None) -> None:
    """Wire the --project folder to the bridge: the MCP server and the provider block in Codex's
    user-level config.toml, OSS agent roles, AGENTS.md section, bridge key.

    Keeps the user's comments and keys, and never sets a top-level model_provider. A second
    run changes nothing.
    """
    from bridge.install import FileAction, InstallError, InstallOptions, default_auth_command
    from bridge.install import install as run_install
    from runtime.settings import Settings

    project = project.resolve()
    codex_home = codex_home.expanduser().resolve()
    bridge_port, kept = _install_port(port, codex_home, Settings().PROXY_PORT)
    options = InstallOptions(
        project=project,
        codex_home=codex_home,
        base_url=f"http://127.0.0.1:{bridge_port}/v1",
        auth_command=default_auth_command(),
        force=force,
    )
    try:
        plan = run_install(options, dry_run=dry_run)
    except InstallError as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        click.echo(plan.diff(), nl=False)
    verbs = {
        FileAction.CREATE: "would create" if dry_run else "created",
        FileAction.UPDATE: "would update" if dry_run else "updated",
        FileAction.UNCHANGED: "unchanged",
        FileAction.KEPT: "kept (user-edited)",
    }
    for planned in plan.files:
        click.echo(f"{verbs[planned.action]:<18} {planned.path}")
    if kept:
        click.echo(
            f"note: the bridge provider in Codex's config stays at port {bridge_port}, where "
            "another installed project may be served; pass --port to move it",
            err=True,
        )
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    if not plan.changed:
        click.echo("nothing to do: the project is already installed")


def _install_port(port: int | None, codex_home: Path, default: int) -> tuple[int, bool]:
    """The port to point Codex at, and whether it is the one the config already had.

    --port, else PROXY_PORT when set, else the port the shared provider block already names
    (so a second project's install does not repoint the first's), else the default.
    """
    import os

    from bridge.install import port_of
    from bridge.wiring import read_wiring

    if port is not None:
        return port, False
    if "PROXY_PORT" in os.environ:
        return default, False
    existing = port_of(read_wiring(codex_home).provider_base_url)
    return (existing, True) if existing is not None else (default, False)


@click.command("print-bridge-key")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The project whose key to print (default: the nearest one at or above the cwd).",
)
def print_bridge_key(project: Path | None) -> None:
    """Print the project's local bridge key (the auth command Codex runs for the bridge)."""
    from bridge.bridge_key import bridge_key_path, find_bridge_key, read_bridge_key

    if project is None:
        found = find_bridge_key(Path.cwd())
        project = found.parents[2] if found is not None else Path.cwd()
    key = read_bridge_key(project)
    if key is None:
        raise click.ClickException(
            f"no bridge key at {bridge_key_path(project)} (nor above it); "
            f"run `codex-oss install --project <your project>` first"
        )
    click.echo(key)
