"""Claim scope-enforcement: out-of-scope reads are denied before any byte is read."""

from __future__ import annotations

import pytest

from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action

pytestmark = pytest.mark.claim("scope-enforcement")

OUTSIDE_SECRET = "outside-the-project-7d1e"


@pytest.mark.parametrize("path", ["../outside/notes.txt", "ABSOLUTE", "src/link.txt"])
async def test_escapes_are_denied_and_the_mission_is_not_complete(
    buggy_project, mission_runner, path
):
    if path == "ABSOLUTE":
        path = str(buggy_project.parent / "outside" / "notes.txt")
    script = {"kimi-k2.6": [tool_action("read", path=path), final_action(refs=["event:3"])]}
    run = await mission_runner.run(buggy_project, script)

    assert run.outcome.status != "COMPLETE"
    assert run.events_of("ToolCallDenied") and OUTSIDE_SECRET not in run.upstream_text()
    assert OUTSIDE_SECRET not in run.disk_text()


async def test_forbidden_roots_are_denied(buggy_project, mission_runner):
    script = {"kimi-k2.6": [tool_action("read", path="src/app.py"), final_action(refs=["event:3"])]}
    run = await mission_runner.run(
        buggy_project, script, handoff=handoff_text(forbidden_roots=["src"])
    )

    assert run.events_of("ToolCallDenied")
    assert "range(len(items)" not in run.upstream_text()
    assert run.outcome.status != "COMPLETE"


async def test_a_tool_outside_the_allowed_classes_is_denied(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [
            tool_action("grep", pattern="total"),
            final_action(refs=["event:3"]),
        ]
    }
    run = await mission_runner.run(
        buggy_project, script, handoff=handoff_text(allowed_tool_classes=["read"])
    )

    assert run.events_of("ToolCallDenied")
    assert run.outcome.status != "COMPLETE"
