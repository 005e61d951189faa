"""Verification commands: exact allowlist, no shell, scrubbed env, timeout, group kill, capped
and redacted output. Real subprocesses throughout."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.mission import Tier
from runtime.patches.verify import (
    CommandNotAllowed,
    check_allowed,
    kill_orphaned_verifications,
    pgid_file_for,
    run_verification,
)
from runtime.redact import Redactor
from tests.patches.fixture_repo import PYTEST, mission_of

PY = sys.executable


async def run(argv, cwd, timeout=30.0, **kwargs):
    return await run_verification(
        argv,
        cwd=cwd,
        timeout_seconds=timeout,
        redactor=Redactor(["configured-key-abc123"]),
        **kwargs,
    )


def test_only_exact_allowlisted_argv_lists_pass():
    mission = mission_of(Tier.A5)
    assert check_allowed(list(PYTEST), mission) == PYTEST
    with pytest.raises(CommandNotAllowed, match="shell string"):
        check_allowed(" ".join(PYTEST), mission)
    with pytest.raises(CommandNotAllowed, match="not in the mission's verification allowlist"):
        check_allowed([*PYTEST, "-x"], mission)
    with pytest.raises(CommandNotAllowed, match="not a list of strings"):
        check_allowed([PY, 1], mission)


async def test_the_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODE_GO_API_KEY", "should-not-leak")
    monkeypatch.setenv("SOME_TOKEN", "should-not-leak-either")
    result = await run([PY, "-c", "import os; print(sorted(os.environ))"], tmp_path)
    assert result.exit_code == 0
    assert "OPENCODE_GO_API_KEY" not in result.output
    assert "SOME_TOKEN" not in result.output
    assert "PATH" in result.output


async def test_no_shell_interprets_the_arguments(tmp_path):
    result = await run([PY, "-c", "import sys; print(sys.argv[1:])", "$HOME", ";", "ls"], tmp_path)
    assert "['$HOME', ';', 'ls']" in result.output


def announcing_sleeper(started: Path, survived: Path, seconds: float) -> str:
    """A child that marks ``started`` at once and ``survived`` only if it lives ``seconds``."""
    return (
        f"import time; open({str(started)!r}, 'w').close(); time.sleep({seconds}); "
        f"open({str(survived)!r}, 'w').write('x')"
    )


def assert_killed(started: Path, survived: Path, seconds: float) -> None:
    """The child did start (so the check can fail), and was gone before it could finish."""
    assert started.exists(), "the child never started: this test would prove nothing"
    time.sleep(seconds + 1.0)
    assert not survived.exists()


async def test_a_timeout_kills_the_whole_process_group(tmp_path):
    started_mark, survived = tmp_path / "grandchild-started", tmp_path / "grandchild-survived"
    grandchild = announcing_sleeper(started_mark, survived, 3)
    # The child waits for its grandchild to announce itself, so the timeout hits both.
    script = (
        "import os, subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}]); "
        f"[time.sleep(0.02) for _ in range(500) if not os.path.exists({str(started_mark)!r})]; "
        "time.sleep(60)"
    )
    began = time.monotonic()
    result = await run([PY, "-c", script], tmp_path, timeout=3.0)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - began < 15
    assert "killed after 3s timeout" in result.output
    assert_killed(started_mark, survived, 3)


async def test_children_left_behind_after_exit_are_killed(tmp_path):
    started_mark, survived = tmp_path / "orphan-started", tmp_path / "orphan-survived"
    orphan = announcing_sleeper(started_mark, survived, 2)
    script = (
        "import os, subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {orphan!r}], stdout=subprocess.DEVNULL); "
        f"[time.sleep(0.02) for _ in range(500) if not os.path.exists({str(started_mark)!r})]"
    )
    result = await run([PY, "-c", script], tmp_path)
    assert result.exit_code == 0 and not result.timed_out
    assert_killed(started_mark, survived, 2)


async def test_output_is_capped_head_and_tail(tmp_path):
    script = "print('HEAD'); print('x' * 200_000); print('TAIL')"
    result = await run([PY, "-c", script], tmp_path, max_output_bytes=1000)
    assert result.truncated and result.output_bytes > 200_000
    assert result.output.startswith("HEAD")
    assert result.output.rstrip().endswith("TAIL")
    assert "bytes of output cut" in result.output
    assert len(result.output) < 1200


async def test_output_is_redacted(tmp_path):
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    result = await run(
        [PY, "-c", f"print('token {secret}'); print('configured-key-abc123')"], tmp_path
    )
    assert secret not in result.output and "configured-key-abc123" not in result.output
    assert result.redactions == 2


async def test_a_missing_program_is_reported_not_raised(tmp_path: Path):
    result = await run(["definitely-not-a-program-here"], tmp_path)
    assert result.exit_code is None and not result.timed_out
    assert "could not start" in result.output


async def test_exit_codes_are_reported(tmp_path):
    result = await run([PY, "-c", "raise SystemExit(3)"], tmp_path)
    assert result.exit_code == 3 and not result.passed


async def test_a_cancelled_step_kills_the_running_command(tmp_path):
    started_mark, survived = tmp_path / "started", tmp_path / "survived-cancel"
    script = announcing_sleeper(started_mark, survived, 2)
    task = asyncio.create_task(run([PY, "-c", script], tmp_path))
    for _ in range(500):  # cancel only once the command is really running
        if started_mark.exists():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_killed(started_mark, survived, 2)


async def test_a_running_command_records_its_group_until_it_ends(tmp_path):
    record = tmp_path / ".codex-oss" / "run" / "verify-m.pgid"
    task = asyncio.create_task(
        run_verification(
            [sys.executable, "-c", "import time; time.sleep(0.5)"],
            cwd=tmp_path,
            timeout_seconds=10,
            redactor=Redactor(),
            pgid_file=record,
        )
    )
    deadline = time.monotonic() + 5
    while not record.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert int(record.read_text()) > 0
    assert (await task).exit_code == 0
    assert not record.exists()


def test_orphans_working_in_a_worktree_are_killed_and_others_spared(tmp_path):
    worktree = tmp_path / ".codex-oss" / "worktrees" / "m"
    worktree.mkdir(parents=True)
    sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
    orphan = subprocess.Popen(sleep, cwd=worktree, start_new_session=True)
    bystander = subprocess.Popen(sleep, cwd=tmp_path, start_new_session=True)
    try:
        pgid_file_for(tmp_path, "m").parent.mkdir(parents=True, exist_ok=True)
        pgid_file_for(tmp_path, "m").write_text(str(orphan.pid))
        pgid_file_for(tmp_path, "other").write_text(str(bystander.pid))

        assert kill_orphaned_verifications(tmp_path) == [orphan.pid]
        assert orphan.wait(timeout=5) == -9
        assert bystander.poll() is None
        assert list((tmp_path / ".codex-oss" / "run").glob("verify-*.pgid")) == []
    finally:
        for process in (orphan, bystander):
            process.kill()
            process.wait()
