"""Claim runtime-backed-investigation: the runtime, not the model, reads and records."""

from __future__ import annotations

import pytest

from pytest_opencode_bridge.harness import final_action, tool_action

pytestmark = pytest.mark.claim("runtime-backed-investigation")


async def test_investigation_reads_through_the_runtime_and_cites_recorded_evidence(
    buggy_project, mission_runner
):
    script = {
        "kimi-k2.6": [
            tool_action("ls", path="src"),
            tool_action("read", path="src/app.py"),
            final_action(
                refs=["file:src/app.py#L3-L3"],
                claim="the loop stops one early",
                quote="range(len(items) - 1)",
            ),
        ]
    }
    run = await mission_runner.run(buggy_project, script)

    assert (run.outcome.status, run.outcome.closure_reason) == ("COMPLETE", "valid_report")
    assert run.outcome.report["files_inspected"] == ["src/app.py"]
    # the file's text reached the model only as the runtime's observation
    assert "range(len(items) - 1)" not in run.upstream_text().split("src/app.py")[0]
    assert "range(len(items) - 1)" in run.upstream_text()
    observed = [event for event in run.events() if event.event_type == "ToolObserved"]
    assert len(observed) == 2
    assert any(line.startswith("reading src/app.py") for line in run.commentary)
    assert "<OSS_REPORT_JSON>" in run.outcome.final_text


async def test_the_report_is_also_written_as_a_projection(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [
            tool_action("read", path="src/app.py"),
            final_action(refs=["file:src/app.py#L1-L5"], quote="range(len(items) - 1)"),
        ]
    }
    run = await mission_runner.run(buggy_project, script)

    names = {path.name for path in run.outcome.artifacts.iterdir()}
    assert {"report.json", "summary.md", "run_record.json"} <= names
    assert '"status": "COMPLETE"' in (run.outcome.artifacts / "report.json").read_text()
