"""``codex-oss mission run`` and ``explain`` as a user runs them: a subprocess, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import final_action, handoff_text, make_git_project, tool_action

CLI = [sys.executable, "-m", "bridge.cli"]


def codex_oss(*args: str, env: dict[str, str], cwd: Path | None = None):
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd
    )


def mission_run(handoff: Path, project: Path, *extra: str, env: dict[str, str]):
    """``codex-oss mission run HANDOFF --model mission-a3-kimi --project PROJECT [extra]``."""
    command = ["mission", "run", str(handoff), "--model", "mission-a3-kimi"]
    return codex_oss(*command, "--project", str(project), *extra, env=env)


def test_mission_run_streams_commentary_and_prints_the_report(tmp_path: Path):
    project = make_git_project(tmp_path / "p", {"src/app.py": "def f():\n    return 1\n"})
    handoff = tmp_path / "handoff.txt"
    handoff.write_text(handoff_text("What does f return?", mission_id="m-cli"))
    script = {
        "kimi-k2.6": [
            tool_action("read", path="src/app.py"),
            final_action(refs=["file:src/app.py#L1-L2"], claim="f returns 1"),
        ]
    }
    with ScriptedUpstream.in_thread(script) as upstream:
        env = {**os.environ, "UPSTREAM_BASE_URL": upstream.base_url}
        run = mission_run(handoff, project, env=env)
        # Without --project, the project is the one around the current directory.
        explained = codex_oss("explain", "m-cli", env=env, cwd=project / "src")

    assert run.returncode == 0, run.stderr
    assert "reading src/app.py lines 1-2" in run.stderr
    assert "<OSS_REPORT_JSON>" in run.stdout
    assert explained.returncode == 0, explained.stderr
    assert "COMPLETE" in explained.stdout
    assert "valid_report" in explained.stdout


def test_mission_run_exits_1_on_an_honest_partial(tmp_path: Path):
    project = make_git_project(tmp_path / "p", {"a.txt": "x\n"})
    handoff = tmp_path / "handoff.txt"
    handoff.write_text(handoff_text(mission_id="m-partial"))
    script = {"kimi-k2.6": [final_action(refs=["file:a.txt#L1-L1"])]}
    with ScriptedUpstream.in_thread(script) as upstream:
        env = {**os.environ, "UPSTREAM_BASE_URL": upstream.base_url}
        run = mission_run(handoff, project, "--json", env=env)
        explained = codex_oss("explain", "--project", str(project), "--json", env=env)

    assert run.returncode == 1
    assert json.loads(run.stdout)["status"] == "PARTIAL"
    lines = json.loads(explained.stdout)["lines"]
    assert any("downgrade" in line for line in lines)


def test_mission_run_refuses_a_bad_handoff_with_usage_error(tmp_path: Path):
    handoff = tmp_path / "handoff.txt"
    handoff.write_text("no block here")
    run = mission_run(handoff, tmp_path, env=dict(os.environ))
    assert run.returncode == 2
    assert "OSS_HANDOFF_JSON" in run.stderr


def test_mission_run_timeout_caps_the_missions_time_budget(tmp_path: Path):
    project = make_git_project(tmp_path / "p", {"a.txt": "x\n"})
    handoff = tmp_path / "handoff.txt"
    handoff.write_text(handoff_text(mission_id="m-timeout", time_budget_seconds=120))
    script = {"kimi-k2.6": [{"delay_seconds": 30, **tool_action("read", path="a.txt")}]}
    with ScriptedUpstream.in_thread(script) as upstream:
        env = {**os.environ, "UPSTREAM_BASE_URL": upstream.base_url}
        run = mission_run(handoff, project, "--timeout", "2", "--json", env=env)

    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["status"] in {"PARTIAL", "FAILED"}
    assert report["closure"]["reason"] == "deadline_reached"
    events = (project / ".codex-oss" / "runs").glob("*/events.jsonl")
    [log] = list(events)
    admitted = json.loads(log.read_text().splitlines()[0])
    assert admitted["payload"]["mission"]["time_budget_seconds"] == 2
