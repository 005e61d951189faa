"""A parent Codex session delegates to an agent role whose model is a mission alias."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action
from runtime.answer import extract_report
from runtime.eventlog import load_events

pytestmark = pytest.mark.codex

PARENT = "parent-model"


def _handoff() -> str:
    return handoff_text("Why does total() miss the last item?", "m-e2e")


def _mission_turns() -> list[dict]:
    read = tool_action("read", "read the function", path="src/app.py", start_line=1, end_line=2)
    claim = "total() slices off the last item"
    return [read, final_action(refs=["file:src/app.py#L1-L2"], claim=claim)]


def _parent_follows_the_child(upstream):
    """Answers the parent's next turn from what Codex sent back (the agent id is dynamic)."""

    def on_request(record) -> None:
        body = record.body if isinstance(record.body, dict) else {}
        if record.model != PARENT or not body.get("messages"):
            return
        tools = [m for m in body["messages"] if m.get("role") == "tool"]
        if not tools:
            return
        # Codex may add a <subagent_notification> user message after the tool output.
        content = tools[-1].get("content") or ""
        if '"agent_id"' in content:
            agent_id = json.loads(content)["agent_id"]
            wait = {"targets": [agent_id], "timeout_ms": 120000}
            upstream.add_turns(
                PARENT,
                [{"tool_calls": [{"name": "multi_agent_v1__wait_agent", "arguments": wait}]}],
            )
        else:
            upstream.add_turns(PARENT, [{"content": "The OSS agent reported back."}])

    return on_request


def test_a_parent_session_receives_the_missions_evidence_backed_report(rig):
    src = Path(rig.project) / "src"
    src.mkdir()
    (src / "app.py").write_text("def total(items):\n    return sum(items[:-1])  # drops the last\n")
    spawn = {"agent_type": "oss_investigator", "message": _handoff()}
    rig.upstream.set_script(
        {
            PARENT: [{"tool_calls": [{"name": "multi_agent_v1__spawn_agent", "arguments": spawn}]}],
            "kimi-k2.6": _mission_turns(),
        }
    )
    rig.upstream.on_request = _parent_follows_the_child(rig.upstream)
    rig.add_role("oss_investigator", "mission-a3-kimi", "Run the delegated OSS mission.")

    result = rig.exec("delegate the investigation to oss_investigator", f"ocg-{PARENT}")
    assert result.returncode == 0, result.stderr
    assert "The OSS agent reported back." in result.stdout

    assert len(rig.upstream.chat_requests("kimi-k2.6")) == 2  # the mission ran its two turns
    parent_turns = rig.upstream.chat_requests(PARENT)
    wait_output = [m for m in parent_turns[-1].body["messages"] if m["role"] == "tool"][-1][
        "content"
    ]
    report = extract_report(json.loads(wait_output)["status"].popitem()[1]["completed"])
    assert report is not None and report["status"] == "COMPLETE"
    assert report["findings"][0]["evidence_refs"] == ["file:src/app.py#L1-L2"]
    assert (Path(rig.project) / ".codex-oss/missions/m-e2e/report.json").exists()


# -- a FAILED mission, with Codex's default retries ---------------------------------------------

# How real models miss the action format: prose, then prose again after the repair prompt.
PROSE_TWICE = [
    {"content": "Sure! I looked around and total() seems fine to me."},
    {"content": "As I said, nothing to report here, the code is correct."},
]


def _recorded_report(project: Path, mission_id: str) -> dict:
    path = Path(project) / ".codex-oss/missions" / mission_id / "report.json"
    data = json.loads(path.read_text())
    data.pop("projection_stamp")
    return data


def _admissions(project: Path, mission_id: str) -> int:
    """MissionAdmitted events for ``mission_id`` across every run log of the project."""
    logs = (Path(project) / ".codex-oss" / "runs").glob("*/events.jsonl")
    return sum(
        1
        for log in logs
        for event in load_events(log)
        if event.event_type == "MissionAdmitted" and event.mission_id == mission_id
    )


def test_a_failed_missions_full_report_reaches_the_parent_and_the_mission_runs_once(rig):
    rig.retries = True  # Codex's defaults: 4 request retries, 5 stream retries
    spawn = {"agent_type": "oss_investigator", "message": _handoff()}
    rig.upstream.set_script(
        {
            PARENT: [{"tool_calls": [{"name": "multi_agent_v1__spawn_agent", "arguments": spawn}]}],
            "kimi-k2.6": PROSE_TWICE,
        }
    )
    rig.upstream.on_request = _parent_follows_the_child(rig.upstream)
    rig.add_role("oss_investigator", "mission-a3-kimi", "Run the delegated OSS mission.")

    result = rig.exec("delegate the investigation to oss_investigator", f"ocg-{PARENT}")
    assert result.returncode == 0, result.stderr
    assert "The OSS agent reported back." in result.stdout

    parent_turns = rig.upstream.chat_requests(PARENT)
    wait_output = [m for m in parent_turns[-1].body["messages"] if m["role"] == "tool"][-1][
        "content"
    ]
    (child,) = json.loads(wait_output)["status"].values()
    assert set(child) == {"completed"}  # not "errored: stream disconnected ..."
    report = extract_report(child["completed"])
    assert report == _recorded_report(rig.project, "m-e2e")  # the full report, not a summary
    assert (report["status"], report["closure"]["reason"]) == ("FAILED", "action_parse_failed")

    assert rig.seen_models().count("mission-a3-kimi") == 1  # Codex did not retry
    assert _admissions(rig.project, "m-e2e") == 1
    assert len(list((Path(rig.project) / ".codex-oss" / "runs").iterdir())) == 1
    assert len(rig.upstream.chat_requests("kimi-k2.6")) == 2  # one mission: a turn and a repair


def test_a_session_on_the_mission_alias_prints_the_failed_report_and_runs_once(rig):
    rig.retries = True
    rig.upstream.set_script({"kimi-k2.6": PROSE_TWICE})

    result = rig.exec(_handoff(), "mission-a3-kimi")
    assert result.returncode == 0, result.stderr

    report = extract_report(result.stdout)
    assert report == _recorded_report(rig.project, "m-e2e")
    assert report["status"] == "FAILED"
    assert rig.seen_models() == ["mission-a3-kimi"]
    assert _admissions(rig.project, "m-e2e") == 1


def test_a_reused_mission_id_is_replayed_or_refused_never_run_again(rig):
    rig.retries = True
    rig.upstream.set_script({"kimi-k2.6": PROSE_TWICE})
    assert rig.exec(_handoff(), "mission-a3-kimi").returncode == 0

    again = rig.exec(_handoff(), "mission-a3-kimi")
    assert again.returncode == 0, again.stderr
    assert "Replayed from the log: mission m-e2e" in again.stdout
    assert extract_report(again.stdout) == _recorded_report(rig.project, "m-e2e")

    other = handoff_text("A different question under the same id.", "m-e2e")
    refused = rig.exec(other, "mission-a3-kimi")
    shown = refused.stdout + refused.stderr
    assert "mission_id 'm-e2e' is already used" in shown, shown[-2000:]

    assert rig.seen_models() == ["mission-a3-kimi"] * 3  # the 400 is shown, not retried
    assert _admissions(rig.project, "m-e2e") == 1
    assert len(rig.upstream.chat_requests("kimi-k2.6")) == 2
