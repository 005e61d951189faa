"""Operator mistakes between Codex's config and the bridge, as a user makes them on the
command line: `up` after `install --port`, a bridge on another port than Codex looks at, a
second project's install, and a bridge started before install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_opencode_bridge.harness import make_git_project
from runtime.processes import free_port

CODEX_OSS = [sys.executable, "-c", "from bridge.cli import main; main()"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The user's shell: no bridge settings exported, an isolated Codex home."""
    home = tmp_path / "codex-home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROXY_", "CODEX_HOME"))}
    return {**clean, "CODEX_HOME": str(home)}


@pytest.fixture
def projects(tmp_path: Path) -> Iterator[list[Path]]:
    made = [make_git_project(tmp_path / name, {"README.md": "hi\n"}) for name in ("a", "b")]
    yield made
    for project in made:  # never leave a bridge running
        subprocess.run([*CODEX_OSS, "stop", "--project", str(project)], capture_output=True)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CODEX_OSS, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def _provider_url(env: dict[str, str]) -> str:
    config = tomllib.loads((Path(env["CODEX_HOME"]) / "config.toml").read_text())
    return config["model_providers"]["opencode_bridge"]["base_url"]


def test_up_without_port_serves_on_the_port_install_wrote(env, projects):
    project = projects[0]
    port = free_port()
    assert _cli(env, "install", "--project", str(project), "--port", str(port)).returncode == 0
    started = _cli(env, "up", "--daemon", "--project", str(project))
    assert started.returncode == 0, started.stderr
    state = json.loads(_cli(env, "status", "--json", "--project", str(project)).stdout)
    assert state["port"] == port  # where Codex was pointed, not 4000
    assert _provider_url(env) == f"http://127.0.0.1:{port}/v1"


def test_doctor_and_status_say_what_to_run_when_codex_points_elsewhere(env, projects):
    project = projects[0]
    wanted, other = free_port(), free_port()
    assert _cli(env, "install", "--project", str(project), "--port", str(wanted)).returncode == 0
    started = _cli(env, "up", "--daemon", "--project", str(project), "--port", str(other))
    assert started.returncode == 0, started.stderr

    doctor = _cli(env, "doctor", "--json", "--project", str(project))
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    fix = f"codex-oss restart --project {project} --port {wanted}"
    assert checks["codex provider"]["status"] == "fail"
    assert fix in checks["codex provider"]["detail"]
    assert doctor.returncode == 1  # not "all is well"

    status = _cli(env, "status", "--project", str(project))
    assert fix in status.stdout

    assert _cli(env, "restart", "--project", str(project), "--port", str(wanted)).returncode == 0
    healed = {
        c["name"]: c
        for c in json.loads(_cli(env, "doctor", "--json", "--project", str(project)).stdout)
    }
    assert healed["codex provider"]["status"] == "ok"


def test_a_second_projects_install_keeps_the_first_projects_port(env, projects):
    first, second = projects
    port = free_port()
    assert _cli(env, "install", "--project", str(first), "--port", str(port)).returncode == 0
    again = _cli(env, "install", "--project", str(second))
    assert again.returncode == 0, again.stderr
    assert _provider_url(env) == f"http://127.0.0.1:{port}/v1"  # not repointed at 4000
    assert f"stays at port {port}" in again.stderr  # and it says so
    manifest = json.loads((second / ".codex-oss/install-manifest.json").read_text())
    assert manifest["port"] == port
    doctor = {
        c["name"]: c
        for c in json.loads(_cli(env, "doctor", "--json", "--project", str(first)).stdout)
    }
    assert doctor["codex provider"]["status"] == "ok", doctor["codex provider"]


def test_a_bridge_started_before_install_refuses_requests_without_a_key(env, projects):
    project = projects[0]
    port = free_port()
    started = _cli(env, "up", "--daemon", "--project", str(project), "--port", str(port))
    assert started.returncode == 0, started.stderr
    key_file = project / ".codex-oss/env/bridge.key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    anonymous = httpx.get(f"http://127.0.0.1:{port}/v1/models")
    assert anonymous.status_code == 401
    key = _cli(env, "print-bridge-key", "--project", str(project)).stdout.strip()
    allowed = httpx.get(
        f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {key}"}
    )
    assert allowed.status_code == 200
