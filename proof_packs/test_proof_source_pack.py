"""Claim source-pack-recovery: when a read-only mission's synthesis fails after evidence was
gathered, the runtime returns the recorded sources as an explicit recovery report, built only
from its observations, never above PARTIAL, marked SOURCE_PACK_RECOVERY in the report and the
final message."""

from __future__ import annotations

import json

import pytest

from pytest_opencode_bridge.harness import handoff_text, tool_action
from runtime.answer import extract_report

pytestmark = pytest.mark.claim("source-pack-recovery")

READ = tool_action("read", "read the function", path="src/app.py", start_line=1, end_line=5)
PROSE = {"content": "I looked at the code and I think the loop is wrong. Let me explain..."}


async def test_prose_after_evidence_gives_a_recovery_report_from_the_recorded_sources(
    buggy_project, mission_runner
):
    run = await mission_runner.run(buggy_project, {"kimi-k2.6": [READ, PROSE, PROSE]})
    report = extract_report(run.outcome.final_text)
    assert run.outcome.status == "PARTIAL"
    assert report["synthesis_status"] == "SOURCE_PACK_RECOVERY"
    assert "Synthesis status: SOURCE_PACK_RECOVERY" in run.outcome.final_text
    assert report["findings"] == []  # the runtime claims nothing on the model's behalf
    [source] = report["source_pack"]
    assert source["ref"] == "file:src/app.py#L1-L5"
    observed = run.events_of("ToolObserved")[0].payload["output"]
    assert "range(len(items) - 1)" in source["excerpt"]
    assert all(line in observed for line in source["excerpt"].splitlines())
    on_disk = json.loads((run.outcome.artifacts / "report.json").read_text())
    assert on_disk["synthesis_status"] == "SOURCE_PACK_RECOVERY"


async def test_without_evidence_a_failed_synthesis_stays_failed(buggy_project, mission_runner):
    run = await mission_runner.run(buggy_project, {"kimi-k2.6": [PROSE, PROSE]})
    report = extract_report(run.outcome.final_text)
    assert run.outcome.status == "FAILED"
    assert "synthesis_status" not in report


async def test_a_blocked_source_keeps_the_recovery_at_escalate(buggy_project, mission_runner):
    denied = tool_action("read", "check the env", path=".env")
    run = await mission_runner.run(buggy_project, {"kimi-k2.6": [READ, denied, PROSE, PROSE]})
    report = extract_report(run.outcome.final_text)
    assert run.outcome.status == "ESCALATE"
    assert report["synthesis_status"] == "SOURCE_PACK_RECOVERY"


async def test_patch_tiers_get_no_source_pack(buggy_project, mission_runner):
    handoff = handoff_text("Fix total()", "m-a4", "A4", owned_paths=["src"])
    run = await mission_runner.run(
        buggy_project,
        {"kimi-k2.6": [READ, PROSE, PROSE]},
        alias="mission-a4-kimi",
        handoff=handoff,
    )
    assert run.outcome.status == "FAILED"
    assert "synthesis_status" not in extract_report(run.outcome.final_text)
