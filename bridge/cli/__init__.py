"""``codex-oss``: the command line. Each command group lives in its own module, loaded lazily
so that ``codex-oss verify-log`` does not import the HTTP server, and ``codex-oss --help``
imports none of them (the command list is printed from ``SUMMARIES``)."""

from __future__ import annotations

import importlib
import sys

import click

# command name -> "module:attribute"; the module is imported only when the command runs.
COMMANDS: dict[str, str] = {
    "claim-status": "bridge.cli.proofs:claim_status",
    "burnin": "bridge.cli.proofs:burnin",
    "refresh-proofs": "bridge.cli.proofs:refresh_proofs",
    "certify": "bridge.cli.proofs:certify",
    "mission": "bridge.cli.mission:mission",
    "validate-handoff": "bridge.cli.mission:validate_handoff",
    "verify-log": "bridge.cli.audit:verify_log",
    "show-summary": "bridge.cli.audit:show_summary",
    "audit-mission": "bridge.cli.audit:audit_mission",
    "explain": "bridge.cli.audit:explain_mission",
    "show-trace": "bridge.cli.audit:show_trace",
    "install": "bridge.cli.install:install",
    "print-bridge-key": "bridge.cli.install:print_bridge_key",
    "mcp": "bridge.cli.mcp:mcp",
    "local-model": "bridge.cli.local_model:local_model",
    "scripted-upstream": "bridge.cli.scripted:scripted_upstream",
    "up": "bridge.cli.server:up",
    "start": "bridge.cli.start:start",
    "stop": "bridge.cli.server:stop",
    "restart": "bridge.cli.server:restart",
    "status": "bridge.cli.server:status",
    "doctor": "bridge.cli.server:doctor",
    "demo": "bridge.cli.demo:demo",
    "smoke": "bridge.cli.smoke:smoke",
    "promote": "bridge.cli.patches:promote",
    "rollback": "bridge.cli.patches:rollback",
    "usage": "bridge.cli.usage:usage",
    "scorecard": "bridge.cli.usage:scorecard",
    "raw-probe": "bridge.cli.raw_probe:raw_probe",
    "raw-claim-status": "bridge.cli.raw_probe:raw_claim_status",
    "app-server-probe": "bridge.cli.app_server:app_server_probe",
    "app-server-visible-commentary-probe": "bridge.cli.app_server:visible_commentary_probe",
    "app-server-pre-final-text-probe": "bridge.cli.app_server:pre_final_text_probe",
}

# command name -> the one line ``codex-oss --help`` shows; kept here so listing the commands
# imports nothing (tests/bridge/test_cli_help.py checks each against the command's own help).
SUMMARIES: dict[str, str] = {
    "claim-status": "Show each claim as SUPPORTED, STALE, FAILING or MISSING, and why.",
    "burnin": "Run the proof packs of a suite and write the claim artifacts.",
    "refresh-proofs": "Re-run the proof packs of every claim that is not SUPPORTED.",
    "certify": "Run the proof packs of a target (claims or a suite) and write artifacts.",
    "mission": "Write, check, compile and run MissionV1 contracts.",
    "validate-handoff": "Check the handoff block in a file (a text, body or input list).",
    "verify-log": "Check the hash chain of a run's event log.",
    "show-summary": "Print a mission's summary.",
    "audit-mission": "Audit a mission: log chain, projection drift, artifacts.",
    "explain": "Say why a mission ended the way it did, from its log.",
    "show-trace": "Print a mission's trace, one line per event.",
    "install": "Wire a project to the bridge: MCP server, agent roles, provider, key, catalog.",
    "print-bridge-key": "Print the project's local bridge key.",
    "mcp": "Serve run_mission and the evidence tools over stdio (Model Context Protocol).",
    "local-model": "Run the local open-source model for the `local` profile.",
    "scripted-upstream": "Serve a scripted chat-completions upstream for test rigs.",
    "up": "Serve the bridge (foreground unless --daemon).",
    "start": "Start the bridge as a daemon (the same as up --daemon).",
    "stop": "Stop the project's bridge.",
    "restart": "Stop the bridge if it runs, then start it as a daemon.",
    "status": "Say whether the bridge runs and whether its code is current.",
    "doctor": "Check config, keys, port, the running bridge, the Codex wiring, the upstream.",
    "demo": "Run a real read-only investigation of a project through the bridge.",
    "smoke": "End-to-end smoke checks in a temporary project.",
    "promote": "Apply a mission's verified patch to the workspace.",
    "rollback": "Undo a mission's promoted patch.",
    "usage": "Tokens per mission and profile, GPT review cost and delegation value.",
    "scorecard": "Capability scorecards per profile; reset one that lost a tier.",
    "raw-probe": "Probe raw ocg-* routes end to end through a bridge and record the result.",
    "raw-claim-status": "Show which raw ocg-* routes a fresh probe proves.",
    "app-server-probe": "Check that commentary reaches codex app-server before the final.",
    "app-server-visible-commentary-probe": "The app-server probe on a real bridge mission.",
    "app-server-pre-final-text-probe": "The app-server probe on the bare text channel.",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``SUMMARIES``; a command missing there is imported."""
        rows = []
        for name in self.list_commands(ctx):
            summary = SUMMARIES.get(name)
            if summary is None:
                command = self.get_command(ctx, name)
                summary = command.get_short_help_str(limit=80) if command else ""
            rows.append((name, summary))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a bad setting is one line on stderr and exit 2, not a traceback."""
        try:
            return super().invoke(ctx)
        except ValueError as exc:
            # runtime.settings is imported only by commands that read settings; without it
            # loaded, this cannot be a settings error (and start-up stays light).
            settings = sys.modules.get("runtime.settings")
            if settings is None or not isinstance(exc, settings.SettingsInvalid):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opencode-bridge", prog_name="codex-oss")
def main() -> None:
    """Govern open-source subagents for Codex: bridge, missions, evidence and proofs.

    Exit codes: 0 ok, 1 a check failed, 2 usage error.
    """
