"""Why a mission ended the way it did, told from its RunRecord (a pure fold of the log)."""

from __future__ import annotations

from runtime.record import RunRecord

CLOSURE_WORDS = {
    "valid_report": "the model closed with a report the runtime validated",
    "budget_exhausted": "a budget ran out and the runtime forced a final turn",
    "deadline_reached": "the mission's time budget ran out",
    "model_call_failed": "the upstream model failed (after retries and fallbacks)",
    "action_parse_failed": "the model's answer was not a valid action, even after one repair",
    "client_disconnected": "the client went away and the mission was cancelled",
    "stop_condition_blocked_source": "the model reached for a blocked source, a stop condition",
    "patch_validated": "the proposed patch passed validation (A4: not applied)",
    "patch_verified": "the patch applied in isolation and its verification passed",
    "verification_failed": "the patch applied in isolation but verification failed",
    "patch_rejected": "the proposed patch was rejected by validation",
    "patch_escalated": "the patch touches a critical path: a human must decide",
    "patch_failed": "the patch step could not finish",
}


def explain(record: RunRecord) -> list[str]:
    """Plain lines: the outcome, what closed it, and every decision that shaped the status."""
    if record.status == "empty":
        return ["the log holds no events"]
    reason = record.closure_reason or "not closed"
    lines = [
        f"mission {record.mission_id} (run {record.run_id}): {record.status}",
        f"closed by {record.closed_by or '-'}: {reason}: {CLOSURE_WORDS.get(reason, reason)}",
    ]
    if record.closure_detail:
        lines.append(f"detail: {record.closure_detail}")
    calls = record.model_calls
    used = record.budgets_used
    lines.append(
        f"work: {used.model_calls} model call(s), {used.tool_calls} tool call(s), "
        f"{len(record.evidence)} observation(s), {used.denials} denial(s), "
        f"{used.observation_bytes} observation bytes"
    )
    if calls.fallbacks:
        lines.append(f"the route fell back {calls.fallbacks} time(s) to another profile")
    if calls.retries:
        lines.append(f"the upstream was retried {calls.retries} time(s)")
    for exhausted in record.budget_exhaustions:
        lines.append(
            f"budget {exhausted.get('budget')} exhausted "
            f"({exhausted.get('used')}/{exhausted.get('limit')})"
        )
    for denial in record.denials:
        lines.append(f"denied {denial.tool_name}: {denial.reason_code}: {denial.message}")
    for clamp in record.clamps:
        if clamp.get("reason") == "tier_cap":
            lines.append(
                f"{clamp.get('field')} clamped from {clamp.get('requested')} "
                f"to {clamp.get('applied')} (tier cap)"
            )
    if record.report is not None:
        for downgrade in record.report.downgrades:
            lines.append(f"downgrade: {downgrade}")
        for ref in record.report.unresolved_refs:
            lines.append(f"evidence that did not resolve: {ref}")
    return lines
