"""``codex-oss raw-probe`` and ``raw-claim-status``: prove raw ``ocg-*`` routes end to end."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bridge.cli.options import json_option, project_option

_PROJECT = project_option("the project whose bridge and settings the probe uses")


@click.command("raw-probe")
@click.argument("aliases", nargs=-1, metavar="[ALIAS]...")
@_PROJECT
@click.option("--timeout", type=float, default=120.0, show_default=True, help="seconds per probe")
@json_option
def raw_probe(aliases: tuple[str, ...], project: Path, timeout: float, as_json: bool) -> None:
    """Probe each raw ALIAS (default: every ocg-* alias the registry offers) end to end.

    One short streamed Responses request goes through the project's running bridge (or a
    bridge served for the probe when none runs) to the upstream model; the outcome is recorded
    in .codex-oss/raw_probes/ALIAS.json for raw-claim-status. Exit 0 when every probe passed,
    1 when one failed, 2 for an alias that is not a raw route.
    """
    from bridge.daemon import bridge_settings
    from bridge.raw_probe import RawProbeError, probe_raw_alias

    settings = bridge_settings(project)
    chosen = list(aliases) or _raw_aliases(settings)
    records = []
    for alias in chosen:
        try:
            records.append(probe_raw_alias(project, alias, settings, timeout=timeout))
        except RawProbeError as exc:
            raise click.UsageError(str(exc)) from None
        if not as_json:
            record = records[-1]
            click.echo(
                f"{record.status.upper():4}  {alias} -> {record.upstream_model} "
                f"({record.elapsed_seconds:.1f}s, {record.via}): {record.detail}"
            )
    if as_json:
        click.echo(json.dumps([record.to_json() for record in records], indent=2))
    raise SystemExit(0 if all(record.status == "pass" for record in records) else 1)


@click.command("raw-claim-status")
@click.argument("aliases", nargs=-1, metavar="[ALIAS]...")
@_PROJECT
@click.option(
    "--max-age-days", type=click.IntRange(1, None), default=7, show_default=True,
    help="a probe older than this is STALE",
)  # fmt: skip
@json_option
def raw_claim_status(
    aliases: tuple[str, ...], project: Path, max_age_days: int, as_json: bool
) -> None:
    """Show each raw ALIAS (default: every ocg-* alias, plus any probed) as SUPPORTED, STALE,
    FAILING or MISSING, from the records raw-probe wrote.

    Exit 0 only when every alias shown is SUPPORTED.
    """
    from datetime import timedelta

    from bridge.daemon import bridge_settings
    from bridge.raw_probe import raw_claim_status as statuses_of

    chosen = list(aliases) or _raw_aliases(bridge_settings(project))
    statuses = statuses_of(project, chosen, max_age=timedelta(days=max_age_days))
    if aliases:
        statuses = [status for status in statuses if status.alias in aliases]
    ok = all(status.status == "SUPPORTED" for status in statuses)
    if as_json:
        document = {"all_supported": ok, "aliases": [status.to_json() for status in statuses]}
        click.echo(json.dumps(document, indent=2))
    else:
        width = max((len(status.alias) for status in statuses), default=0)
        for status in statuses:
            click.echo(f"{status.status:9}  {status.alias:{width}}  {status.why}")
    raise SystemExit(0 if ok else 1)


def _raw_aliases(settings) -> list[str]:  # type: ignore[no-untyped-def]
    from runtime.registry import ModelRegistry

    registry = ModelRegistry(settings)
    return [alias for alias in registry.aliases() if registry.resolve(alias).kind == "raw"]
