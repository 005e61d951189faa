"""Lifecycle pieces: project discovery, run files, stale pid files, doctor findings."""

from __future__ import annotations

import os
import subprocess
import sys

from bridge import daemon
from bridge.daemon import RunFiles, doctor_checks, status, stop
from bridge.project import find_project_root


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


def test_doctor_flags_a_server_running_older_code(tmp_path, monkeypatch):
    monkeypatch.setattr(daemon, "source_hash", lambda: "sha256:new")
    current = daemon.Status(
        "running",
        tmp_path,
        pid=os.getpid(),
        port=1,
        health={"source_hash": "sha256:old"},
        source_hash="sha256:old",
        code_matches=False,
    )
    check = daemon._server_check(current)
    assert check.status == "fail"
    assert "codex-oss restart" in check.detail
