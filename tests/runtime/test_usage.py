"""Usage accounting and delegation value, from real run logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.eventlog import MissionEventLog
from runtime.events import (
    MissionAdmitted,
    MissionFinalized,
    ModelCalled,
    ReportValidated,
    Route,
    ToolCallRequested,
)
from runtime.record import reduce
from runtime.usage import CHARS_PER_TOKEN, TOKENS_PER_TOOL_TURN, delegation_value, mission_usage
from tests.observations import observed_read

ROUTE = Route(alias="mission-a3-kimi", profile="kimi", upstream_model="kimi-k2.6")
FINDING = {"claim": "retry lives in net.py", "evidence_refs": ["file:net.py#L1-9"]}


def run_record(tmp_path: Path, *, status: str, output_bytes: int, findings: list) -> object:
    with MissionEventLog.create(tmp_path, "run-1", "m-1") as log:
        log.append(MissionAdmitted(mission={"tier": "A3", "objective": "Find"}, route=ROUTE))
        log.append(
            ModelCalled(
                call_index=1,
                profile="kimi",
                model="kimi-k2.6",
                outcome="ok",
                input_tokens=1200,
                output_tokens=80,
            )
        )
        log.append(ToolCallRequested(call_id=1, tool_name="read", arguments={"path": "net.py"}))
        log.append(observed_read("net.py", "x" * 10, output_bytes=output_bytes))
        report = {"mission_id": "m-1", "status": status, "confidence": "HIGH", "findings": findings}
        log.append(ReportValidated(status=status, report=report))
        log.append(MissionFinalized(status=status, closure_reason="valid_report"))
        return reduce(log.events())


def test_usage_counts_upstream_tokens_and_estimates_both_gpt_sides(tmp_path: Path) -> None:
    usage = mission_usage(
        run_record(tmp_path, status="COMPLETE", output_bytes=40_000, findings=[FINDING])
    )
    assert (usage.profile, usage.tier) == ("kimi", "A3")
    assert (usage.oss_input_tokens, usage.oss_output_tokens) == (1200, 80)
    assert usage.observation_bytes == 40_000
    assert usage.gpt_displaced_tokens == 40_000 // CHARS_PER_TOKEN + TOKENS_PER_TOOL_TURN
    assert 0 < usage.gpt_review_tokens < 400
    assert usage.delegation_value == "good"


def test_a_review_dearer_than_the_work_is_poor_value(tmp_path: Path) -> None:
    usage = mission_usage(
        run_record(tmp_path, status="COMPLETE", output_bytes=20, findings=[FINDING])
    )
    assert usage.delegation_value == "poor"
    assert "costs GPT as much as doing it" in usage.reasons[0]


@pytest.mark.parametrize(
    ("status", "report", "value", "reason"),
    [
        ("FAILED", {"findings": []}, "poor", "no accepted finding"),
        (
            "VERIFIED",
            {"patch": {"adequacy": {"adequate": False, "gaps": ["no diff"]}}},
            "poor",
            "review packet is inadequate (no diff)",
        ),
        ("PARTIAL", {"findings": [FINDING]}, "marginal", "status PARTIAL"),
        ("VERIFIED", {"patch": {"adequacy": {"adequate": True, "gaps": []}}}, "good", "VERIFIED"),
    ],
)
def test_delegation_value_verdicts(status: str, report: dict, value: str, reason: str) -> None:
    verdict, reasons = delegation_value(status, report, review_tokens=100, displaced_tokens=1000)
    assert verdict == value
    assert reason in " ".join(reasons)
