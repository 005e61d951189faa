"""Claim event-log-integrity: a hash-chained log anyone can verify; the record is its fold."""

from __future__ import annotations

import hashlib
import json

import pytest

from pytest_opencode_bridge.harness import final_action, tool_action

pytestmark = pytest.mark.claim("event-log-integrity")

SCRIPT = {
    "kimi-k2.6": [
        tool_action("ls", path="src"),
        tool_action("read", path="src/app.py"),
        final_action(refs=["file:src/app.py#L3-L3"]),
    ]
}


def independent_check(lines: list[bytes]) -> bool:
    """Verify a log with a few lines of code and no project import (DESIGN.md's promise)."""
    previous = None
    for number, raw in enumerate(lines, start=1):
        try:
            event = json.loads(raw)
        except ValueError:
            return False
        claimed = event.pop("event_hash")
        body = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()
        if digest != claimed or event["prev_hash"] != previous or event["seq"] != number:
            return False
        previous = claimed
    return True


@pytest.fixture
async def finished_run(buggy_project, mission_runner):
    return await mission_runner.run(buggy_project, SCRIPT)


def test_a_finished_log_verifies_with_and_without_the_project(finished_run):
    from runtime.eventlog import verify_log

    verification = verify_log(finished_run.log_path)
    assert verification.ok, verification.problems
    lines = finished_run.log_path.read_bytes().splitlines()
    assert independent_check(lines)
    events = [json.loads(line) for line in lines]
    assert events[0]["event_type"] == "MissionAdmitted"
    assert "MissionFinalized" in [event["event_type"] for event in events]


@pytest.mark.parametrize("damage", ["edit", "swap", "drop_middle", "torn_tail"])
def test_tampering_is_detected(finished_run, damage):
    from runtime.eventlog import verify_log

    path = finished_run.log_path
    lines = path.read_bytes().splitlines(keepends=True)
    if damage == "edit":
        target = next(n for n, line in enumerate(lines) if b"src/app.py" in line)
        lines[target] = lines[target].replace(b"src/app.py", b"lib/app.py", 1)
    elif damage == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    elif damage == "drop_middle":
        del lines[2]
    else:
        lines[-1] = lines[-1][: len(lines[-1]) // 2]
    path.write_bytes(b"".join(lines))

    verification = verify_log(path)
    assert not verification.ok
    assert verification.problems
    assert not independent_check(path.read_bytes().splitlines())


def test_the_run_record_is_a_fold_of_the_log(finished_run):
    from runtime.eventlog import verify_log
    from runtime.record import reduce

    record = reduce(finished_run.events())
    assert record.head_hash == verify_log(finished_run.log_path).head_hash
    assert record.status == finished_run.outcome.status
    assert "src/app.py" in record.files_inspected
    saved = json.loads((finished_run.outcome.artifacts / "run_record.json").read_text())
    assert saved["record"]["status"] == record.status
