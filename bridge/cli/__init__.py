"""``codex-oss``: the command line. Each command group lives in its own module, loaded lazily
so that ``codex-oss verify-log`` does not import the HTTP server."""

from __future__ import annotations

import importlib

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
    "local-model": "bridge.cli.local_model:local_model",
    "scripted-upstream": "bridge.cli.scripted:scripted_upstream",
    "up": "bridge.cli.server:up",
    "stop": "bridge.cli.server:stop",
    "restart": "bridge.cli.server:restart",
    "status": "bridge.cli.server:status",
    "doctor": "bridge.cli.server:doctor",
    "demo": "bridge.cli.demo:demo",
    "smoke": "bridge.cli.smoke:smoke",
    "promote": "bridge.cli.patches:promote",
    "rollback": "bridge.cli.patches:rollback",
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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opencode-bridge", prog_name="codex-oss")
def main() -> None:
    """Govern open-source subagents for Codex: bridge, missions, evidence and proofs.

    Exit codes: 0 ok, 1 a check failed, 2 usage error.
    """
