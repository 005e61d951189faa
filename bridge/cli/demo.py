"""``codex-oss demo``: the no-account main job, shown live on the terminal.

The work is in :mod:`bridge.demo`; this module only draws it: a spinner carrying the latest
commentary line while the mission runs, each line kept above it, then the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bridge.cli.options import project_option

STATUS_STYLE = {
    "COMPLETE": "bold green",
    "PARTIAL": "bold yellow",
    "ESCALATE": "bold magenta",
    "FAILED": "bold red",
}
MAX_SHOWN = 8


@click.command("demo")
@project_option("the project to investigate")
@click.option(
    "--profile",
    default="local",
    show_default=True,
    help="Model profile: local (no account), or kimi/deepseek/flash with OPENCODE_GO_API_KEY.",
)
@click.option("--objective", default=None, help="What to find out (default: derived).")
@click.option(
    "--path",
    "paths",
    multiple=True,
    help="A project-relative path the mission may read (repeatable; default: README and "
    "manifest files).",
)
@click.option(
    "--time-budget",
    type=click.IntRange(10, 180),
    default=None,
    help="The mission's time budget in seconds (A2 allows up to 180; default 16).",
)
def demo(
    project: Path,
    profile: str,
    objective: str | None,
    paths: tuple[str, ...],
    time_budget: int | None,
) -> None:
    """Run a real read-only investigation of a project through the bridge.

    Starts the local model and a bridge when needed (and stops what it started), streams the
    runtime's commentary, then prints the evidence-backed report with whatever honest status
    it earned and where its artifacts are. Exit 0 when the runtime closed the mission with a
    report (whatever its status), 1 when the demo could not run.
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from bridge.demo import DEFAULT_TIME_BUDGET_SECONDS, DemoError, DemoOptions, run_demo
    from runtime.mission import MissionContractError

    console = Console(highlight=False)
    root = project
    options = DemoOptions(
        project=root,
        profile=profile,
        objective=objective,
        paths=paths,
        time_budget_seconds=time_budget or DEFAULT_TIME_BUDGET_SECONDS,
    )
    console.print(f"[bold]codex-oss demo[/] — investigating [cyan]{root}[/] with profile {profile}")
    # A spinner, the latest line and a running clock; every line also stays above it.
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TextColumn(f"[dim](mission budget {options.time_budget_seconds} s)[/]"),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("preparing ...", total=None)

        def stage(text: str) -> None:
            console.print(f"[dim]•[/] {text}")
            progress.update(task, description=text)

        def commentary(text: str) -> None:
            console.print(f"  [cyan]>[/] {text}")
            progress.update(task, description=text)

        try:
            result = run_demo(options, on_commentary=commentary, on_stage=stage)
        except (DemoError, MissionContractError) as exc:
            progress.stop()
            console.print(f"[bold red]demo failed:[/] {exc}")
            raise SystemExit(1) from None
    render_result(console, result)


def render_result(console: Any, result: Any) -> None:
    """Print a :class:`~bridge.demo.DemoResult`: status, findings, closure, artifacts."""
    from rich.panel import Panel
    from rich.table import Table

    report = result.report
    closure = report.get("closure") or {}
    style = STATUS_STYLE.get(result.status, "bold")
    head = Table.grid(padding=(0, 2))
    head.add_row("status", f"[{style}]{result.status}[/]")
    head.add_row("confidence", str(report.get("confidence", "?")))
    head.add_row(
        "closed by",
        f"{closure.get('closed_by', '?')}: {closure.get('reason', '?')}"
        + (f" — {closure['detail']}" if closure.get("detail") else ""),
    )
    head.add_row("files read", ", ".join(report.get("files_inspected") or []) or "none")
    head.add_row("wall time", f"{result.elapsed_seconds:.1f} s")
    console.print(Panel(head, title=f"mission {result.mission['mission_id']}", expand=False))

    findings = report.get("findings") or []
    if findings:
        table = Table(title="findings", show_lines=False)
        table.add_column("claim")
        table.add_column("evidence")
        table.add_column("conf.")
        for finding in findings[:MAX_SHOWN]:
            refs = "\n".join(finding.get("evidence_refs") or []) or "[red]none[/]"
            table.add_row(str(finding.get("claim", "")), refs, str(finding.get("confidence", "")))
        console.print(table)
    else:
        console.print("[yellow]no finding was accepted[/] (the runtime keeps only evidenced ones)")
    for rejected in (report.get("rejected_findings") or [])[:MAX_SHOWN]:
        claim = " ".join(str(rejected.get("claim", "")).split())[:80]
        console.print(f"[dim]rejected:[/] {claim!r}: {rejected.get('reason', '')}")
    for key, label in (("uncertainties", "uncertain"), ("caveats", "caveat")):
        for line in (report.get(key) or [])[:MAX_SHOWN]:
            console.print(f"[dim]{label}:[/] {line}")
    if report.get("escalation_recommendation"):
        console.print(f"[dim]next step:[/] {report['escalation_recommendation']}")

    # soft_wrap: a path broken across lines cannot be copied.
    console.print(f"artifacts: {result.artifacts}/ (report.json, summary.md, ...)", soft_wrap=True)
    if result.run_log is not None:
        console.print(f"event log: {result.run_log}", soft_wrap=True)
        project = result.artifacts.parents[2]
        console.print(
            f"audit it:  codex-oss verify-log {result.run_id} --project {project}", soft_wrap=True
        )
    left = "nothing else was running" if not result.started else ", ".join(result.started)
    console.print(f"[dim]stopped what the demo started ({left}); the demo's bridge is gone[/]")
