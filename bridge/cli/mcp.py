"""``codex-oss mcp``: serve the mission tools to an MCP client (Codex) on stdin/stdout."""

from __future__ import annotations

from pathlib import Path

import click

from bridge.cli.options import project_option


@click.command("mcp")
@project_option("the project missions run in; Codex starts the server in the session's folder")
def mcp(project: Path) -> None:
    """Serve run_mission and the evidence tools over stdio (Model Context Protocol).

    Codex starts this from [mcp_servers.opencode_bridge] in its config.toml, which
    `codex-oss install` writes. Missions go to the project's bridge, started on demand.
    """
    import anyio

    from bridge.mcp_server import serve_stdio

    anyio.run(serve_stdio, project)
