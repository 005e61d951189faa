"""``codex-oss up --daemon``, status, doctor, restart and stop as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

KEY = "cli-test-key-0123456789"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROXY_API_KEY": KEY, "UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1"}
    env.pop("OPENCODE_GO_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-c", "from bridge.cli import main; main(prog_name='codex-oss')", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    yield tmp_path
    _cli("stop", cwd=tmp_path)


def test_daemon_lifecycle_from_anywhere_in_the_project(project):
    started = _cli("up", "--daemon", "--port", "0", cwd=project)
    assert started.returncode == 0, started.stderr
    run_dir = project / ".codex-oss" / "run"
    pid = int((run_dir / "bridge.pid").read_text())
    port = int((run_dir / "bridge.port").read_text())

    health = httpx.get(
        f"http://127.0.0.1:{port}/health", headers={"Authorization": f"Bearer {KEY}"}
    ).json()
    assert health["source_hash"] == (run_dir / "bridge.source_hash").read_text().strip()

    deep = project / "src" / "pkg"
    state = _cli("status", "--json", cwd=deep)
    assert state.returncode == 0
    assert json.loads(state.stdout)["pid"] == pid
    assert json.loads(state.stdout)["code_matches_disk"] is True

    doctor = _cli("doctor", "--json", cwd=deep)
    checks = {c["name"]: c["status"] for c in json.loads(doctor.stdout)}
    assert checks["server"] == "ok" and checks["port"] == "ok"

    again = _cli("up", "--daemon", "--port", "0", cwd=deep)
    assert again.returncode != 0 and "already running" in again.stderr

    restarted = _cli("restart", cwd=deep)
    assert restarted.returncode == 0, restarted.stderr
    new_pid = int((run_dir / "bridge.pid").read_text())
    assert new_pid != pid
    assert int((run_dir / "bridge.port").read_text()) == port  # same port kept

    stopped = _cli("stop", cwd=deep)
    assert f"stopped the bridge (pid {new_pid})" in stopped.stdout
    assert not (run_dir / "bridge.pid").exists()
    assert _cli("status", cwd=deep).returncode == 1


def test_up_refuses_a_local_key_equal_to_the_upstream_key(project):
    env_dir = project / ".codex-oss" / "env"
    env_dir.mkdir(parents=True)
    (env_dir / "opencode-go.env").write_text(f"OPENCODE_GO_API_KEY={KEY}\n")
    result = _cli("up", "--port", "0", cwd=project)
    assert result.returncode != 0
    assert "PROXY_API_KEY equals OPENCODE_GO_API_KEY" in result.stderr
    assert KEY not in result.stderr
