"""``codex-oss mission template|compile|schema`` and ``codex-oss validate-handoff``.

Exit codes: 0 the input is a valid mission, 1 it is not (the errors name each field), 2 usage.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from bridge.cli.mission_run import run_command
from bridge.cli.options import json_option
from runtime.handoff import (
    CLOSE_TAG,
    OPEN_TAG,
    HandoffError,
    extract_handoff_from_items,
    extract_handoff_from_text,
)
from runtime.mission import (
    PATCH_TIERS,
    CompiledMission,
    MissionContractError,
    Tier,
    compile_mission,
    mission_json_schema,
    template,
)


@click.group("mission")
def mission() -> None:
    """Write, check and describe MissionV1 contracts."""


@mission.command("template")
@click.option(
    "--tier", required=True, type=click.Choice([t.value for t in Tier]), help="mission tier"
)
@click.option("--objective", default="Describe what the mission must find or change.")
@click.option("--mission-id", default="mission-1", show_default=True)
@click.option("--root", "roots", multiple=True, help="allowed root (repeatable; default .)")
@click.option(
    "--owned-path", "owned", multiple=True, help="path the patch may change (A4+, repeatable)"
)
@click.option("--handoff", is_flag=True, help="wrap the JSON in a handoff block")
def template_command(
    tier: str,
    objective: str,
    mission_id: str,
    roots: tuple[str, ...],
    owned: tuple[str, ...],
    handoff: bool,
) -> None:
    """Print a valid MissionV1 document for --tier with its defaults spelled out."""
    chosen = Tier(tier)
    if chosen in PATCH_TIERS and not owned:
        raise click.UsageError(f"tier {tier} needs at least one --owned-path")
    if chosen not in PATCH_TIERS and owned:
        raise click.UsageError("--owned-path is only for tiers A4 and above")
    fields: dict[str, Any] = {}
    if roots:
        fields["allowed_roots"] = list(roots)
    if owned:
        fields["owned_paths"] = list(owned)
    document = template(chosen, objective, mission_id, **fields)
    try:
        compile_mission(document)
    except MissionContractError as exc:
        raise click.UsageError(str(exc)) from None
    text = json.dumps(document, indent=2)
    click.echo(f"{OPEN_TAG}\n{text}\n{CLOSE_TAG}" if handoff else text)


@mission.command("compile")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--handoff",
    is_flag=True,
    help="print the compiled mission as a handoff block, ready to paste into a worker prompt",
)
@click.option(
    "--from-handoff",
    is_flag=True,
    help="FILE is a request text or body holding a handoff block, not mission JSON",
)
@click.option("--json", "as_json", is_flag=True, help="print the compiled mission as JSON")
def compile_command(file: Any, handoff: bool, from_handoff: bool, as_json: bool) -> None:
    """Validate FILE as MissionV1 ('-' for stdin) and resolve its budgets against the tier.

    With --handoff, print the compiled mission (budgets resolved) between the handoff tags.
    Exit 0 valid, 1 invalid (the errors name each field), 2 usage.
    """
    if handoff and as_json:
        raise click.UsageError("--handoff and --json print different things; choose one")
    text = file.read()
    try:
        data = _handoff_of(text) if from_handoff else _json_of(text, as_json)
    except HandoffError as exc:
        _fail(as_json, "handoff", exc.code, [exc.message])
    _report_compiled(data, as_json, handoff=handoff)


@mission.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of MissionV1."""
    click.echo(json.dumps(mission_json_schema(), indent=2))


@click.command("validate-handoff")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@json_option
def validate_handoff(file: Any, as_json: bool) -> None:
    """Check the handoff in FILE ('-' for stdin): a text, a Responses body or an input list.

    Exit 0 when it holds exactly one block with a valid mission, 1 otherwise.
    """
    try:
        data = _handoff_of(file.read())
    except HandoffError as exc:
        _fail(as_json, "handoff", exc.code, [exc.message])
    _report_compiled(data, as_json)


def _handoff_of(text: str) -> dict[str, Any]:
    """The handoff of a plain text, a Responses request body, or a list of input items."""
    stripped = text.lstrip()
    if stripped[:1] in "[{":
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict) and "input" in document:
            return extract_handoff_from_items(document["input"])
        if isinstance(document, list):
            return extract_handoff_from_items(document)
    return extract_handoff_from_text(text)


def _json_of(text: str, as_json: bool) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        _fail(as_json, "mission", "malformed_json", [f"the file is not JSON: {exc}"])


def _report_compiled(data: Any, as_json: bool, handoff: bool = False) -> NoReturn:
    try:
        compiled = compile_mission(data)
    except MissionContractError as exc:
        _fail(as_json, "mission", "invalid_mission", exc.errors)
    if handoff:
        document = compiled.mission.model_dump(mode="json", exclude_none=True)
        click.echo(f"{OPEN_TAG}\n{json.dumps(document, indent=2)}\n{CLOSE_TAG}")
    elif as_json:
        click.echo(json.dumps({"ok": True, **compiled.model_dump(mode="json")}, indent=2))
    else:
        click.echo(_describe(compiled))
    sys.exit(0)


def _describe(compiled: CompiledMission) -> str:
    mission = compiled.mission
    lines = [
        f"OK: mission {mission.mission_id} ({mission.tier.value}, {mission.effective_mode.value})",
        f"  scope: {', '.join([*mission.allowed_roots, *mission.allowed_paths])}",
        f"  tools: {', '.join(c.value for c in mission.allowed_tool_classes)}",
        f"  budgets: tools {mission.tool_budget}, model calls {mission.max_model_calls}, "
        f"{mission.time_budget_seconds}s",
    ]
    if mission.owned_paths:
        lines.append(f"  owned: {', '.join(mission.owned_paths)}")
    for clamp in compiled.clamps:
        if clamp.reason == "tier_cap":
            lines.append(f"  clamped {clamp.field}: {clamp.requested} -> {clamp.applied}")
    return "\n".join(lines)


def _fail(as_json: bool, stage: str, code: str, errors: list[str]) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "stage": stage, "code": code, "errors": errors}))
    else:
        click.echo(f"INVALID {stage} ({code}):", err=True)
        for error in errors:
            click.echo(f"  {error}", err=True)
    sys.exit(1)


mission.add_command(run_command)
