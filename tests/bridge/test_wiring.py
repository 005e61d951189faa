"""doctor's view of the Codex wiring: the MCP registration started and listed as Codex would,
and which delegation paths a GPT parent can use."""

from __future__ import annotations

from pathlib import Path

from bridge.daemon import doctor_checks
from bridge.install import InstallOptions, default_auth_command, install
from bridge.wiring import config_mismatches, read_wiring


def _installed(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "proj"
    project.mkdir()
    home = tmp_path / "codex-home"
    home.mkdir()
    install(InstallOptions(project, home, auth_command=default_auth_command()))
    return project, home


def test_doctor_starts_the_registered_mcp_server_and_lists_its_tools(tmp_path):
    project, home = _installed(tmp_path)
    checks = {c.name: c for c in doctor_checks(project, codex_home=home)}
    assert checks["mcp server"].status == "ok", checks["mcp server"].detail
    assert "lists 6 tools" in checks["mcp server"].detail
    assert checks["delegation"].status == "ok"
    assert "GPT parent -> run_mission (MCP server opencode_bridge): wired" in (
        checks["delegation"].detail
    )
    assert "spawn_agent does not reach the bridge" in checks["delegation"].detail


def test_doctor_warns_when_the_mcp_server_is_not_registered(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    home = tmp_path / "empty-home"
    home.mkdir()
    checks = {c.name: c for c in doctor_checks(project, codex_home=home)}
    assert checks["mcp server"].status == "warn"
    assert "run 'codex-oss install" in checks["mcp server"].detail
    assert "NOT wired" in checks["delegation"].detail


def test_doctor_fails_a_registration_whose_command_is_gone(tmp_path):
    project, home = _installed(tmp_path)
    config = home / "config.toml"
    config.write_text(config.read_text().replace(default_auth_command(), "/nowhere/codex-oss"))
    checks = {c.name: c for c in doctor_checks(project, codex_home=home)}
    assert checks["mcp server"].status == "fail"
    assert "'/nowhere/codex-oss' does not exist" in checks["mcp server"].detail


def test_a_registration_from_another_environment_is_named_with_the_fix(tmp_path):
    project, home = _installed(tmp_path)
    other = tmp_path / "other-venv" / "codex-oss"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\nexit 1\n")
    other.chmod(0o755)
    config = home / "config.toml"
    config.write_text(
        config.read_text().replace(
            f'command = "{default_auth_command()}"\nargs = ["mcp"]',
            f'command = "{other}"\nargs = ["mcp"]',
        )
    )
    found = {
        name: (state, detail)
        for name, state, detail in config_mismatches(project, read_wiring(home), running_port=None)
    }
    state, detail = found["codex mcp command"]
    assert state == "warn"
    assert str(other) in detail and f"codex-oss install --project {project}" in detail
