"""codex-oss install: config merge keeping the user's text, roles, AGENTS.md, key, idempotence."""

from __future__ import annotations

import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.agents_md import BEGIN_MARKER, END_MARKER, managed_section
from bridge.cli import main
from bridge.install import (
    AGENTS_DIR,
    CONFIG_FILE,
    KEY_FILE,
    MCP_SERVER_ID,
    MCP_TOOL_TIMEOUT_SEC,
    PROVIDER_ID,
    USER_CONFIG,
    FileAction,
    InstallError,
    InstallOptions,
    default_auth_command,
    install,
    load_source_roles,
    plan_install,
)
from runtime.handoff import CLOSE_TAG, OPEN_TAG
from runtime.registry import ModelRegistry
from runtime.settings import Settings

HAND_CONFIG = """\
# Team Codex config -- keep this comment
model = "gpt-5.5"  # the parent model
approval_policy = "on-request"

[model_providers.other]
name = "Other"   # a provider of ours
base_url = "http://127.0.0.1:9999/v1"

# profiles below
[profiles.fast]
model = "o4-mini"  # fast
"""
# The origin document's roles (runtime and raw), plus the A4 proposer and the offline one.
EXPECTED_ROLES = {
    "oss_kimi_investigator": "mission-a3-kimi",
    "oss_deepseek_investigator": "mission-a3-deepseek",
    "oss_flash_context": "mission-a2-flash",
    "oss_deepseek_implementer": "mission-a5-deepseek",
    "oss_kimi_rapid": "ocg-kimi-k2.6",
    "oss_deepseek_pro": "ocg-deepseek-v4-pro",
    "oss_flash_support": "ocg-deepseek-v4-flash",
    "oss_local_investigator": "mission-a3-local",
    "oss_patch_proposer": "mission-a4-kimi",
}
# Only the raw worker the document allows bounded edits runs with a writable sandbox.
WRITABLE_ROLES = {"oss_deepseek_pro"}


@pytest.fixture(autouse=True)
def _no_real_codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI call that forgot --codex-home must not touch the user's real Codex config."""
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "stray-codex-home"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a hand-written .codex/config.toml, beside a Codex home with another."""
    root = tmp_path / "proj"
    (root / ".codex").mkdir(parents=True)
    (root / CONFIG_FILE).write_text(HAND_CONFIG)
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(HAND_CONFIG)
    return root


def codex_home(project: Path) -> Path:
    return project.parent / "codex-home"


def user_config(project: Path) -> Path:
    return codex_home(project) / "config.toml"


def options(project: Path, **extra) -> InstallOptions:
    return InstallOptions(
        project=project,
        codex_home=codex_home(project),
        auth_command=default_auth_command(),
        **extra,
    )


def cli(project: Path, *args: str):
    return CliRunner().invoke(
        main,
        ["install", "--project", str(project), "--codex-home", str(codex_home(project)), *args],
    )


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under the project's parent (project and Codex home): bytes, mtime, mode."""
    base = root.parent
    return {
        str(p.relative_to(base)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def test_user_comments_and_keys_survive_and_provider_block_is_added(project: Path) -> None:
    install(options(project))
    assert (project / CONFIG_FILE).read_text() == HAND_CONFIG
    text = user_config(project).read_text()
    for line in HAND_CONFIG.splitlines():
        assert line in text.splitlines(), f"user line lost: {line!r}"
    config = tomllib.loads(text)
    assert config["model"] == "gpt-5.5"
    assert config["model_providers"]["other"]["base_url"] == "http://127.0.0.1:9999/v1"
    assert config["profiles"]["fast"]["model"] == "o4-mini"
    block = config["model_providers"][PROVIDER_ID]
    assert block["wire_api"] == "responses"
    assert block["base_url"] == "http://127.0.0.1:4000/v1"
    assert "env_key" not in block
    assert block["auth"]["args"] == ["print-bridge-key"]


def test_install_never_sets_a_top_level_model_provider(project: Path) -> None:
    install(options(project))
    assert "model_provider" not in tomllib.loads(user_config(project).read_text())
    assert "model_provider" not in tomllib.loads((project / CONFIG_FILE).read_text())


def test_idle_timeout_outlasts_heartbeats_and_streams_are_not_retried(project: Path) -> None:
    install(options(project))
    block = tomllib.loads(user_config(project).read_text())["model_providers"][PROVIDER_ID]
    assert block["stream_idle_timeout_ms"] >= 6 * 10_000  # heartbeats every ~10 s
    assert block["stream_max_retries"] == 0
    assert 0 <= block["request_max_retries"] <= 2


def test_second_install_changes_nothing(project: Path) -> None:
    first = install(options(project))
    assert first.changed
    before = snapshot(project)
    second = install(options(project))
    assert second.changed == ()
    assert snapshot(project) == before


def test_dry_run_prints_diffs_and_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    result = cli(project, "--dry-run")
    assert result.exit_code == 0, result.output
    assert snapshot(project) == before
    assert f"+[model_providers.{PROVIDER_ID}]" in result.output
    assert f"+++ b/{AGENTS_DIR}/oss_kimi_investigator.toml" in result.output
    assert "not shown" in result.output  # the key's diff hides the key


def test_cli_second_run_reports_nothing_to_do(project: Path) -> None:
    assert cli(project).exit_code == 0
    again = cli(project)
    assert again.exit_code == 0
    assert "nothing to do" in again.output


def test_bridge_key_is_private_and_kept_across_installs(project: Path) -> None:
    install(options(project))
    key_path = project / KEY_FILE
    key = key_path.read_text()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    assert len(key.strip()) >= 40
    key_path.chmod(0o644)
    install(options(project))
    assert key_path.read_text() == key
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_dry_run_output_never_contains_the_key(project: Path) -> None:
    install(options(project))
    # make the dry run have something to say
    (project / AGENTS_DIR / "oss_flash_context.toml").unlink()
    result = cli(project, "--dry-run")
    assert (project / KEY_FILE).read_text().strip() not in result.output


def test_configured_auth_command_prints_the_key_of_the_project_codex_runs_in(
    project: Path,
) -> None:
    install(options(project))
    auth = tomllib.loads(user_config(project).read_text())["model_providers"][PROVIDER_ID]["auth"]
    subdir = project / "src" / "deep"
    subdir.mkdir(parents=True)
    done = subprocess.run(
        [auth["command"], *auth["args"]],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=subdir,  # Codex runs the auth command in its own working directory
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (project / KEY_FILE).read_text().strip()


def test_print_bridge_key_without_install_fails_with_the_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["print-bridge-key", "--project", str(tmp_path)])
    assert result.exit_code == 1
    assert "codex-oss install" in result.output


def test_roles_are_copied_with_required_fields(project: Path) -> None:
    install(options(project))
    for name, model in EXPECTED_ROLES.items():
        role = tomllib.loads((project / AGENTS_DIR / f"{name}.toml").read_text())
        assert role["name"] == name
        assert role["description"].strip()
        assert role["developer_instructions"].strip()
        assert role["model"] == model
        assert role["model_provider"] == PROVIDER_ID
        writable = name in WRITABLE_ROLES
        assert role["sandbox_mode"] == ("workspace-write" if writable else "read-only")


def test_every_role_model_is_an_alias_the_registry_resolves() -> None:
    registry = ModelRegistry(Settings(OPENCODE_GO_API_KEY="test-key-not-real"))
    for text in load_source_roles().values():
        model = tomllib.loads(text)["model"]
        assert registry.resolve(model) is not None


def test_no_literal_handoff_tags_in_roles_or_agents_md() -> None:
    texts = [*load_source_roles().values(), managed_section()]
    for text in texts:
        assert OPEN_TAG not in text
        assert CLOSE_TAG not in text


def test_user_edited_role_is_kept_unless_forced(project: Path) -> None:
    install(options(project))
    role = project / AGENTS_DIR / "oss_kimi_investigator.toml"
    edited = role.read_text().replace("mission-a3-kimi", "mission-a3-deepseek")
    role.write_text(edited)
    plan = install(options(project))
    assert role.read_text() == edited
    assert [f.action for f in plan.files if f.path.endswith("oss_kimi_investigator.toml")] == [
        FileAction.KEPT
    ]
    assert any("--force" in note for note in plan.notes)
    install(options(project, force=True))
    assert "mission-a3-kimi" in role.read_text()


def test_unedited_role_follows_an_upgraded_source(project: Path) -> None:
    roles = {"oss_x.toml": 'name = "oss_x"\n'}
    current = {USER_CONFIG: HAND_CONFIG}
    first = plan_install(current, roles, options(project), new_key="k")
    written = {f.path: f.after for f in first.files}
    upgraded = {"oss_x.toml": 'name = "oss_x"\ndescription = "new"\n'}
    second = plan_install(written, upgraded, options(project), new_key="k")
    role = next(f for f in second.files if f.path == f"{AGENTS_DIR}/oss_x.toml")
    assert role.action is FileAction.UPDATE
    assert role.after == upgraded["oss_x.toml"]


def test_agents_md_keeps_user_text_and_replaces_section_in_place(project: Path) -> None:
    agents = project / "AGENTS.md"
    agents.write_text("# House rules\n\nRun the tests.\n")
    install(options(project))
    text = agents.read_text()
    assert text.startswith("# House rules\n\nRun the tests.\n")
    assert text.count(BEGIN_MARKER) == 1
    damaged = text.replace("Call `run_mission`", "stale text")
    agents.write_text(damaged + "\n## After\nmore rules\n")
    install(options(project))
    text = agents.read_text()
    assert "Call `run_mission`" in text
    assert "stale text" not in text
    assert text.endswith(END_MARKER + "\n\n## After\nmore rules\n")
    assert text.index("# House rules") < text.index(BEGIN_MARKER) < text.index("## After")


def test_agents_md_with_unbalanced_markers_is_refused(project: Path) -> None:
    (project / "AGENTS.md").write_text(f"{BEGIN_MARKER}\nhalf a section\n")
    with pytest.raises(InstallError, match=r"AGENTS\.md: .* section is damaged"):
        install(options(project))


def test_gitignore_gets_codex_oss_once(project: Path) -> None:
    (project / ".gitignore").write_text("node_modules/")
    install(options(project))
    install(options(project))
    lines = (project / ".gitignore").read_text().splitlines()
    assert lines[0] == "node_modules/"
    assert lines.count(".codex-oss/") == 1


def test_existing_gitignore_entry_is_respected(project: Path) -> None:
    (project / ".gitignore").write_text("/.codex-oss\n")
    install(options(project))
    assert (project / ".gitignore").read_text() == "/.codex-oss\n"


def test_invalid_toml_is_refused_and_nothing_written(project: Path) -> None:
    user_config(project).write_text("model = \n[broken\n")
    before = snapshot(project)
    with pytest.raises(InstallError, match=r"CODEX_HOME/config\.toml: not valid TOML"):
        install(options(project))
    assert snapshot(project) == before


def test_existing_bridge_block_is_updated_keeping_user_keys(project: Path) -> None:
    user_config(project).write_text(
        HAND_CONFIG
        + f"""
[model_providers.{PROVIDER_ID}]
name = "mine"
base_url = "http://127.0.0.1:1/v1"
env_key = "MY_KEY"
http_headers = {{ "X-Team" = "blue" }}  # ours
"""
    )
    plan = install(options(project))
    block = tomllib.loads(user_config(project).read_text())["model_providers"][PROVIDER_ID]
    assert block["base_url"] == "http://127.0.0.1:4000/v1"
    assert block["http_headers"] == {"X-Team": "blue"}
    assert "env_key" not in block
    assert any("env_key" in note for note in plan.notes)
    assert "# ours" in user_config(project).read_text()


def test_user_top_level_model_provider_is_left_alone(project: Path) -> None:
    user_config(project).write_text('model_provider = "other"\n' + HAND_CONFIG)
    install(options(project))
    assert tomllib.loads(user_config(project).read_text())["model_provider"] == "other"


def test_fresh_project_and_codex_home(tmp_path: Path) -> None:
    project = tmp_path / "fresh"
    project.mkdir()
    install(options(project))
    config = tomllib.loads(user_config(project).read_text())
    assert set(config) == {"model_providers", "mcp_servers"}
    assert not (project / CONFIG_FILE).exists()
    assert (project / ".gitignore").read_text().splitlines()[-1] == ".codex-oss/"
    assert install(options(project)).changed == ()


def test_a_bridge_block_in_the_project_config_moves_to_the_user_config(project: Path) -> None:
    (project / CONFIG_FILE).write_text(
        HAND_CONFIG + f'\n[model_providers.{PROVIDER_ID}]\nbase_url = "http://127.0.0.1:1/v1"\n'
    )
    plan = install(options(project))
    assert (project / CONFIG_FILE).read_text() == HAND_CONFIG
    assert any("Codex ignores providers in a project config" in n for n in plan.notes)
    assert PROVIDER_ID in tomllib.loads(user_config(project).read_text())["model_providers"]


def test_port_option_sets_base_url(project: Path) -> None:
    result = cli(project, "--port", "4555")
    assert result.exit_code == 0, result.output
    block = tomllib.loads(user_config(project).read_text())["model_providers"][PROVIDER_ID]
    assert block["base_url"] == "http://127.0.0.1:4555/v1"


# -- the MCP server registration ---------------------------------------------------------------


def test_mcp_server_is_registered_with_what_codex_needs_to_call_it(project: Path) -> None:
    install(options(project))
    text = user_config(project).read_text()
    server = tomllib.loads(text)["mcp_servers"][MCP_SERVER_ID]
    assert server["command"] == default_auth_command()
    assert server["args"] == ["mcp"]  # no --project: Codex starts it in the session's folder
    # Codex filters the environment it hands MCP servers: the settings must pass by name,
    # and the user's own OpenAI key must not.
    assert {"OPENCODE_GO_API_KEY", "UPSTREAM_BASE_URL", "PROXY_PORT"} <= set(server["env_vars"])
    assert "OPENAI_API_KEY" not in server["env_vars"]
    assert server["tool_timeout_sec"] == MCP_TOOL_TIMEOUT_SEC >= 900 + 120  # an A5 mission
    assert server["startup_timeout_sec"] >= 10
    # codex exec never prompts: run_mission and the read tools are approved, the tools that
    # change the workspace keep their prompt.
    assert server["default_tools_approval_mode"] == "approve"
    assert server["tools"] == {
        "promote_patch": {"approval_mode": "prompt"},
        "rollback_patch": {"approval_mode": "prompt"},
    }
    for line in HAND_CONFIG.splitlines():
        assert line in text.splitlines(), f"user line lost: {line!r}"


def test_mcp_registration_keeps_user_keys_and_other_servers(project: Path) -> None:
    user_config(project).write_text(
        HAND_CONFIG
        + f"""
[mcp_servers.docs]  # my docs server
command = "docs-mcp"

[mcp_servers.{MCP_SERVER_ID}]
command = "old-codex-oss"
enabled = true  # keep
"""
    )
    install(options(project))
    text = user_config(project).read_text()
    servers = tomllib.loads(text)["mcp_servers"]
    assert servers["docs"] == {"command": "docs-mcp"}
    assert servers[MCP_SERVER_ID]["command"] == default_auth_command()
    assert servers[MCP_SERVER_ID]["enabled"] is True
    assert "# my docs server" in text and "# keep" in text
    assert install(options(project)).changed == ()  # idempotent


def test_dry_run_shows_the_mcp_registration(project: Path) -> None:
    result = cli(project, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"+[mcp_servers.{MCP_SERVER_ID}]" in result.output
    assert '+args = ["mcp"]' in result.output
    assert "mcp_servers" not in user_config(project).read_text()


def test_agents_md_delegates_through_run_mission_not_spawn_agent() -> None:
    section = managed_section()
    assert "run_mission" in section and "mcp__opencode_bridge" in section
    assert "OSS_HANDOFF_JSON" not in section  # no handoff block, not even by name
    assert "does not reach the bridge" in section  # no promise that spawn_agent does
