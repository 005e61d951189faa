"""``codex-oss smoke native-polish`` in a temporary project: real install, real bridge, real
HTTP, real git worktree, and the real Codex CLI when it is installed."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.smoke import find_codex, run_native_polish

CHECKS = [
    "roles installed",
    "bridge reachable",
    "Codex CLI mission",
    "A5 patch verified in isolation",
    "commentary recorded",
    "event logs verify",
    "workspace unchanged",
]


def _alive_servers() -> list[str]:
    names = ("bridge-server", "scripted-upstream")
    return [t.name for t in threading.enumerate() if t.name in names and t.is_alive()]


def test_every_check_passes_without_codex_and_the_project_is_removed(tmp_path: Path):
    seen = []
    checks, kept = run_native_polish(use_codex=False, workdir=tmp_path, on_check=seen.append)
    assert [c.name for c in checks] == CHECKS
    assert seen == checks  # reported as each finished
    results = {c.name: c.status for c in checks}
    assert results.pop("Codex CLI mission") == "SKIP"
    assert set(results.values()) == {"PASS"}, checks
    assert kept is None and list(tmp_path.iterdir()) == []
    assert not _alive_servers()


@pytest.mark.codex
def test_the_real_codex_cli_runs_a_mission_through_the_bridge(tmp_path: Path):
    codex = find_codex()
    if codex is None:
        message = "Codex CLI not installed: run 'npm ci' in the repository root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    checks, _ = run_native_polish(codex=codex, workdir=tmp_path)
    by_name = {c.name: c for c in checks}
    codex_check = by_name["Codex CLI mission"]
    assert codex_check.status == "PASS", codex_check.detail
    assert "COMPLETE" in codex_check.detail
    assert all(c.status == "PASS" for c in checks), checks


def test_a_failing_codex_fails_the_smoke_with_exit_1(tmp_path: Path):
    broken = tmp_path / "codex"
    broken.write_text("#!/bin/sh\necho 'codex: cannot reach the provider' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    command = ["smoke", "native-polish", "--codex", str(broken)]
    table = CliRunner().invoke(main, command, catch_exceptions=False)
    assert table.exit_code == 1, table.output
    assert "FAIL" in table.output and "1 check(s) failed" in table.output
    as_json = CliRunner().invoke(main, [*command, "--json"], catch_exceptions=False)
    assert as_json.exit_code == 1
    checks = {c["name"]: c for c in json.loads(as_json.output)["checks"]}
    failed = checks.pop("Codex CLI mission")
    assert failed["status"] == "FAIL"
    assert "exited 3" in failed["detail"] and "cannot reach the provider" in failed["detail"]
    assert {c["status"] for c in checks.values()} == {"PASS"}


def test_cli_prints_the_table_and_keeps_the_project_when_asked(request):
    table = CliRunner().invoke(main, ["smoke", "native-polish", "--no-codex"])
    assert table.exit_code == 0, table.output
    for name in CHECKS:
        assert name in table.output
    assert "all checks passed" in table.output
    result = CliRunner().invoke(
        main, ["smoke", "native-polish", "--no-codex", "--keep", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["checks"][2]["detail"] == "skipped (--no-codex)"
    kept = Path(data["kept"])
    request.addfinalizer(lambda: shutil.rmtree(kept, ignore_errors=True))
    assert (kept / "adder" / ".codex-oss" / "missions" / "smoke-patch-a5" / "patch.diff").is_file()
    assert "return a - b" in (kept / "adder" / "calc.py").read_text()
