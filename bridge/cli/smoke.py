"""``codex-oss smoke native-polish``: check the user-facing surface end to end.

The checks live in :mod:`bridge.smoke`; this module prints them as a table, one row as each
finishes, and exits 1 when any failed.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

STATUS_STYLE = {"PASS": "bold green", "FAIL": "bold red", "SKIP": "yellow"}


@click.group("smoke")
def smoke() -> None:
    """End-to-end smoke checks in a temporary project."""


@smoke.command("native-polish")
@click.option(
    "--codex",
    "codex",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The Codex CLI to drive (default: node_modules/.bin/codex, else codex on PATH).",
)
@click.option("--no-codex", is_flag=True, help="Skip the Codex CLI step.")
@click.option("--keep", is_flag=True, help="Keep the temporary project and print where it is.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON instead.")
def native_polish(codex: Path | None, no_codex: bool, keep: bool, as_json: bool) -> None:
    """Roles installed, bridge reachable, a mission through the real Codex CLI (when
    installed), an A5 patch verified in isolation, commentary recorded, logs intact, the
    workspace unchanged. Exit 1 when any check fails; a SKIP says why.

    The model is a scripted upstream playing known-good turns: this checks the surface, not
    a model.
    """
    from rich.console import Console
    from rich.table import Table

    from bridge.smoke import SmokeCheck, run_native_polish

    console = Console(highlight=False)
    with console.status("running the native-polish smoke ...", spinner="dots") as spinner:

        def show(check: SmokeCheck) -> None:
            spinner.update(f"{check.name}: {check.status}; next ...")

        checks, kept = run_native_polish(
            codex=codex, use_codex=not no_codex, keep=keep, on_check=show
        )
    failed = [c for c in checks if c.status == "FAIL"]
    if as_json:
        rows = [{"name": c.name, "status": c.status, "detail": c.detail} for c in checks]
        kept_path = str(kept) if kept is not None else None
        click.echo(json.dumps({"checks": rows, "kept": kept_path}, indent=2))
        raise SystemExit(1 if failed else 0)
    table = Table(title="codex-oss smoke native-polish")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in checks:
        style = STATUS_STYLE[check.status]
        table.add_row(check.name, f"[{style}]{check.status}[/]", check.detail)
    console.print(table)
    if kept is not None:
        console.print(f"kept: {kept}", soft_wrap=True)
    if failed:
        console.print(f"[bold red]{len(failed)} check(s) failed[/]")
        raise SystemExit(1)
    console.print("[bold green]all checks passed[/] (SKIP rows say why they did not run)")
