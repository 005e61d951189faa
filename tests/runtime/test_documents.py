"""The origin document's per-mission files, rendered from a real run log."""

from __future__ import annotations

from pathlib import Path

from runtime.documents import claim_graph, decision_trace, ledger, render_documents
from runtime.eventlog import MissionEventLog
from runtime.events import (
    BudgetExhausted,
    MissionAdmitted,
    MissionFinalized,
    ReportValidated,
    Route,
    ToolCallDenied,
    ToolCallRequested,
)
from runtime.record import reduce
from tests.observations import observed_read

ROUTE = Route(alias="mission-a3-kimi", profile="kimi", upstream_model="kimi-k2.6")
MISSION = {"tier": "A3", "objective": "Find retries", "tool_budget": 3, "max_model_calls": 9}
REPORT = {
    "status": "PARTIAL",
    "confidence": "MEDIUM",
    "findings": [
        {"claim": "retry lives in net.py", "evidence_refs": ["file:net.py#L1-9"]},
        {"claim": "backoff is in util.py", "evidence_refs": ["file:util.py#L1-3"]},
    ],
    "rejected_findings": [{"claim": "PATCH: PATCH:", "reason": "degenerate text"}],
}


def _record(tmp_path: Path, mission: dict | None = None):
    with MissionEventLog.create(tmp_path, "run-1", "m-1") as log:
        log.append(
            MissionAdmitted(
                mission=mission or MISSION,
                route=ROUTE,
                clamps=[
                    {"field": "tool_budget", "requested": 90, "applied": 3, "reason": "tier_cap"}
                ],
            )
        )
        log.append(ToolCallRequested(call_id=1, tool_name="read", arguments={"path": "net.py"}))
        log.append(observed_read("net.py", "def retry(): ... [REDACTED]", redactions=2))
        log.append(ToolCallRequested(call_id=2, tool_name="read", arguments={"path": ".env"}))
        log.append(
            ToolCallDenied(
                call_id=2,
                tool_name="read",
                arguments={"path": ".env"},
                reason_code="secret_path",
                message=".env is a secret",
            )
        )
        log.append(BudgetExhausted(budget="tool_budget", limit=3, used=3))
        log.append(
            ReportValidated(
                status="PARTIAL",
                report=REPORT,
                downgrades=["capped at PARTIAL"],
                unresolved_refs=["file:util.py#L1-3"],
            )
        )
        log.append(MissionFinalized(status="PARTIAL", closure_reason="budget_exhausted"))
        return reduce(log.events())


def test_the_decision_trace_lists_clamps_denials_budgets_and_the_closure(tmp_path: Path) -> None:
    trace = decision_trace(_record(tmp_path))
    kinds = [d["decision"] for d in trace["decisions"]]
    assert kinds == ["budget_clamped", "tool_denied", "budget_exhausted"]
    assert trace["decisions"][1]["reason_code"] == "secret_path"
    assert trace["report_downgrades"] == ["capped at PARTIAL"]
    assert trace["closure"]["status"] == "PARTIAL"
    assert trace["closure"]["reason"] == "budget_exhausted"


def test_the_ledger_counts_files_commands_budgets_and_redactions(tmp_path: Path) -> None:
    book = ledger(_record(tmp_path))
    assert book["files_inspected"] == ["net.py"]
    assert [c["status"] for c in book["commands_run"]] == ["observed", "denied"]
    assert book["budgets"]["tool_budget"] == {"limit": 3, "used": 2}
    assert book["budgets_exhausted"] == ["tool_budget"]
    assert book["redaction"] == {"observations_redacted": 1, "redactions": 2}


def test_the_claim_graph_marks_unresolved_evidence_and_keeps_rejected_claims(
    tmp_path: Path,
) -> None:
    graph = claim_graph(_record(tmp_path))
    states = {c["claim"]: c["state"] for c in graph["claims"]}
    assert states == {"retry lives in net.py": "supported", "backoff is in util.py": "unsupported"}
    assert graph["rejected_claims"] == [
        {"claim": "PATCH: PATCH:", "reason": "degenerate text", "state": "rejected"}
    ]
    assert graph["unresolved_refs"] == ["file:util.py#L1-3"]


def test_patch_documents_are_rendered_for_patch_tiers_only(tmp_path: Path) -> None:
    assert set(render_documents(_record(tmp_path / "a3"))) == {
        "decision_trace.json",
        "ledger.json",
        "claim_graph.json",
        "usage.json",
    }
    patch_tier = {**MISSION, "tier": "A6"}
    documents = render_documents(_record(tmp_path / "a6", patch_tier))
    assert documents["semantic_review.json"]["mode"] == "REHEARSAL"
    assert documents["implementation_report.json"]["validated"] is None
