"""The origin document's command names and flags: ``start``, doctor's named checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KEY = "surface-test-key-0123456789"


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PROXY_API_KEY": KEY,
        "UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1",
        **env,
    }
    environment.pop("OPENCODE_GO_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _project(path: Path) -> Path:
    (path / ".git").mkdir(parents=True)
    return path


@pytest.fixture
def projects(tmp_path: Path):
    first, second = _project(tmp_path / "first"), _project(tmp_path / "second")
    yield first, second
    for project in (first, second):
        _cli("stop", cwd=project)


def _checks(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    return {check["name"]: check for check in json.loads(result.stdout)}


def test_start_runs_the_bridge_as_a_daemon_and_doctor_names_its_checks(projects):
    project, _ = projects
    started = _cli("start", "--port", "0", cwd=project)
    assert started.returncode == 0, started.stderr
    assert "bridge running on http://127.0.0.1:" in started.stdout
    assert (project / ".codex-oss" / "run" / "bridge.pid").exists()

    doctor = _cli("doctor", "--json", cwd=project)
    checks = _checks(doctor)
    for name in ("bridge.source_hash", "runtime.identity", "bridge.project_root"):
        assert checks[name]["status"] == "ok", checks[name]
    assert str(project) in checks["bridge.project_root"]["detail"]

    text = _cli("doctor", cwd=project)
    assert "bridge.source_hash:" in text.stdout and "runtime.identity:" in text.stdout

    live = _cli("doctor", "--live-model", "--json", cwd=project)
    assert live.returncode == 1
    assert _checks(live)["bridge.oss_inference"]["status"] == "fail"


def test_doctor_names_another_projects_bridge_on_the_port(projects):
    first, second = projects
    assert _cli("start", "--port", "0", cwd=first).returncode == 0
    port = (first / ".codex-oss" / "run" / "bridge.port").read_text().strip()
    doctor = _cli("doctor", "--json", cwd=second, PROXY_PORT=port)
    checks = _checks(doctor)
    assert doctor.returncode == 1
    assert checks["bridge.project_root"]["status"] == "fail"
    assert str(first) in checks["bridge.project_root"]["detail"]
    assert checks["bridge.source_hash"]["status"] == "skip"


def test_doctor_without_a_bridge_skips_the_bridge_checks(projects):
    project, _ = projects
    checks = _checks(_cli("doctor", "--json", cwd=project, PROXY_PORT="9"))
    assert {checks[name]["status"] for name in ("bridge.source_hash", "runtime.identity")} == {
        "skip"
    }
