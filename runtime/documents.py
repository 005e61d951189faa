"""The per-mission files the origin document lists, each a pure rendering of a RunRecord.

``decision_trace.json`` (policy and closure decisions), ``ledger.json`` (files inspected,
commands run, budgets, redaction state), ``claim_graph.json`` (claims and their evidence state),
and for patch missions ``implementation_report.json`` (patch, apply and verify result) and
``semantic_review.json`` (the patch review result), ``answer_graph.json`` for an open
investigation (its questions and whether the report answered them), and ``usage.json``
(runtime.usage: tokens on both sides and the delegation value). They are projections like
report.json: written from the log, stamped, and checked for drift by ``audit-mission``.
"""

from __future__ import annotations

from typing import Any

from runtime.mission import BUDGET_FIELDS, PATCH_TIERS, MissionV1
from runtime.obligations import questions_of
from runtime.patches.verdict import is_promoted
from runtime.record import RunRecord
from runtime.usage import usage_document

DECISION_TRACE = "decision_trace.json"
LEDGER = "ledger.json"
CLAIM_GRAPH = "claim_graph.json"
IMPLEMENTATION_REPORT = "implementation_report.json"
SEMANTIC_REVIEW = "semantic_review.json"
USAGE = "usage.json"
ANSWER_GRAPH = "answer_graph.json"
DOCUMENT_NAMES = (
    DECISION_TRACE,
    LEDGER,
    CLAIM_GRAPH,
    ANSWER_GRAPH,
    IMPLEMENTATION_REPORT,
    SEMANTIC_REVIEW,
    USAGE,
)


def render_documents(record: RunRecord) -> dict[str, dict[str, Any]]:
    """Each document that applies to ``record``, by file name (patch files for A4+ only)."""
    documents = {
        DECISION_TRACE: decision_trace(record),
        LEDGER: ledger(record),
        CLAIM_GRAPH: claim_graph(record),
        USAGE: usage_document(record),
    }
    if (record.mission or {}).get("mode") == "open_investigation":
        documents[ANSWER_GRAPH] = answer_graph_document(record)
    if (record.mission or {}).get("tier") in PATCH_TIERS:
        documents[IMPLEMENTATION_REPORT] = implementation_report(record)
        documents[SEMANTIC_REVIEW] = semantic_review(record)
    return documents


def answer_graph_document(record: RunRecord) -> dict[str, Any]:
    """An open investigation's questions and their state (runtime.obligations), as validated.

    When no model report was validated, each question is listed as open.
    """
    report = record.report.report if record.report else {}
    questions = report.get("obligations")
    if questions is None:
        try:
            mission = MissionV1.model_validate(record.mission or {})
            asked = questions_of(mission)
        except ValueError:
            asked = []
        questions = [
            {"id": f"q{i + 1}", "question": q, "state": "open", "answered_by_findings": []}
            for i, q in enumerate(asked)
        ]
    return {
        "mission_id": record.mission_id,
        "run_id": record.run_id,
        "status": record.status,
        "questions": questions,
        "sufficient": bool(questions) and all(q["state"] == "answered" for q in questions),
    }


def decision_trace(record: RunRecord) -> dict[str, Any]:
    """Every decision the runtime took, in log order: clamps, denials, budgets, closure."""
    decisions: list[dict[str, Any]] = [
        {"decision": "budget_clamped", **clamp} for clamp in record.clamps
    ]
    decisions += [
        {
            "seq": d.seq,
            "decision": "tool_denied",
            "tool": d.tool_name,
            "reason_code": d.reason_code,
            "message": d.message,
        }
        for d in record.denials
    ]
    decisions += [{"decision": "budget_exhausted", **b} for b in record.budget_exhaustions]
    decisions += [
        {"seq": a.seq, "decision": "action_invalid", "turn": a.turn, "error": a.error}
        for a in record.actions
        if not a.valid
    ]
    implementation = record.implementation
    if implementation.validation is not None:
        decisions.append(
            {
                "decision": "patch_validated"
                if implementation.validation.get("ok")
                else "patch_refused",
                "reasons": list(implementation.validation.get("reasons") or []),
            }
        )
    for name, state in (
        ("patch_promoted", implementation.promoted),
        ("patch_rolled_back", implementation.rolled_back),
    ):
        if state is not None:
            decisions.append({"decision": name, "files_changed": state.get("files_changed")})
    report = record.report
    return {
        "mission_id": record.mission_id,
        "run_id": record.run_id,
        "decisions": decisions,
        "report_downgrades": list(report.downgrades) if report else [],
        "closure": {
            "status": record.status,
            "reason": record.closure_reason,
            "closed_by": record.closed_by,
            "detail": record.closure_detail,
        },
    }


def ledger(record: RunRecord) -> dict[str, Any]:
    """What the run consumed: files, commands, budgets against their limits, redactions."""
    mission = record.mission or {}
    used = record.budgets_used
    spent = {
        "tool_budget": used.tool_calls,
        "max_model_calls": used.model_calls,
        "max_files_to_inspect": used.files_inspected,
        "max_total_observation_bytes": used.observation_bytes,
    }
    return {
        "mission_id": record.mission_id,
        "run_id": record.run_id,
        "files_inspected": list(record.files_inspected),
        "commands_run": [
            {
                "call_id": call.call_id,
                "tool": call.tool_name,
                "arguments": call.arguments,
                "status": call.status,
                "output_bytes": call.output_bytes,
                "truncated": call.truncated,
                "cached": call.cached,
            }
            for call in record.tool_calls
        ],
        "budgets": {
            name: {"limit": mission.get(name), "used": spent.get(name)}
            for name in BUDGET_FIELDS
            if mission.get(name) is not None
        },
        "budgets_exhausted": list(used.exhausted),
        "model_calls": record.model_calls.model_dump(mode="json"),
        "redaction": {
            "observations_redacted": sum(1 for call in record.tool_calls if call.redactions),
            "redactions": sum(call.redactions for call in record.tool_calls),
        },
    }


def claim_graph(record: RunRecord) -> dict[str, Any]:
    """The report's claims, each with its evidence refs and whether they resolved in the log."""
    report = record.report.report if record.report else {}
    unresolved = set(record.report.unresolved_refs) if record.report else set()
    claims = []
    for index, finding in enumerate(report.get("findings") or []):
        if not isinstance(finding, dict):
            continue
        refs = [str(ref) for ref in finding.get("evidence_refs") or []]
        claims.append(
            {
                "id": f"claim-{index + 1}",
                "claim": finding.get("claim", ""),
                "confidence": finding.get("confidence"),
                "evidence": [{"ref": ref, "resolved": ref not in unresolved} for ref in refs],
                "state": "supported" if refs and not set(refs) & unresolved else "unsupported",
            }
        )
    rejected = [
        {"claim": item.get("claim", ""), "reason": item.get("reason", ""), "state": "rejected"}
        for item in report.get("rejected_findings") or []
        if isinstance(item, dict)
    ]
    return {
        "mission_id": record.mission_id,
        "run_id": record.run_id,
        "report_status": record.report.status if record.report else None,
        "claims": claims,
        "rejected_claims": rejected,
        "unresolved_refs": sorted(unresolved),
        "observations": len(record.evidence),
    }


def implementation_report(record: RunRecord) -> dict[str, Any]:
    """The patch, where it was applied, what verification said, and whether it was promoted."""
    state = record.implementation
    validation = state.validation or {}
    return {
        "mission_id": record.mission_id,
        "run_id": record.run_id,
        "tier": (record.mission or {}).get("tier"),
        "status": record.status,
        "intent_rounds": state.intent_rounds,
        "validated": validation.get("ok"),
        "validation_reasons": list(validation.get("reasons") or []),
        "files_changed": list(validation.get("files_changed") or []),
        "diff_sha256": validation.get("diff_sha256"),
        "applied_in_isolation": state.applied is not None,
        "base_commit": (state.applied or {}).get("base_commit"),
        "verification": [
            {
                "argv": v.get("argv"),
                "exit_code": v.get("exit_code"),
                "timed_out": v.get("timed_out", False),
                "duration_ms": v.get("duration_ms"),
            }
            for v in state.verifications
        ],
        "rollback_sha256": (state.rollback or {}).get("rollback_sha256"),
        "promoted": is_promoted(state),
        "rolled_back": state.rolled_back is not None,
    }


def semantic_review(record: RunRecord) -> dict[str, Any]:
    """The review verdict on the patch: each check the runtime ran and whether it held."""
    state = record.implementation
    tier = (record.mission or {}).get("tier")
    validation = state.validation or {}
    checks = [{"check": "scope_and_intent", "ok": validation.get("ok")}]
    if tier != "A4":
        checks.append({"check": "applied_in_isolation", "ok": state.applied is not None})
        checks += [
            {
                "check": "verification: " + " ".join(v.get("argv") or []),
                "ok": v.get("exit_code") == 0 and not v.get("timed_out", False),
            }
            for v in state.verifications
        ]
    return {
        "mission_id": record.mission_id,
        "run_id": record.run_id,
        "status": record.status,
        "mode": "REHEARSAL" if tier == "A6" else "PROMOTABLE",
        "checks": checks,
        "passed": bool(checks) and all(check["ok"] for check in checks),
        "reasons": list(validation.get("reasons") or []),
    }
