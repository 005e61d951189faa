"""``codex-oss verify-log | show-summary | show-trace | audit-mission``: read the evidence.

Exit codes: 0 every check passed, 1 a check failed, 2 usage error (no such run or mission).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bridge.cli.options import json_option, project_option
from runtime.eventlog import (
    LOG_NAME,
    RUNS_DIR,
    MissionEventLog,
    load_events,
    run_log_path,
    verify_and_load,
)
from runtime.eventlog import verify_log as verify
from runtime.events import Event
from runtime.explain import explain
from runtime.patches.promotion import find_run_logs
from runtime.projections import (
    MISSION_SUMMARY,
    MISSIONS_DIR,
    RUN_RECORD,
    SUMMARY_MD,
    TRACE,
    check_drift,
    mission_dir,
    project_log,
    read_stamp,
    run_blobs,
)
from runtime.record import reduce
from runtime.recovery import RunBusy, own_run

_PROJECT = project_option("the project folder that holds .codex-oss/")


@click.command("verify-log")
@click.argument("target")
@_PROJECT
@json_option
def verify_log(target: str, project: Path, as_json: bool) -> None:
    """Check the hash chain of a run's log: TARGET is a run id, a run folder or a log file."""
    _recover(project)
    path = _log_path(project, target)
    result = verify(path)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    elif result.ok:
        click.echo(f"OK: {result.event_count} events, head {result.head_hash}")
    else:
        click.echo(f"FAILED: {len(result.problems)} problem(s) in {path.name}")
        for problem in result.problems:
            where = f"line {problem.line}" if problem.line else f"seq {problem.seq}"
            click.echo(f"  {problem.kind} ({where}): {problem.message}")
    sys.exit(0 if result.ok else 1)


@click.command("show-summary")
@click.argument("mission_id", required=False)
@_PROJECT
@json_option
def show_summary(mission_id: str | None, project: Path, as_json: bool) -> None:
    """Print a mission's summary (the most recent mission when MISSION_ID is left out)."""
    path = _projection(project, mission_id, MISSION_SUMMARY if as_json else SUMMARY_MD)
    click.echo(path.read_text(encoding="utf-8"), nl=False)


@click.command("show-trace")
@click.argument("mission_id", required=False)
@_PROJECT
@json_option
def show_trace(mission_id: str | None, project: Path, as_json: bool) -> None:
    """Print a mission's trace, one line per event (the most recent mission by default)."""
    lines = (
        _projection(project, mission_id, TRACE).read_text(encoding="utf-8").splitlines()[1:]
    )  # the first line is the stamp
    for line in lines:
        if as_json:
            click.echo(line)
            continue
        row = json.loads(line)
        detail = f"  {row['detail']}" if row.get("detail") else ""
        click.echo(f"{row['seq']:>5} {row['at'][11:23]} {row['type']:<24}{detail}")


@click.command("audit-mission")
@click.argument("mission_id")
@_PROJECT
@json_option
@click.option("--repair", is_flag=True, help="Re-render drifted projections from the log first.")
def audit_mission(mission_id: str, project: Path, as_json: bool, repair: bool) -> None:
    """Audit a mission: log chain, projection drift against the log, artifacts present."""
    _recover(project)
    try:
        directory = mission_dir(project, mission_id)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    log_path = _run_of_mission(project, mission_id, directory)
    checks = audit(project, mission_id, log_path)
    chain, drift = checks[0], checks[1]
    if repair and chain["ok"] and not drift["ok"]:  # the projections are caches of the log
        try:  # owned, so a running mission's fold never meets events it did not append
            with own_run(log_path), MissionEventLog.open(log_path) as log:
                project_log(project, log)  # appends ProjectionWritten, as promote does
        except RunBusy:
            raise click.ClickException(f"mission {mission_id} is still running") from None
        click.echo(f"repaired: {len(drift['problems'])} projection(s) re-rendered", err=True)
        checks = audit(project, mission_id, log_path)
    ok = all(check["ok"] for check in checks)
    if as_json:
        document = {"ok": ok, "mission_id": mission_id, "log": str(log_path), "checks": checks}
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(f"{'OK' if ok else 'FAILED'}: mission {mission_id}, run {log_path.parent.name}")
        for check in checks:
            click.echo(f"  [{'ok' if check['ok'] else 'FAIL'}] {check['name']}")
            for problem in check["problems"]:
                click.echo(f"      {problem}")
    sys.exit(0 if ok else 1)


def audit(project: Path, mission_id: str, log_path: Path) -> list[dict[str, Any]]:
    """The audit's checks, each ``{name, ok, problems}``; later checks need an intact chain."""
    verification, events = verify_and_load(log_path)
    chain = _check("log chain", [f"{p.kind}: {p.message}" for p in verification.problems])
    if not verification.ok:
        skipped = ["skipped: the log chain is broken, so nothing can be derived from it"]
        return [chain, _check("projection drift", skipped), _check("artifacts", skipped)]
    drifts = check_drift(project, mission_id, events)
    return [
        chain,
        _check("projection drift", [f"{d.name}: {d.kind}: {d.message}" for d in drifts]),
        _check("artifacts", _artifact_problems(project, mission_dir(project, mission_id), events)),
    ]


def _check(name: str, problems: list[str]) -> dict[str, Any]:
    return {"name": name, "ok": not problems, "problems": problems}


def _artifact_problems(project: Path, directory: Path, events: list[Event]) -> list[str]:
    """The blobs the log names for the patch must be on disk, intact (the patch artifacts are
    rendered from them); a closed run must have its run record."""
    record = reduce(events)
    validation = record.implementation.validation or {}
    named = [validation.get(key) for key in ("diff_sha256", "rollback_sha256")]
    found = run_blobs(project, events) if validation.get("ok") else {}
    problems = [
        f"the blob {digest} the log names is missing or changed"
        for digest in named
        if validation.get("ok") and digest and digest not in found
    ]
    if record.status not in {"empty", "running"} and not (directory / RUN_RECORD).is_file():
        problems.append(f"{RUN_RECORD} is missing for a closed run")
    return problems


def _recover(project: Path) -> None:
    """Close the runs a dead process left open before reading any (one line each, stderr)."""
    from runtime.recovery import recover_runs

    for run in recover_runs(project, closed_by="cli"):
        click.echo(f"recovered an interrupted run: {run.describe()}", err=True)


def _log_path(project: Path, target: str) -> Path:
    candidate = Path(target)
    if candidate.is_dir():
        candidate = candidate / LOG_NAME
    if candidate.is_file():
        return candidate
    path = _run_log(project, target)
    if path is None:
        raise click.UsageError(f"{target!r} is neither a log file nor a run id in {RUNS_DIR}")
    return path


def _run_log(project: Path, run_id: str) -> Path | None:
    """The log of run ``run_id`` when there is one (None for an invalid id too)."""
    try:
        path = run_log_path(project, run_id)
    except ValueError:
        return None
    return path if path.is_file() else None


def _projection(project: Path, mission_id: str | None, name: str) -> Path:
    """The projection ``name`` of the mission (the most recent by default), recovering first."""
    _recover(project)
    directory = _mission_folder(project, mission_id)
    if not (directory / name).is_file():
        raise click.UsageError(f"mission {directory.name} has no {name} yet")
    return directory / name


def _mission_folder(project: Path, mission_id: str | None) -> Path:
    if mission_id is not None:
        try:
            directory = mission_dir(project, mission_id)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        if not directory.is_dir():
            raise click.UsageError(f"no mission {mission_id!r} in {MISSIONS_DIR}")
        return directory
    root = project / MISSIONS_DIR
    candidates = [d for d in root.iterdir() if (d / RUN_RECORD).is_file()] if root.is_dir() else []
    if not candidates:
        raise click.UsageError(f"no mission with projections in {MISSIONS_DIR}")
    return max(candidates, key=lambda d: (d / RUN_RECORD).stat().st_mtime)


def _run_of_mission(project: Path, mission_id: str, directory: Path) -> Path:
    """The log the mission's projections name, else the newest run of that mission."""
    run_id = (read_stamp(directory / RUN_RECORD) or {}).get("run_id")
    path = _run_log(project, run_id) if isinstance(run_id, str) else None
    if path is not None:
        return path
    logs = find_run_logs(project, mission_id)
    if logs:
        return logs[0]
    raise click.UsageError(f"no run log of mission {mission_id!r} in {RUNS_DIR}")


@click.command("explain")
@click.argument("mission_id", required=False)
@_PROJECT
@json_option
def explain_mission(mission_id: str | None, project: Path, as_json: bool) -> None:
    """Say why a mission ended the way it did, from its log (the most recent by default)."""
    _recover(project)
    directory = _mission_folder(project, mission_id)
    log_path = _run_of_mission(project, directory.name, directory)
    record = reduce(load_events(log_path))
    lines = explain(record)
    if as_json:
        fields = {name: getattr(record, name) for name in ("mission_id", "run_id", "status")}
        click.echo(json.dumps(fields | {"lines": lines}, indent=2))
    else:
        click.echo("\n".join(lines))
