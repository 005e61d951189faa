"""Lifecycle pieces: project discovery, run files, stale pid files, doctor findings, and
whether the running bridge's code is the code on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bridge.daemon import RunFiles, doctor_checks, status, stop
from bridge.project import find_project_root
from bridge.source_hash import PACKAGES, source_hash

ROOT = Path(__file__).resolve().parents[2]


def test_project_root_is_the_nearest_ancestor_with_codex_oss_or_git(tmp_path):
    (tmp_path / ".git").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project_root(start=deep) == tmp_path.resolve()
    (tmp_path / "a" / ".codex-oss").mkdir()
    assert find_project_root(start=deep) == (tmp_path / "a").resolve()
    assert find_project_root(explicit=deep, start=tmp_path) == deep.resolve()


def test_run_files_round_trip_and_clear_only_their_own_pid(tmp_path):
    files = RunFiles(tmp_path)
    files.write(pid=123, host="127.0.0.1", port=4555, code_hash="sha256:abc")
    assert files.read() == {
        "pid": 123,
        "port": 4555,
        "host": "127.0.0.1",
        "source_hash": "sha256:abc",
    }
    files.clear(pid=999)  # another server's cleanup must not remove ours
    assert files.read() is not None
    files.clear(pid=123)
    assert files.read() is None


def test_a_pid_file_of_a_gone_process_is_stale_and_stop_removes_it(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    RunFiles(tmp_path).write(pid=gone.pid, host="127.0.0.1", port=1, code_hash="x")
    assert status(tmp_path).state == "stale"
    assert "stale" in stop(tmp_path)
    assert RunFiles(tmp_path).read() is None


def test_a_pid_reused_by_another_program_is_stale_and_never_signalled(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        RunFiles(tmp_path).write(pid=other.pid, host="127.0.0.1", port=1, code_hash="x")
        assert status(tmp_path).state == "stale"
        stop(tmp_path)
        assert other.poll() is None  # still alive: it is not a bridge
    finally:
        other.kill()
        other.wait()


def test_doctor_reports_equal_keys_as_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("PROXY_API_KEY", "same-key-123456789")
    monkeypatch.setenv("OPENCODE_GO_API_KEY", "same-key-123456789")
    checks = {c.name: c for c in doctor_checks(tmp_path)}
    assert checks["keys"].status == "fail"


def test_doctor_warns_without_an_upstream_key_and_reports_no_server(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENCODE_GO_API_KEY", raising=False)
    monkeypatch.setenv("PROXY_API_KEY", "local-key-123456789")
    checks = {c.name: c for c in doctor_checks(tmp_path, port=1)}
    assert checks["upstream key"].status == "warn"
    assert checks["server"].status == "warn"
    assert "codex-oss up" in checks["server"].detail


def test_status_and_doctor_compare_the_running_code_with_the_checkout(tmp_path):
    # A bridge served from a copy of the checkout, so the test may edit the code on disk.
    checkout = tmp_path / "checkout"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, checkout / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(checkout), "PROXY_API_KEY": "daemon-test-key-12345678"}
    env.pop("OPENCODE_GO_API_KEY", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", "from bridge.cli import main; main()", *args]
        return subprocess.run(
            argv, cwd=project, env=env, capture_output=True, text=True, timeout=60
        )

    def state() -> dict:
        return json.loads(cli("status", "--json", "--codex-home", str(tmp_path)).stdout)

    started = cli("up", "--daemon", "--port", "0")
    try:
        assert started.returncode == 0, started.stderr
        running = state()
        assert running["source_hash"] == source_hash(checkout)  # content of bridge/ and runtime/
        assert running["code_matches_disk"] is True

        edited = checkout / "bridge" / "daemon.py"
        original = edited.read_bytes()
        edited.write_bytes(original + b"# edited while the bridge runs\n")
        assert state()["code_matches_disk"] is False
        doctor = cli("doctor", "--json", "--codex-home", str(tmp_path))
        server = next(c for c in json.loads(doctor.stdout) if c["name"] == "server")
        assert server["status"] == "fail" and "codex-oss restart" in server["detail"]

        edited.write_bytes(original)  # the same bytes again: identity is content, not mtime
        assert state()["code_matches_disk"] is True
    finally:
        cli("stop")
