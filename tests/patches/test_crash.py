"""SIGKILL of the process running a patch step, at any point, leaves the workspace untouched
and the log valid; the next run cleans up after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.eventlog import load_events, verify_log
from runtime.mission import Tier
from runtime.patches.promotion import PromotionRefused, promote
from runtime.patches.worktree import worktree_path
from tests.patches.fixture_repo import PYTEST, good_intent, mission_of, workspace_snapshot

# The "bridge": a separate process running one patch step on a real log.
RUNNER = """
import asyncio, json, sys
from pathlib import Path
from runtime.eventlog import MissionEventLog, new_run_id
from runtime.events import MissionAdmitted, Route
from runtime.mission import MissionV1
from runtime.patches.pipeline import run_patch_step
from runtime.redact import Redactor

project, mission_file, intent_file = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
mission = MissionV1.model_validate_json(Path(mission_file).read_text())
intent = json.loads(Path(intent_file).read_text())
log = MissionEventLog.create(project, new_run_id(), mission.mission_id)
log.append(MissionAdmitted(
    mission=mission.model_dump(mode="json"),
    route=Route(alias="mission-a5-kimi", profile="kimi", upstream_model="kimi-k2.6"),
))
print(log.path, flush=True)
asyncio.run(run_patch_step(
    project_root=project, mission=mission, intent_data=intent, round=1, redactor=Redactor(),
    report=None, append=log.append,
))
"""
# Verification that takes a while, so the kill lands mid-verification.
SLOW = [sys.executable, "-c", "import time; time.sleep(2.5)"]


def start_runner(tmp_path: Path, project: Path, commands: list[list[str]]) -> subprocess.Popen:
    mission = mission_of(Tier.A5, verification={"commands": commands, "timeout_seconds": 60})
    (tmp_path / "mission.json").write_text(mission.model_dump_json())
    (tmp_path / "intent.json").write_text(json.dumps(good_intent()))
    (tmp_path / "runner.py").write_text(RUNNER)
    return subprocess.Popen(
        [
            sys.executable,
            str(tmp_path / "runner.py"),
            str(project),
            str(tmp_path / "mission.json"),
            str(tmp_path / "intent.json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def wait_for_event(log_path: Path, event_type: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.exists() and event_type in log_path.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{event_type} never appeared in {log_path}")


def assert_log_valid(log_path: Path) -> None:
    load_events(log_path)  # every acknowledged event verifies
    problems = verify_log(log_path).problems
    assert all(problem.kind == "torn" for problem in problems), problems


def test_sigkill_mid_verification_leaves_the_workspace_untouched(tmp_path, project):
    before = workspace_snapshot(project)
    runner = start_runner(tmp_path, project, [SLOW, PYTEST])
    log_path = Path(runner.stdout.readline().strip())
    wait_for_event(log_path, "PatchAppliedInIsolation")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    runner.stdout.close()

    assert workspace_snapshot(project) == before
    assert_log_valid(log_path)
    with pytest.raises(PromotionRefused) as refused:
        promote(project, "fix-moving-sum")
    assert refused.value.code in {"not_verified", "no_patch"}
    time.sleep(2.5)  # let the orphaned verification command finish before tmp_path goes


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.4, 0.7, 1.0])
def test_sigkill_at_any_moment_leaves_the_workspace_untouched(tmp_path, project, delay):
    before = workspace_snapshot(project)
    runner = start_runner(tmp_path, project, [PYTEST])
    log_path = Path(runner.stdout.readline().strip())
    time.sleep(delay)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    runner.stdout.close()
    assert workspace_snapshot(project) == before
    assert_log_valid(log_path)


def test_the_next_run_cleans_up_a_killed_runs_worktree(tmp_path, project):
    runner = start_runner(tmp_path, project, [SLOW])
    log_path = Path(runner.stdout.readline().strip())
    wait_for_event(log_path, "PatchAppliedInIsolation")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    runner.stdout.close()
    assert worktree_path(project, "fix-moving-sum").exists()
    time.sleep(2.5)

    second = start_runner(tmp_path, project, [PYTEST])
    second_log = Path(second.stdout.readline().strip())
    assert second.wait(timeout=60) == 0
    second.stdout.close()
    assert not worktree_path(project, "fix-moving-sum").exists()
    assert load_events(second_log)[-1].event_type == "RollbackRecorded"
    promote(project, "fix-moving-sum")
