"""A parent Codex session delegates to an agent role whose model is a mission alias."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action
from runtime.answer import extract_report

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
