"""``codex-oss usage`` and ``codex-oss scorecard``: what delegation cost and how profiles did.

Exit codes: 0 ok (an empty project prints an empty table), 2 usage error.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from bridge.cli.options import json_option, project_option

_PROJECT = project_option("the project whose missions to count")


@click.command("usage")
@_PROJECT
@json_option
def usage(project: Path, as_json: bool) -> None:
    """Tokens per mission and profile, GPT review cost and delegation value.

    OSS tokens are the upstream's own counts; the review cost and the displaced tokens on the
    parent's side are estimates under the model in runtime/usage.py (4 characters a token),
    printed with the result.
    """
    from runtime.scorecard import closed_records
    from runtime.usage import CHARS_PER_TOKEN, TOKENS_PER_TOOL_TURN, mission_usage

    missions = [mission_usage(record) for record in closed_records(project)]
    profiles: dict[str, Counter[str]] = {}
    for item in missions:
        totals = profiles.setdefault(item.profile or "?", Counter())
        totals.update(
            missions=1,
            oss_input_tokens=item.oss_input_tokens,
            oss_output_tokens=item.oss_output_tokens,
            gpt_review_tokens=item.gpt_review_tokens,
            gpt_displaced_tokens=item.gpt_displaced_tokens,
            **{f"value_{item.delegation_value}": 1},
        )
    if as_json:
        body = {
            "missions": [item.model_dump(mode="json") for item in missions],
            "profiles": {name: dict(totals) for name, totals in sorted(profiles.items())},
            "model": {
                "chars_per_token": CHARS_PER_TOKEN,
                "tokens_per_tool_turn": TOKENS_PER_TOOL_TURN,
            },
        }
        click.echo(json.dumps(body, indent=2, sort_keys=True))
        return
    if not missions:
        click.echo("no finished missions in this project yet")
        return
    for item in missions:
        click.echo(
            f"{item.mission_id}  {item.tier} {item.profile}  {item.status}  "
            f"oss {item.oss_input_tokens}+{item.oss_output_tokens} tok  "
            f"gpt review ~{item.gpt_review_tokens} / displaced ~{item.gpt_displaced_tokens}  "
            f"{item.delegation_value}"
        )
    for name, totals in sorted(profiles.items()):
        click.echo(
            f"profile {name}: {totals['missions']} missions, oss "
            f"{totals['oss_input_tokens']}+{totals['oss_output_tokens']} tok, gpt review "
            f"~{totals['gpt_review_tokens']} vs displaced ~{totals['gpt_displaced_tokens']}; "
            f"value good {totals['value_good']} / marginal {totals['value_marginal']} / "
            f"poor {totals['value_poor']}"
        )


@click.command("scorecard")
@click.argument("profile", required=False)
@_PROJECT
@json_option
@click.option("--rebuild", is_flag=True, help="Fold every run log afresh before showing.")
@click.option("--reset", "reset", is_flag=True, help="Forget PROFILE's record (admits it again).")
def scorecard(
    profile: str | None, project: Path, as_json: bool, rebuild: bool, reset: bool
) -> None:
    """Capability scorecards per profile; reset one that lost a tier.

    Missions by tier and status, COMPLETE precision, repairs, denials, delegation value.
    Admission refuses a tier a profile has lost here.
    """
    from runtime.scorecard import (
        MIN_MISSIONS,
        MIN_PRECISION,
        read_scorecards,
        rebuild_scorecards,
        reset_scorecard,
    )

    if reset:
        if not profile:
            raise click.UsageError("--reset needs the PROFILE to forget")
        try:
            existed = reset_scorecard(project, profile)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="PROFILE") from None
        click.echo(f"{'reset' if existed else 'no scorecard for'} {profile}")
        return
    if rebuild:
        rebuild_scorecards(project)
    cards = [c for c in read_scorecards(project) if profile in (None, c.profile)]
    if as_json:
        click.echo(json.dumps([card.summary() for card in cards], indent=2, sort_keys=True))
        return
    if not cards:
        click.echo("no scorecards yet: they are written as missions close")
        return
    click.echo(
        f"(a tier is judged after {MIN_MISSIONS} missions; "
        f"COMPLETE precision below {MIN_PRECISION} loses it)"
    )
    for card in cards:
        if card.canaries:
            matched = sum(card.canaries.values())
            click.echo(
                f"{card.profile} canaries (burn-in replays): {matched}/{len(card.canaries)} "
                "reach their reviewed status"
            )
        for tier, score in sorted(card.tiers.items()):
            precision = score.complete_precision
            shown = "n/a" if precision is None else f"{precision:.2f}"
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(score.by_status.items()))
            click.echo(
                f"{card.profile} {tier}: {score.missions} missions ({statuses}); COMPLETE "
                f"precision {shown}; repairs {score.repairs}, invalid {score.invalid_actions}, "
                f"denials {score.denials}, fallbacks {score.fallbacks}"
            )
