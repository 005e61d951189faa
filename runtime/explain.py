"""Why a mission ended the way it did, told from its RunRecord (a pure fold of the log)."""

from __future__ import annotations

from runtime.closure import words
from runtime.patches.verdict import patch_state
from runtime.record import RunRecord


def explain(record: RunRecord) -> list[str]:
    """Plain lines: the outcome, what closed it, and every decision that shaped the status."""
    if record.status == "empty":
        return ["the log holds no events"]
    reason = record.closure_reason or "not closed"
    lines = [
        f"mission {record.mission_id} (run {record.run_id}): {record.status}",
        f"closed by {record.closed_by or '-'}: {reason}: {words(record.closure_reason)}",
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
    lines += _patch_lines(record)
    if record.report is not None:
        for downgrade in record.report.downgrades:
            lines.append(f"downgrade: {downgrade}")
        for ref in record.report.unresolved_refs:
            lines.append(f"evidence that did not resolve: {ref}")
    return lines


def _patch_lines(record: RunRecord) -> list[str]:
    """The last patch proposal's verdict and whether it is in the workspace now."""
    state = patch_state(record)
    if state is None:
        return []
    verdict = state.verdict
    if verdict is None:
        return ["patch: the patch step did not finish"]
    lines = [f"patch: {verdict.status}" + "".join(f"; {reason}" for reason in verdict.reasons)]
    if state.promoted:
        lines.append("the patch is promoted into the workspace (codex-oss rollback undoes it)")
    elif record.implementation.rolled_back is not None:
        lines.append("the patch was promoted, then rolled back")
    return lines
