"""``codex-oss claim-status | burnin | refresh-proofs | certify``: the project's claims.

``claim-status`` reads the artifacts the pytest plugin wrote and checks them against the code
on disk; it imports only the standard library and click, so it answers quickly. The other
three are thin wrappers that run pytest with the plugin's options in the project folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from bridge.cli.options import project_option
from pytest_opencode_bridge.claims import (
    DEFAULT_CLAIMS_DIR,
    ClaimError,
    ClaimStatus,
    Status,
    all_required_supported,
    parse_duration,
    project_status,
)

_PROJECT = project_option("the project folder (holds proof_packs/ and .codex-oss/)")
_CLAIMS_DIR = click.option(
    "--claims-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"artifact folder, relative to the project (default {DEFAULT_CLAIMS_DIR.as_posix()})",
)
_MAX_AGE = click.option(
    "--max-age",
    default=None,
    metavar="AGE",
    help="artifacts older than this are STALE, e.g. 24h or 7d "
    "(default: the age the burn-in recorded, else 7d)",
)
_PASSTHROUGH = {"ignore_unknown_options": True, "allow_interspersed_args": False}


@click.command("claim-status")
@_PROJECT
@_CLAIMS_DIR
@_MAX_AGE
@click.option("--json", "as_json", is_flag=True, help="print the statuses as JSON")
def claim_status(project: Path, claims_dir: Path | None, max_age: str | None, as_json: bool):
    """Show each claim as SUPPORTED, STALE, FAILING or MISSING, and why.

    Exit 0 only when every required claim is SUPPORTED.
    """
    statuses = _statuses(project, claims_dir, max_age)
    ok = all_required_supported(statuses)
    if as_json:
        document = {
            "all_required_supported": ok,
            "claims": [status.to_json() for status in statuses],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(render_table(statuses))
    sys.exit(0 if ok else 1)


@click.command("burnin", context_settings=_PASSTHROUGH)
@_PROJECT
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def burnin(project: Path, pytest_args: tuple[str, ...]) -> None:
    """Run every proof pack and write the claim artifacts (extra args go to pytest)."""
    sys.exit(_run_pytest(project, ["--opencode-burnin", *pytest_args]))


@click.command("certify", context_settings=_PASSTHROUGH)
@_PROJECT
@click.argument("target")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def certify(project: Path, target: str, pytest_args: tuple[str, ...]) -> None:
    """Run the proof packs of TARGET (claim names, comma-separated, or 'all') and write
    their artifacts."""
    sys.exit(_run_pytest(project, [f"--opencode-certify={target}", *pytest_args]))


@click.command("refresh-proofs", context_settings=_PASSTHROUGH)
@_PROJECT
@_CLAIMS_DIR
@_MAX_AGE
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def refresh_proofs(
    project: Path, claims_dir: Path | None, max_age: str | None, pytest_args: tuple[str, ...]
) -> None:
    """Re-run the proof packs of every claim that is not SUPPORTED, then show the status."""
    statuses = _statuses(project, claims_dir, max_age)
    due = [status.claim for status in statuses if status.status is not Status.SUPPORTED]
    if not due:
        click.echo("every claim is SUPPORTED; nothing to refresh")
        sys.exit(0)
    click.echo(f"refreshing: {', '.join(due)}")
    extra = [f"--opencode-claims-dir={claims_dir}"] if claims_dir else []
    if max_age:
        extra.append(f"--opencode-max-age={max_age}")
    code = _run_pytest(project, [f"--opencode-certify={','.join(due)}", *extra, *pytest_args])
    statuses = _statuses(project, claims_dir, max_age)
    click.echo(render_table(statuses))
    sys.exit(code or (0 if all_required_supported(statuses) else 1))


def render_table(statuses: list[ClaimStatus]) -> str:
    """One aligned line per claim: status, name, why (optional claims are marked)."""
    if not statuses:
        return "no claims registered and no artifacts found"
    width = max(len(status.claim) for status in statuses)
    lines = []
    for status in statuses:
        optional = "" if status.required else " (optional)"
        lines.append(f"{status.status.value:9}  {status.claim:{width}}  {status.why}{optional}")
    supported = sum(status.status is Status.SUPPORTED for status in statuses)
    lines.append(f"{supported}/{len(statuses)} supported")
    return "\n".join(lines)


def _statuses(project: Path, claims_dir: Path | None, max_age: str | None) -> list[ClaimStatus]:
    try:
        limit = parse_duration(max_age) if max_age else None
        return project_status(project.resolve(), claims_dir=claims_dir, max_age=limit)
    except ClaimError as error:
        raise click.UsageError(str(error)) from error


def _run_pytest(project: Path, args: list[str]) -> int:
    """Run pytest in the project folder with this interpreter; return its exit code."""
    command = [sys.executable, "-m", "pytest", *args]
    click.echo("$ " + " ".join(["pytest", *args]), err=True)
    return subprocess.run(command, cwd=project, check=False).returncode
