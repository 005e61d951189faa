"""``codex-oss promote`` and ``codex-oss rollback``: the only way a mission's patch reaches
the workspace, and the way back."""

from __future__ import annotations

from pathlib import Path

import click

from bridge.cli.options import project_option

_project_option = project_option("the project the mission ran in")


@click.command("promote")
@click.argument("mission_id")
@_project_option
@click.option("--dry-run", is_flag=True, help="Check everything; change nothing.")
@click.option(
    "--allow-unverified",
    is_flag=True,
    help="Also promote an A4 patch that was validated but never run.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Promote even though the review packet was judged inadequate (recorded in the log).",
)
def promote(
    mission_id: str, project: Path, dry_run: bool, allow_unverified: bool, force: bool
) -> None:
    """Apply MISSION_ID's verified patch to the workspace and record PatchPromoted.

    Refuses (exit 1) unless the patch is VERIFIED, its review packet is adequate (or --force),
    its files still have the bytes it was verified against, and it applies without conflict.
    An A6 rehearsal is never promoted.
    """
    from runtime.patches.promotion import PromotionRefused
    from runtime.patches.promotion import promote as run_promote

    try:
        result = run_promote(
            project, mission_id, dry_run=dry_run, allow_unverified=allow_unverified, force=force
        )
    except PromotionRefused as exc:
        click.echo(f"refused: {exc}", err=True)
        raise SystemExit(1) from None
    verb = "would promote" if dry_run else "promoted"
    click.echo(f"{verb} {mission_id} (run {result.run_id}): {', '.join(result.files_changed)}")
    click.echo(f"diff {result.diff_sha256}")
    if not dry_run:
        click.echo(f"recorded PatchPromoted as event {result.event_seq}")
        click.echo(f"undo: codex-oss rollback {mission_id}")


@click.command("rollback")
@click.argument("mission_id")
@_project_option
@click.option("--dry-run", is_flag=True, help="Check everything; change nothing.")
def rollback(mission_id: str, project: Path, dry_run: bool) -> None:
    """Undo MISSION_ID's promoted patch, restoring the exact prior bytes.

    Refuses (exit 1) unless the files are exactly as promotion left them.
    """
    from runtime.patches.promotion import PromotionRefused
    from runtime.patches.promotion import rollback as run_rollback

    try:
        result = run_rollback(project, mission_id, dry_run=dry_run)
    except PromotionRefused as exc:
        click.echo(f"refused: {exc}", err=True)
        raise SystemExit(1) from None
    verb = "would roll back" if dry_run else "rolled back"
    click.echo(f"{verb} {mission_id} (run {result.run_id}): {', '.join(result.files_changed)}")
    if not dry_run:
        click.echo(f"recorded PatchRolledBack as event {result.event_seq}")
