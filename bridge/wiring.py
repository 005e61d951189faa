"""What the user's Codex config wires to the bridge, checked the way Codex would use it.

``doctor`` asks three things here: is the MCP server registered and does it start and list
its tools (the path a GPT parent delegates by); does the provider block point at the bridge
that actually runs (the path of sessions whose own model is an OSS alias); and which of the
two paths a GPT parent can use. A spawned role's requests go to the parent's provider in
Codex 0.169.0 (openai/codex#40858), so a GPT parent never reaches the bridge by
``spawn_agent``: doctor says so instead of implying otherwise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.install import (
    AGENTS_DIR,
    MCP_SERVER_ID,
    PROVIDER_ID,
    default_auth_command,
    installed_port,
    port_of,
)

__all__ = [
    "CodexWiring",
    "McpProbe",
    "config_mismatches",
    "default_codex_home",
    "probe_mcp_server",
    "read_wiring",
]

ROLE_ROUTING_BUG = "openai/codex#40858"
PROBE_TIMEOUT_SECONDS = 20.0


def default_codex_home() -> Path:
    """``$CODEX_HOME``, else ``~/.codex`` (where Codex reads its user config)."""
    return Path(os.environ.get("CODEX_HOME") or "~/.codex").expanduser()


@dataclass(frozen=True)
class CodexWiring:
    """The bridge's entries in the user's Codex config (None where absent)."""

    config_path: Path
    provider_base_url: str | None
    mcp_server: dict[str, Any] | None
    error: str | None = None


def read_wiring(codex_home: Path) -> CodexWiring:
    """The provider block and the MCP registration in ``codex_home``'s config.toml."""
    path = codex_home / "config.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return CodexWiring(path, None, None)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return CodexWiring(path, None, None, error=f"{path} cannot be read: {exc}")
    provider = (data.get("model_providers") or {}).get(PROVIDER_ID)
    server = (data.get("mcp_servers") or {}).get(MCP_SERVER_ID)
    base_url = provider.get("base_url") if isinstance(provider, dict) else None
    return CodexWiring(
        path,
        base_url if isinstance(base_url, str) else None,
        server if isinstance(server, dict) else None,
    )


@dataclass(frozen=True)
class McpProbe:
    """What starting the registered server gave: its tools, or why it failed."""

    ok: bool
    detail: str
    tools: tuple[str, ...] = ()


def probe_mcp_server(server: dict[str, Any], project: Path) -> McpProbe:
    """Start the registered server as Codex would (in ``project``) and list its tools."""
    command = server.get("command")
    if not isinstance(command, str) or not command:
        return McpProbe(False, "the registration has no command; run 'codex-oss install'")
    resolved = shutil.which(command)
    if resolved is None:
        return McpProbe(
            False,
            f"command {command!r} does not exist or is not executable; run "
            "'codex-oss install' again from the environment that has codex-oss",
        )
    args = server.get("args") or []
    try:
        tools = asyncio.run(
            asyncio.wait_for(_list_tools(resolved, list(args), project), PROBE_TIMEOUT_SECONDS)
        )
    except Exception as exc:  # a server that does not start says so in any way it likes
        return McpProbe(
            False,
            f"'{command} {' '.join(args)}' did not list its tools: {type(exc).__name__}: {exc}",
        )
    return McpProbe(True, f"'{command} {' '.join(args)}' lists {len(tools)} tools", tuple(tools))


async def _list_tools(command: str, args: list[str], project: Path) -> list[str]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=command, args=args, env=dict(os.environ), cwd=str(project)
    )
    with open(os.devnull, "w") as quiet:
        async with (
            stdio_client(params, errlog=quiet) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return [tool.name for tool in (await session.list_tools()).tools]


def delegation_paths(project: Path, mcp_ok: bool) -> tuple[str, str]:
    """(status, detail) of which delegation paths are wired for a GPT parent and for roles."""
    roles = sorted(p.stem for p in (project / AGENTS_DIR).glob("oss_*.toml"))
    gpt = (
        "GPT parent -> run_mission (MCP server opencode_bridge): wired"
        if mcp_ok
        else "GPT parent -> run_mission: NOT wired (run 'codex-oss install')"
    )
    role_text = (
        f"agent roles ({', '.join(roles)}): only for sessions whose own model is an OSS alias "
        f"on the bridge provider; a GPT parent's spawn_agent does not reach the bridge "
        f"(Codex 0.169.0 sends the child's request to the parent's provider, {ROLE_ROUTING_BUG})"
        if roles
        else "agent roles: not installed in this project"
    )
    return ("ok" if mcp_ok else "warn"), f"{gpt}; {role_text}"


def config_mismatches(
    project: Path, wiring: CodexWiring, running_port: int | None
) -> list[tuple[str, str, str]]:
    """(name, status, detail) of each place the Codex config and the bridge disagree, with the
    command that fixes it; ``running_port`` is the port this project's bridge serves (None:
    not running)."""
    found: list[tuple[str, str, str]] = []

    def provider(status: str, detail: str) -> None:
        found.append(("codex provider", status, detail))

    url = wiring.provider_base_url
    if url is None:
        provider(
            "warn",
            f"no [model_providers.{PROVIDER_ID}] in {wiring.config_path}: sessions on an "
            f"OSS alias cannot reach the bridge; run 'codex-oss install --project {project}'",
        )
    else:
        wanted = port_of(url)
        installed = installed_port(project)
        if running_port is not None and wanted is not None and running_port != wanted:
            provider(
                "fail",
                f"Codex's provider points at {url}, but this project's bridge serves port "
                f"{running_port}: run 'codex-oss restart --project {project} --port {wanted}'",
            )
        elif installed is not None and wanted is not None and installed != wanted:
            provider(
                "warn",
                f"Codex's provider points at {url}, but this project was installed for port "
                f"{installed} (another project's install moved it?): run 'codex-oss install "
                f"--project {project} --port {wanted}' to serve where Codex looks",
            )
        else:
            where = f"served (port {running_port})" if running_port else "'codex-oss up' serves it"
            provider("ok", f"Codex's provider points at {url}; {where}")
    registered = (wiring.mcp_server or {}).get("command")
    here = default_auth_command()
    if isinstance(registered, str) and registered != here:
        found.append(
            (
                "codex mcp command",
                "warn",
                f"Codex starts the MCP server as {registered!r}, not this environment's "
                f"{here!r}: run 'codex-oss install --project {project}' from the "
                "environment you want Codex to use",
            )
        )
    return found
