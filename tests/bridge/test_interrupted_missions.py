"""Interrupted missions, with real bridge processes: kill -9 mid-mission then start again,
``codex-oss stop`` during a request, a torn tail, and a run that is live elsewhere.

Before: a killed mission stayed open forever (no MissionFinalized, no report.json, explain
could not find it, audit-mission failed, its A5 worktree stayed registered), a torn last line
was reported but never repaired, and ``stop`` SIGKILLed missions in flight so Codex saw only
"error decoding response body".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import handoff_text
from runtime.eventlog import BROKEN_SUFFIX, MissionEventLog, load_events, verify_log
from runtime.events import MissionAdmitted, Route
from runtime.patches.worktree import worktree_path
from runtime.recovery import own_run, recover_runs
from tests.observations import observed_read
from tests.patches.fixture_repo import PYTEST, good_intent, make_fixture_repo
from tests.patches.test_bridge_crash import (
    AUTH,
    SLOW,
    kill_groups_in,
    mission_request,
    post_in_thread,
    real_bridge,
    wait_for_log_event,
    wait_for_process_in,
)
from tests.patches.test_missions_e2e import MISSION_ID, READ, propose

pytestmark = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs procfs")

A3_ID = "m-slow"
# The model takes 60 s to answer: the mission is mid-call whenever the test acts.
SLOW_MODEL = {"kimi-k2.6": {"turns": [{"delay_seconds": 60}], "repeat_last": True}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_fixture_repo(tmp_path / "project")


def a3_request(stream: bool = True) -> dict[str, Any]:
    return {
        "model": "mission-a3-kimi",
        "stream": stream,
        "input": [{"type": "message", "role": "user", "content": handoff_text(mission_id=A3_ID)}],
    }


def codex_oss(*args: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args, "--project", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def finals(log_path: Path) -> list[tuple[str, str]]:
    return [
        (e.payload["status"], e.payload["closure_reason"])
        for e in load_events(log_path)
        if e.event_type == "MissionFinalized"
    ]


def wait_for_requests(upstream: ScriptedUpstream, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(upstream.requests) < count:
        assert time.monotonic() < deadline, "the mission never called the model"
        time.sleep(0.02)


def test_kill_9_mid_mission_then_start_again_closes_the_run(tmp_path: Path, project: Path):
    with ScriptedUpstream.in_thread(SLOW_MODEL) as upstream:
        with real_bridge(tmp_path, project, upstream) as (bridge, base_url):
            client = post_in_thread(base_url, a3_request())
            log_path = wait_for_log_event(project, "MissionAdmitted")
            wait_for_requests(upstream, 1)
            os.killpg(bridge.pid, signal.SIGKILL)
            bridge.wait(timeout=10)
        client.join(timeout=10)
        assert finals(log_path) == []  # the failure: open, no report
        with real_bridge(tmp_path, project, upstream):
            pass  # starting is enough
    events = load_events(log_path)
    types = [e.event_type for e in events]
    interrupted = next(e for e in events if e.event_type == "MissionInterrupted")
    assert interrupted.payload["cause"] == "process_died"
    assert types.index("MissionInterrupted") < types.index("MissionFinalized")
    assert interrupted.source == "bridge"  # the restarted bridge closed it
    assert finals(log_path) == [("FAILED", "interrupted")]
    assert verify_log(log_path).ok
    report = json.loads((project / ".codex-oss/missions" / A3_ID / "report.json").read_text())
    assert report["status"] == "FAILED" and report["closure"]["reason"] == "interrupted"
    explained = codex_oss("explain", A3_ID, project=project)
    assert explained.returncode == 0, explained.stderr
    assert "interrupted" in explained.stdout
    audited = codex_oss("audit-mission", A3_ID, project=project)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    # A second start finds nothing left to do.
    assert recover_runs(project) == []


def test_kill_9_mid_verification_prunes_the_a5_worktree_on_the_next_start(
    tmp_path: Path, project: Path
):
    worktree = worktree_path(project, MISSION_ID)
    commands = [SLOW, PYTEST]
    script = {"kimi-k2.6": [READ, propose(good_intent(verification_plan=commands))]}
    try:
        with ScriptedUpstream.in_thread(script) as upstream:
            with real_bridge(tmp_path, project, upstream) as (bridge, base_url):
                post_in_thread(base_url, mission_request(commands, stream=True))
                log_path = wait_for_log_event(project, "PatchAppliedInIsolation")
                wait_for_process_in(worktree)
                os.killpg(bridge.pid, signal.SIGKILL)
                bridge.wait(timeout=10)
            kill_groups_in(worktree)
            assert worktree.exists()
            registered = subprocess.run(
                ["git", "worktree", "list"], cwd=project, capture_output=True, text=True
            ).stdout
            assert str(worktree) in registered
            with real_bridge(tmp_path, project, upstream):
                pass
        assert finals(log_path) == [("FAILED", "interrupted")]
        assert not worktree.exists()
        registered = subprocess.run(
            ["git", "worktree", "list"], cwd=project, capture_output=True, text=True
        ).stdout
        assert str(worktree) not in registered
        assert codex_oss("explain", MISSION_ID, project=project).returncode == 0
    finally:
        kill_groups_in(worktree)


def _open_run(project: Path, run_id: str) -> Path:
    route = Route(alias="mission-a3-kimi", profile="kimi", upstream_model="kimi-k2.6")
    with MissionEventLog.create(project, run_id, "m-torn") as log:
        log.append(MissionAdmitted(mission={"tier": "A3", "objective": "x"}, route=route))
        log.append(observed_read("a.py", "x", end_line=2))
        return log.path


def test_a_torn_tail_is_moved_aside_and_the_run_closed(project: Path):
    log_path = _open_run(project, "run-torn")
    torn = b'{"seq":3,"event_type":"ToolObs'
    with open(log_path, "ab") as handle:
        handle.write(torn)
    assert [p.kind for p in verify_log(log_path).problems] == ["torn"]  # reported, not repaired
    result = codex_oss("verify-log", "run-torn", project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "moved a torn tail of 30 bytes aside" in result.stderr
    assert log_path.with_name(log_path.name + BROKEN_SUFFIX).read_bytes() == torn + b"\n"
    assert finals(log_path) == [("FAILED", "interrupted")]
    interrupted = next(e for e in load_events(log_path) if e.event_type == "MissionInterrupted")
    assert interrupted.payload["torn_bytes"] == len(torn)
    shown = codex_oss("show-summary", "m-torn", project=project)
    assert shown.returncode == 0 and "interrupted" in shown.stdout


def test_a_run_live_in_another_process_is_left_alone(project: Path):
    log_path = _open_run(project, "run-live")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from runtime.recovery import own_run\n"
            "with own_run(Path(sys.argv[1])):\n    print('owned', flush=True); time.sleep(60)",
            str(log_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "owned"
        assert recover_runs(project) == []
        assert codex_oss("explain", project=project).returncode == 2  # nothing closed yet
        assert finals(log_path) == []
        with pytest.raises(RuntimeError), own_run(log_path):  # nor can this process
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)
    recovered = recover_runs(project)
    assert [r.run_id for r in recovered] == ["run-live"]
    assert finals(log_path) == [("FAILED", "interrupted")]


def test_a_live_mission_in_a_running_bridge_is_not_finalized_by_a_command(
    tmp_path: Path, project: Path
):
    with (
        ScriptedUpstream.in_thread(SLOW_MODEL) as upstream,
        real_bridge(tmp_path, project, upstream) as (_, base_url),
    ):
        post_in_thread(base_url, a3_request())
        log_path = wait_for_log_event(project, "MissionAdmitted")
        wait_for_requests(upstream, 1)
        for command in ("verify-log", "show-trace", "audit-mission"):
            args = (log_path.parent.name,) if command == "verify-log" else (A3_ID,)
            codex_oss(command, *args, project=project)
        assert "MissionInterrupted" not in log_path.read_text()
        assert finals(log_path) == []


def _stream_events(base_url: str, body: dict[str, Any], sink: list[dict[str, Any]]) -> None:
    with httpx.stream(
        "POST", f"{base_url}/v1/responses", json=body, headers=AUTH, timeout=60
    ) as answer:
        for line in answer.iter_lines():
            if line.startswith("data: "):
                sink.append(json.loads(line[6:]))


def test_stop_during_a_request_gives_the_client_the_interrupted_report(
    tmp_path: Path, project: Path
):
    received: list[dict[str, Any]] = []
    with (
        ScriptedUpstream.in_thread(SLOW_MODEL) as upstream,
        real_bridge(tmp_path, project, upstream) as (bridge, base_url),
    ):
        client = threading.Thread(
            target=_stream_events, args=(base_url, a3_request(), received), daemon=True
        )
        client.start()
        log_path = wait_for_log_event(project, "MissionAdmitted")
        wait_for_requests(upstream, 1)
        started = time.monotonic()
        stopped = codex_oss("stop", project=project)
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped the bridge" in stopped.stdout  # SIGTERM sufficed, no SIGKILL
        assert time.monotonic() - started < 9
        client.join(timeout=20)
        assert bridge.wait(timeout=10) == 0
    types = [event.get("type") for event in received]
    assert types[-1] in {"response.completed", "response.failed"}, types
    finals_sent = [
        event["item"]
        for event in received
        if event.get("type") == "response.output_item.done"
        and event["item"].get("phase") == "final_answer"
    ]
    assert len(finals_sent) == 1
    text = finals_sent[0]["content"][0]["text"]
    assert "FAILED" in text and "interrupted" in text
    assert '"reason": "interrupted"' in text  # the machine report says so too
    events = load_events(log_path)
    interrupted = [e for e in events if e.event_type == "MissionInterrupted"]
    assert [e.payload["cause"] for e in interrupted] == ["bridge_stopped"]
    assert finals(log_path) == [("FAILED", "interrupted")]
    assert (project / ".codex-oss/missions" / A3_ID / "report.json").is_file()
