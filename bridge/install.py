"""``codex-oss install``: wire a Codex project to the bridge, idempotently.

Planning is pure: :func:`plan_install` turns the project's current file texts into the texts
it should have (config provider block, role files, AGENTS.md section, .gitignore lines, bridge
key, install manifest). :func:`read_project` and :func:`apply_plan` are the thin I/O around it,
and :func:`install` runs all three. A second install plans no change, so it writes nothing.

The provider block goes into the user-level Codex config (``$CODEX_HOME/config.toml``, by
default ``~/.codex/config.toml``): Codex 0.169.0 ignores ``model_providers`` in a project's
``.codex/config.toml`` (and warns about it on every start), so a block there would never be
used. Its auth command finds the key of the project Codex runs in, so one block serves every
installed project. It never sets a top-level ``model_provider``: only the role files select
the bridge, so the user's own Codex sessions keep their model.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError
from tomlkit.items import AoT, Table

from bridge.agents_md import AgentsMdError, merge_agents_md
from bridge.bridge_key import BRIDGE_KEY_FILE, generate_bridge_key
from bridge.codex_catalog import plan_codex_catalog
from runtime.canonical import tagged_sha256

PROVIDER_ID = "opencode_bridge"
MCP_SERVER_ID = "opencode_bridge"  # Codex shows its tools to the model as mcp__opencode_bridge
CONFIG_FILE = ".codex/config.toml"  # the project's Codex config (only cleaned, never extended)
USER_CONFIG = "$CODEX_HOME/config.toml"  # where the provider block goes
AGENTS_DIR = ".codex/agents"
AGENTS_MD = "AGENTS.md"
GITIGNORE = ".gitignore"
MANIFEST_FILE = ".codex-oss/install-manifest.json"
KEY_FILE = BRIDGE_KEY_FILE.as_posix()
KEY_MODE = 0o600
GITIGNORE_LINES = (
    "# codex-oss: bridge keys, run logs, missions and worktrees (never commit)",
    ".codex-oss/",
)
# The bridge sends a response.in_progress heartbeat about every 10 s; two minutes of silence
# means the bridge is gone, not that a model is slow.
STREAM_IDLE_TIMEOUT_MS = 120_000
# One retry covers a bridge that is still binding its port. A stream is never retried: a
# retried stream re-sends the request and would start the whole mission again.
REQUEST_MAX_RETRIES = 1
STREAM_MAX_RETRIES = 0
AUTH_TIMEOUT_MS = 10_000
# Codex stops waiting for an MCP server's tool list after this; ours answers in about a second.
MCP_STARTUP_TIMEOUT_SEC = 30
# Longer than the longest A5 mission (time budget cap 900 s) plus verification and queueing;
# Codex's default (60 s) would cancel most missions half-way.
MCP_TOOL_TIMEOUT_SEC = 1500
# Tools that change the workspace keep Codex's approval prompt; the rest run unasked, since
# `codex exec` never prompts and an unapproved call only tells the model it needs approval.
MCP_PROMPTED_TOOLS = ("promote_patch", "rollback_patch")
# The user's own OpenAI settings stay with Codex; the bridge needs them only for an opt-in
# GPT passthrough, which an MCP-started bridge does not serve.
NOT_PASSED_TO_MCP = frozenset({"OPENAI_API_KEY", "OPENAI_BASE_URL"})
# Keys that conflict with command auth (Codex refuses a provider with both).
CONFLICTING_AUTH_KEYS = ("env_key", "experimental_bearer_token")
SOURCE_AGENTS_DIR = Path(__file__).resolve().parent.parent / "agents"


class InstallError(ValueError):
    """The project cannot be installed into as it stands; the message names the file and fix."""


class FileAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    KEPT = "kept"  # a role file the user edited, left alone without --force


@dataclass(frozen=True)
class InstallOptions:
    """What the provider block points at and how role files are treated."""

    project: Path
    codex_home: Path
    base_url: str = "http://127.0.0.1:4000/v1"
    auth_command: str = "codex-oss"
    force: bool = False


@dataclass(frozen=True)
class PlannedFile:
    """One project file: its text now (None if absent) and the text it should have."""

    path: str
    before: str | None
    after: str | None
    mode: int | None = None
    secret: bool = False
    note: str = ""

    @property
    def action(self) -> FileAction:
        if self.after is None:
            return FileAction.KEPT
        if self.after == self.before:
            return FileAction.UNCHANGED
        return FileAction.CREATE if self.before is None else FileAction.UPDATE

    def diff(self) -> str:
        """A unified diff of the change ('' if none); a secret's text is never shown."""
        if self.action in (FileAction.UNCHANGED, FileAction.KEPT):
            return ""
        if self.secret:
            return (
                f"--- /dev/null\n+++ b/{self.path}\n@@ -0,0 +1 @@\n"
                f"+<generated bridge key, mode {self.mode:o}, not shown>\n"
            )
        before = (self.before or "").splitlines(keepends=True)
        after = (self.after or "").splitlines(keepends=True)
        old = "/dev/null" if self.before is None else f"a/{self.path}"
        lines = difflib.unified_diff(before, after, old, f"b/{self.path}")
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class InstallPlan:
    """Every file install would touch, and notes for the user."""

    files: tuple[PlannedFile, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if f.action in (FileAction.CREATE, FileAction.UPDATE))

    def diff(self) -> str:
        """The unified diffs of all changes, file by file."""
        return "".join(f.diff() for f in self.changed)


def install(options: InstallOptions, *, dry_run: bool = False) -> InstallPlan:
    """Plan the install into ``options.project`` and, unless ``dry_run``, write it."""
    project = options.project
    if not project.is_dir():
        raise InstallError(f"--project {project}: not a directory")
    roles = load_source_roles()
    current = read_project(project, roles, options.codex_home)
    plan = plan_install(current, roles, options, new_key=generate_bridge_key())
    plan = plan_codex_catalog(plan, options)  # the model catalog and the profile that uses it
    if not dry_run:
        apply_plan(options, plan)
    return plan


def plan_install(
    current: Mapping[str, str | None],
    roles: Mapping[str, str],
    options: InstallOptions,
    *,
    new_key: str,
) -> InstallPlan:
    """The files install should write, given the project's ``current`` texts (None: absent).

    ``roles`` maps role file names to their source text; ``new_key`` is used only when the
    project has no bridge key yet.
    """
    notes: list[str] = []
    files: list[PlannedFile] = []
    user_config = current.get(USER_CONFIG)
    merged = merge_config(user_config, provider_block(options), notes)
    merged = merge_mcp_server(merged, mcp_server_block(options))
    files.append(PlannedFile(USER_CONFIG, user_config, merged))
    project_config = current.get(CONFIG_FILE)
    if project_config is not None:
        files.append(
            PlannedFile(CONFIG_FILE, project_config, strip_project_block(project_config, notes))
        )
    manifest = _read_manifest(current.get(MANIFEST_FILE))
    installed_roles = dict(manifest.get("roles", {}))
    for name in sorted(roles):
        path = f"{AGENTS_DIR}/{name}"
        planned, digest = plan_role(path, current.get(path), roles[name], installed_roles.get(name))
        if options.force and planned.action is FileAction.KEPT:
            planned = PlannedFile(path, planned.before, roles[name], note="overwritten (--force)")
            digest = tagged_sha256(roles[name])
        files.append(planned)
        if planned.action is FileAction.KEPT:
            notes.append(f"{path}: differs from the shipped role; kept (use --force to replace)")
        installed_roles[name] = digest
    try:
        agents_md = merge_agents_md(current.get(AGENTS_MD))
    except AgentsMdError as exc:
        raise InstallError(str(exc)) from None
    files.append(PlannedFile(AGENTS_MD, current.get(AGENTS_MD), agents_md))
    files.append(
        PlannedFile(GITIGNORE, current.get(GITIGNORE), merge_gitignore(current.get(GITIGNORE)))
    )
    key = current.get(KEY_FILE)
    key_text = key if key is not None and key.strip() else new_key + "\n"
    files.append(PlannedFile(KEY_FILE, key, key_text, mode=KEY_MODE, secret=True))
    manifest_data: dict[str, Any] = {"roles": installed_roles, "provider_id": PROVIDER_ID}
    port = port_of(options.base_url)
    if port is not None:  # `codex-oss up` without --port serves where Codex was pointed
        manifest_data["port"] = port
    manifest_text = json.dumps(manifest_data, indent=2, sort_keys=True) + "\n"
    files.append(PlannedFile(MANIFEST_FILE, current.get(MANIFEST_FILE), manifest_text))
    return InstallPlan(tuple(files), tuple(notes))


def provider_block(options: InstallOptions) -> dict[str, Any]:
    """The ``[model_providers.opencode_bridge]`` table, as plain data."""
    return {
        "name": "OpenCode Bridge",
        "base_url": options.base_url,
        "wire_api": "responses",
        "request_max_retries": REQUEST_MAX_RETRIES,
        "stream_max_retries": STREAM_MAX_RETRIES,
        "stream_idle_timeout_ms": STREAM_IDLE_TIMEOUT_MS,
        "auth": {
            "command": options.auth_command,
            # No --project: Codex runs this in its working directory, and the command finds
            # the key of the project there, so every installed project shares this block.
            "args": ["print-bridge-key"],
            "timeout_ms": AUTH_TIMEOUT_MS,
            # The key is static: fetch it once, and again only after a 401.
            "refresh_interval_ms": 0,
        },
    }


def mcp_server_block(options: InstallOptions) -> dict[str, Any]:
    """The ``[mcp_servers.opencode_bridge]`` table, as plain data.

    No ``--project`` and no ``cwd``: Codex starts the server in the session's folder, and the
    server serves the project there, so one registration serves every installed project.
    """
    from runtime.settings import Settings

    return {
        "command": options.auth_command,  # the same codex-oss serves the MCP tools
        "args": ["mcp"],
        # Codex hands an MCP server a filtered environment; these pass through when set (the
        # upstream key, URLs, caps), so a bridge the server starts gets the user's settings.
        "env_vars": sorted(set(Settings.model_fields) - NOT_PASSED_TO_MCP),
        "startup_timeout_sec": MCP_STARTUP_TIMEOUT_SEC,
        "tool_timeout_sec": MCP_TOOL_TIMEOUT_SEC,
        "default_tools_approval_mode": "approve",
        "tools": {name: {"approval_mode": "prompt"} for name in MCP_PROMPTED_TOOLS},
    }


def merge_mcp_server(current: str, block: Mapping[str, Any]) -> str:
    """``current`` config.toml with the bridge's MCP server registered, everything else kept."""
    doc = _parse_toml(current, USER_CONFIG)
    existing = _entry_table(doc, "mcp_servers", MCP_SERVER_ID, block, "servers")
    if existing is not None:
        _update_table(existing, block)
    return _dump(doc)


def merge_config(current: str | None, block: Mapping[str, Any], notes: list[str]) -> str:
    """``current`` config.toml with the bridge provider block set, everything else kept."""
    doc = _parse_toml(current, USER_CONFIG)
    if doc.get("model_provider") == PROVIDER_ID:
        notes.append(
            f"{USER_CONFIG}: top-level model_provider = {PROVIDER_ID!r} sends every Codex "
            "session to the bridge; install leaves it, but only the role files need it"
        )
    existing = _entry_table(doc, "model_providers", PROVIDER_ID, block, "providers")
    if existing is not None:
        for key in CONFLICTING_AUTH_KEYS:
            if key in existing:
                del existing[key]
                notes.append(
                    f"{USER_CONFIG}: removed model_providers.{PROVIDER_ID}.{key} "
                    "(the bridge authenticates by command; Codex refuses both)"
                )
        old_url = _plain(existing.get("base_url"))
        if old_url is not None and old_url != block["base_url"]:
            notes.append(
                f"{USER_CONFIG}: the bridge provider now points at {block['base_url']} "
                f"(was {old_url}); every installed project shares this block"
            )
        _update_table(existing, block)
    return _dump(doc)


def _entry_table(
    doc: Any, parent: str, name: str, block: Mapping[str, Any], what: str
) -> Any | None:
    """``doc[parent][name]`` to update, or None when it was missing and ``block`` was added
    there (the ``parent`` table too, if need be); InstallError when either is not a table."""
    tables = doc.get(parent)
    if tables is None:
        tables = tomlkit.table(is_super_table=True)
        doc.add(parent, tables)
    elif not isinstance(tables, Mapping) or isinstance(tables, AoT):
        raise InstallError(
            f"{USER_CONFIG}: {parent} must be a table of {what}; found {type(tables).__name__}"
        )
    existing = tables.get(name)
    if existing is None:
        tables.add(name, _new_table(block))
        return None
    if not isinstance(existing, Mapping):
        raise InstallError(
            f"{USER_CONFIG}: {parent}.{name} must be a table; found {type(existing).__name__}"
        )
    return existing


def strip_project_block(current: str, notes: list[str]) -> str:
    """The project's config.toml without a bridge provider block (Codex ignores it there)."""
    doc = _parse_toml(current, CONFIG_FILE)
    providers = doc.get("model_providers")
    if not isinstance(providers, Mapping) or PROVIDER_ID not in providers:
        return current
    del providers[PROVIDER_ID]
    if not providers:
        del doc["model_providers"]
    notes.append(
        f"{CONFIG_FILE}: removed model_providers.{PROVIDER_ID}; Codex ignores providers in a "
        f"project config, so the block now lives in {USER_CONFIG}"
    )
    return _dump(doc)


def _dump(doc: Any) -> str:
    return tomlkit.dumps(doc).rstrip("\n") + "\n"


def _parse_toml(text: str | None, where: str) -> Any:
    try:
        return tomlkit.parse(text or "")
    except ParseError as exc:
        raise InstallError(
            f"{where}: not valid TOML ({exc}); fix it by hand, then install again"
        ) from None


def plan_role(
    path: str, current: str | None, source: str, installed_digest: str | None
) -> tuple[PlannedFile, str | None]:
    """The planned write of one role file, and the digest to record in the manifest.

    A file the user changed since install last wrote it is kept (no --force). A file install
    wrote and the user left alone follows the shipped role, so upgrades reach it.
    """
    follows = current is None or current == source or tagged_sha256(current) == installed_digest
    if follows:
        return PlannedFile(path, current, source), tagged_sha256(source)
    return PlannedFile(path, current, None, note="user-edited"), installed_digest


def merge_gitignore(current: str | None) -> str:
    """``current`` .gitignore with the ``.codex-oss/`` line added if nothing ignores it yet."""
    text = current or ""
    entries = {line.strip() for line in text.splitlines()}
    if entries & {".codex-oss", ".codex-oss/", "/.codex-oss", "/.codex-oss/"}:
        return text if current is not None else "\n".join(GITIGNORE_LINES) + "\n"
    prefix = text if not text or text.endswith("\n") else text + "\n"
    if prefix and not prefix.endswith("\n\n"):
        prefix += "\n"
    return prefix + "\n".join(GITIGNORE_LINES) + "\n"


def load_source_roles(directory: Path = SOURCE_AGENTS_DIR) -> dict[str, str]:
    """The shipped role files: name -> text."""
    if not directory.is_dir():
        raise InstallError(
            f"role directory {directory} is missing; reinstall opencode-bridge from its source"
        )
    roles = {path.name: path.read_text(encoding="utf-8") for path in directory.glob("*.toml")}
    if not roles:
        raise InstallError(f"role directory {directory} holds no *.toml role files")
    return roles


def read_project(
    project: Path, roles: Mapping[str, str], codex_home: Path
) -> dict[str, str | None]:
    """The current text of every file install may touch (None where absent)."""
    paths = [USER_CONFIG, CONFIG_FILE, AGENTS_MD, GITIGNORE, KEY_FILE, MANIFEST_FILE]
    paths += [f"{AGENTS_DIR}/{name}" for name in roles]
    current: dict[str, str | None] = {}
    for rel in paths:
        target = target_path(rel, project, codex_home)
        try:
            current[rel] = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            current[rel] = None
        except (UnicodeDecodeError, IsADirectoryError) as exc:
            raise InstallError(f"{rel}: cannot be read as a UTF-8 text file ({exc})") from None
    return current


def apply_plan(options: InstallOptions, plan: InstallPlan) -> list[str]:
    """Write the plan's changes; fix the key file's mode. Returns the paths written."""
    written = []
    for planned in plan.files:
        target = target_path(planned.path, options.project, options.codex_home)
        if planned.action in (FileAction.CREATE, FileAction.UPDATE):
            assert planned.after is not None
            _write_atomic(target, planned.after, planned.mode)
            written.append(planned.path)
        elif (
            planned.mode is not None
            and target.exists()
            and target.stat().st_mode & 0o777 != planned.mode
        ):
            target.chmod(planned.mode)
            written.append(planned.path)
    return written


def port_of(base_url: str | None) -> int | None:
    """The port of a ``http://127.0.0.1:PORT/v1`` base URL (None when it names none)."""
    if not base_url:
        return None
    from urllib.parse import urlsplit

    try:
        return urlsplit(base_url).port
    except ValueError:
        return None


def installed_port(project: Path) -> int | None:
    """The bridge port ``install`` pointed Codex at for ``project`` (None if never installed)."""
    try:
        text = (project / MANIFEST_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    port = _read_manifest(text).get("port")
    return port if isinstance(port, int) and 0 < port < 65536 else None


def default_auth_command() -> str:
    """The ``codex-oss`` executable of this environment, so Codex need not find it on PATH."""
    beside = Path(sys.executable).parent / "codex-oss"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("codex-oss") or "codex-oss"


def target_path(path: str, project: Path, codex_home: Path) -> Path:
    """Where a planned ``path`` lives (``$CODEX_HOME/...`` is under ``codex_home``)."""
    if path.startswith("$CODEX_HOME/"):
        return codex_home / path.removeprefix("$CODEX_HOME/")
    return project / path


def _new_table(block: Mapping[str, Any]) -> Table:
    table = tomlkit.table()
    for key, value in block.items():
        table.add(key, _new_table(value) if isinstance(value, Mapping) else value)
    # Keep a blank line between our block and whatever table follows it.
    if not any(isinstance(value, Mapping) for value in block.values()):
        table.add(tomlkit.nl())
    return table


def _update_table(table: Any, block: Mapping[str, Any]) -> None:
    """Set ``block``'s values in ``table``, touching only the ones that differ."""
    for key, value in block.items():
        if isinstance(value, Mapping):
            inner = table.get(key)
            if isinstance(inner, Mapping):
                _update_table(inner, value)
            else:
                if inner is not None:
                    del table[key]
                table[key] = _new_table(value)
        elif _plain(table.get(key)) != value:
            table[key] = value


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _read_manifest(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}  # a damaged manifest only costs us the upgrade path; rewrite it
    return data if isinstance(data, dict) else {}


def _write_atomic(target: Path, text: str, mode: int | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode is not None:
        # The key's directory holds secrets only; keep others out of it.
        target.parent.chmod(0o700)
    keep_mode = target.stat().st_mode & 0o777 if target.exists() else None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        final_mode = mode if mode is not None else keep_mode
        os.chmod(tmp, final_mode if final_mode is not None else _default_mode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _default_mode() -> int:
    """What an ordinary new file gets under the user's umask (mkstemp's 0600 is too tight)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
