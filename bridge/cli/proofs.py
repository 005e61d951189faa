"""``codex-oss claim-status | burnin | refresh-proofs | certify``: the project's claims.

``claim-status`` reads the artifacts the pytest plugin wrote and checks them against the code
on disk; it imports only the standard library and click, so it answers quickly. The other
three are thin wrappers that run pytest with the plugin's options in the project folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from enum import IntEnum
from pathlib import Path
from typing import NoReturn

import click

from bridge.claims import (
    DEFAULT_CLAIMS_DIR,
    DEFAULT_REGISTRY,
    ClaimError,
    ClaimStatus,
    Registry,
    Status,
    all_required_supported,
    load_registry,
    parse_duration,
    project_status,
)
from bridge.cli.options import project_option

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


class PytestExit(IntEnum):
    """pytest's exit codes (``pytest.ExitCode``), named here so this module stays light."""

    OK = 0
    TESTS_FAILED = 1
    INTERRUPTED = 2
    INTERNAL_ERROR = 3
    USAGE_ERROR = 4
    NO_TESTS_COLLECTED = 5


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


_JSON = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print the outcome as JSON on stdout (pytest's output goes to stderr)",
)
_SUITE = click.option(
    "--suite",
    default="all",
    show_default=True,
    metavar="NAME",
    help="the claims to run: 'all', a suite of proof_packs/claims.toml [suites] "
    "(e.g. operational), or claim names, comma-separated",
)
_EXIT_CODES = """Exit 0 when every claim run is SUPPORTED afterwards, 1 when one is not
    (a test failed or did not run), 2 for a usage error (an unknown claim or suite), 3 when
    pytest itself could not finish (interrupted, internal error)."""


@click.command("burnin", context_settings=_PASSTHROUGH)
@_PROJECT
@_SUITE
@_JSON
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def burnin(project: Path, suite: str, as_json: bool, pytest_args: tuple[str, ...]) -> None:
    """Run the proof packs of --suite and write their claim artifacts (extra args go to pytest).

    {exit_codes}"""
    claims = _select(project, suite)
    option = "--opencode-burnin" if suite == "all" else f"--opencode-certify={','.join(claims)}"
    code = _run_pytest(project, [option, *pytest_args], quiet=as_json)
    _finish("burnin", project, claims, code, as_json, every_claim=suite != "all", suite=suite)


@click.command("certify", context_settings=_PASSTHROUGH)
@_PROJECT
@click.option(
    "--target",
    "target_option",
    default=None,
    metavar="TARGET",
    help="claim names or suites, comma-separated, or 'all' (the same as the TARGET argument)",
)
@_JSON
@click.argument("target", required=False)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def certify(
    project: Path,
    target_option: str | None,
    as_json: bool,
    target: str | None,
    pytest_args: tuple[str, ...],
) -> None:
    """Run the proof packs of TARGET (claims or suites, comma-separated, or 'all') and write
    their artifacts; extra args go to pytest.

    {exit_codes}"""
    if target_option is not None and target is not None:
        pytest_args = (target, *pytest_args)  # with --target, every argument goes to pytest
    chosen = target_option if target_option is not None else target
    if not chosen:
        raise click.UsageError("name what to certify: --target TARGET (claims, a suite or all)")
    claims = _select(project, chosen)
    code = _run_pytest(
        project, [f"--opencode-certify={','.join(claims)}", *pytest_args], quiet=as_json
    )
    _finish("certify", project, claims, code, as_json, every_claim=True, target=chosen)


@click.command("refresh-proofs", context_settings=_PASSTHROUGH)
@_PROJECT
@_CLAIMS_DIR
@_MAX_AGE
@_SUITE
@_JSON
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def refresh_proofs(
    project: Path,
    claims_dir: Path | None,
    max_age: str | None,
    suite: str,
    as_json: bool,
    pytest_args: tuple[str, ...],
) -> None:
    """Re-run the proof packs of every claim of --suite that is not SUPPORTED, then show the
    status.

    {exit_codes}"""
    claims = _select(project, suite)
    statuses = [s for s in _statuses(project, claims_dir, max_age) if s.claim in claims]
    due = [status.claim for status in statuses if status.status is not Status.SUPPORTED]
    code = 0
    if due:
        if not as_json:
            click.echo(f"refreshing: {', '.join(due)}")
        extra = [f"--opencode-claims-dir={claims_dir}"] if claims_dir else []
        if max_age:
            extra.append(f"--opencode-max-age={max_age}")
        code = _run_pytest(
            project,
            [f"--opencode-certify={','.join(due)}", *extra, *pytest_args],
            quiet=as_json,
        )
    elif not as_json:
        click.echo("every claim is SUPPORTED; nothing to refresh")
    _finish(
        "refresh-proofs",
        project,
        claims,
        code,
        as_json,
        every_claim=suite != "all",
        suite=suite,
        refreshed=due,
        claims_dir=claims_dir,
        max_age=max_age,
    )


for _command in (burnin, certify, refresh_proofs):
    _command.help = (_command.help or "").format(exit_codes=_EXIT_CODES.strip())


def _select(project: Path, target: str) -> list[str]:
    """The claim names ``target`` names in the project's registry (a usage error otherwise)."""
    try:
        registry = load_registry(project.resolve() / DEFAULT_REGISTRY)
        return (registry or Registry()).select(target)
    except ClaimError as error:
        raise click.UsageError(str(error).replace("--opencode-certify: ", "")) from error


def _finish(
    command: str,
    project: Path,
    claims: list[str],
    pytest_code: int,
    as_json: bool,
    *,
    every_claim: bool,
    claims_dir: Path | None = None,
    max_age: str | None = None,
    **fields: object,
) -> NoReturn:
    """Print the claims' statuses after a run and exit with what they say."""
    statuses = _statuses(project, claims_dir, max_age)
    ran = [status for status in statuses if status.claim in claims]
    if every_claim:
        supported = all(status.status is Status.SUPPORTED for status in ran)
    else:
        supported = all_required_supported(statuses)
    code = run_exit_code(pytest_code, supported)
    if as_json:
        document = {
            "command": command,
            **fields,
            "claims": claims,
            "pytest_exit_code": pytest_code,
            "all_supported": supported,
            "exit_code": code,
            "statuses": [status.to_json() for status in ran],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(render_table(ran))
    sys.exit(code)


def run_exit_code(pytest_code: int, supported: bool) -> int:
    """The command's exit code from pytest's and the claims' state (see the commands' help).

    pytest's own failures (1) show in the claims; its usage error (4) is ours (2); an
    interrupted or broken run (2, 3) is 3.
    """
    if pytest_code == PytestExit.USAGE_ERROR:
        return 2
    if pytest_code in (PytestExit.INTERRUPTED, PytestExit.INTERNAL_ERROR):
        return 3
    return 0 if supported else 1


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


def _run_pytest(project: Path, args: list[str], *, quiet: bool = False) -> int:
    """Run pytest in the project folder with this interpreter; return its exit code.

    ``quiet`` keeps stdout for the JSON document: pytest's output is copied to stderr.
    """
    command = [sys.executable, "-m", "pytest", *args]
    click.echo("$ " + " ".join(["pytest", *args]), err=True)
    if not quiet:
        return subprocess.run(command, cwd=project, check=False).returncode
    done = subprocess.run(
        command, cwd=project, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    click.echo(done.stdout.decode("utf-8", "replace"), err=True, nl=False)
    return done.returncode
