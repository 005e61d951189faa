"""SIGKILL of the real bridge (``codex-oss up`` as a subprocess) while an A5 mission's
verification command runs in its worktree: the workspace is byte-identical afterwards, the
log's acknowledged prefix verifies and never claims VERIFIED, and the next mission through a
fresh bridge removes the stale worktree and verifies normally."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import handoff_text
from runtime.eventlog import load_events, verify_log
from runtime.patches.promotion import PromotionRefused, promote
from runtime.patches.worktree import worktree_path
from tests.patches.fixture_repo import PYTEST, good_intent, workspace_snapshot
from tests.patches.test_missions_e2e import MISSION_ID, READ, propose

pytestmark = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs procfs")

UPSTREAM_KEY = "upstream-test-key-bridge-crash-0123"
BRIDGE_KEY = "bridge-test-key-bridge-crash-4567"
AUTH = {"Authorization": f"Bearer {BRIDGE_KEY}"}
ALIAS = "mission-a5-kimi"
# Slow on purpose and first in the allowlist: the kill lands while it runs in the worktree.
SLOW = [sys.executable, "-c", "import time; time.sleep(30)"]


def mission_request(commands: list[list[str]], stream: bool) -> dict[str, Any]:
    """A /v1/responses body running the fixture's A5 mission with ``commands`` allowlisted."""
    text = handoff_text(
        "Fix the off-by-one in calc.stats.moving_sum",
        mission_id=MISSION_ID,
        tier="A5",
        owned_paths=["calc"],
        verification={"commands": commands, "timeout_seconds": 60},
    )
    return {
        "model": ALIAS,
        "stream": stream,
        "input": [{"type": "message", "role": "user", "content": text}],
    }


@contextlib.contextmanager
def real_bridge(tmp_path: Path, project: Path, upstream: ScriptedUpstream) -> Iterator[Any]:
    """``python -m bridge.cli up`` on a free port, in its own process group; yields
    (process, base_url). Whatever is left of the group is SIGKILLed on the way out."""
    out = tmp_path / f"bridge-{time.monotonic_ns()}.out"
    env = {
        **os.environ,
        "UPSTREAM_BASE_URL": upstream.base_url,
        "OPENCODE_GO_API_KEY": UPSTREAM_KEY,
        "PROXY_API_KEY": BRIDGE_KEY,
    }
    with out.open("wb") as sink:
        bridge = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "up", "--project", str(project), "--port", "0"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        base_url = wait_serving(bridge, out)
        yield bridge, base_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(bridge.pid, signal.SIGKILL)
        bridge.wait(timeout=10)


def wait_serving(bridge: subprocess.Popen, out: Path, timeout: float = 20) -> str:
    """The bridge's base URL once it prints its address and answers /health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bridge.poll() is not None:
            raise AssertionError(f"bridge exited {bridge.returncode}: {out.read_text()}")
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith("codex-oss bridge on http://"):
                base = line.split()[3].removesuffix("/v1")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/health", headers=AUTH, timeout=1).status_code == 200:
                        return base
        time.sleep(0.05)
    raise AssertionError(f"bridge never became healthy: {out.read_text()}")


def post_in_thread(base_url: str, body: dict[str, Any]) -> threading.Thread:
    """Stream the mission's answer in a daemon thread until the bridge goes away."""

    def run() -> None:
        # The connection must stay open: a client that leaves cancels the mission, which
        # would end verification cleanly instead of by the kill this test is about.
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.stream(
                "POST", f"{base_url}/v1/responses", json=body, headers=AUTH, timeout=60
            ) as answer,
        ):
            for _ in answer.iter_raw():
                pass

    thread = threading.Thread(target=run, name="mission-client", daemon=True)
    thread.start()
    return thread


def wait_for_log_event(project: Path, event_type: str, timeout: float = 20) -> Path:
    """The events.jsonl under ``.codex-oss/runs/`` holding ``event_type``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log_path in (project / ".codex-oss" / "runs").glob("*/events.jsonl"):
            if event_type in log_path.read_text(errors="replace"):
                return log_path
        time.sleep(0.02)
    raise AssertionError(f"{event_type} never appeared in a run log of {project}")


def processes_in(directory: Path) -> list[int]:
    """Pids of live processes whose working directory is ``directory``."""
    target = str(directory.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "cwd") == target:
                found.append(int(entry.name))
    return found


def describe_process(pid: int) -> str:
    with contextlib.suppress(OSError):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = next(
            line
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith(("State", "PPid"))
        )
        return f"{cmdline.strip()} ({state})"
    return "gone"


def wait_for_process_in(directory: Path, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pids := processes_in(directory):
            return pids[0]
        time.sleep(0.02)
    raise AssertionError(f"no verification command started in {directory}")


def kill_groups_in(directory: Path) -> None:
    """SIGKILL the process group of every process still working in ``directory``."""
    for pid in processes_in(directory):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_sigkill_of_the_real_bridge_mid_verification(tmp_path, project):
    before = workspace_snapshot(project)
    worktree = worktree_path(project, MISSION_ID)
    commands = [SLOW, PYTEST]
    script = {"kimi-k2.6": [READ, propose(good_intent(verification_plan=commands))]}
    try:
        with ScriptedUpstream.in_thread(script) as upstream:
            with real_bridge(tmp_path, project, upstream) as (bridge, base_url):
                client = post_in_thread(base_url, mission_request(commands, stream=True))
                log_path = wait_for_log_event(project, "PatchAppliedInIsolation")
                verifier = wait_for_process_in(worktree)
                assert os.getpgid(verifier) == verifier  # verify.py gave it its own group
                assert os.getpgid(verifier) != os.getpgid(bridge.pid)
                os.killpg(bridge.pid, signal.SIGKILL)
                assert bridge.wait(timeout=10) == -signal.SIGKILL
            client.join(timeout=10)
            assert not client.is_alive()
            # The verification command has its own group, so the kill of the bridge's group
            # does not reach it; it dies with the bridge all the same (parent-death signal).
            deadline = time.monotonic() + 5
            while processes_in(worktree) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = {pid: describe_process(pid) for pid in processes_in(worktree)}
            assert left == {}, "the verification command outlived the bridge"

            assert workspace_snapshot(project) == before
            verification = verify_log(log_path)
            assert all(problem.kind == "torn" for problem in verification.problems), (
                verification.problems
            )
            events = load_events(log_path)  # every acknowledged event verifies
            types = [event.event_type for event in events]
            assert "PatchAppliedInIsolation" in types
            assert "VerificationRan" not in types
            assert "MissionFinalized" not in types
            assert "VERIFIED" not in log_path.read_text()  # torn tail included
            with pytest.raises(PromotionRefused) as refused:
                promote(project, MISSION_ID)
            assert refused.value.code in {"not_verified", "no_patch"}
            assert worktree.exists()  # stale, until the next run

            # The next mission, through a fresh bridge, removes the stale worktree first.
            upstream.set_script(
                {"kimi-k2.6": [READ, propose(good_intent(verification_plan=[PYTEST]))]}
            )
            with real_bridge(tmp_path, project, upstream) as (_, base_url):
                answer = httpx.post(
                    f"{base_url}/v1/responses",
                    json=mission_request([PYTEST], stream=False),
                    headers=AUTH,
                    timeout=60,
                )
            assert answer.status_code == 200, answer.text
        second_log = next(
            path
            for path in (project / ".codex-oss" / "runs").glob("*/events.jsonl")
            if path != log_path
        )
        second = load_events(second_log)
        assert verify_log(second_log).ok
        assert [e.payload["status"] for e in second if e.event_type == "MissionFinalized"] == [
            "VERIFIED"
        ]
        assert "RollbackRecorded" in [e.event_type for e in second]
        assert not worktree.exists()
        assert workspace_snapshot(project) == before
        promote(project, MISSION_ID)
    finally:
        kill_groups_in(worktree)
