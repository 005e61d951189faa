"""The review packet: what a GPT reviewer needs to judge a patch without redoing the work.

``build_review_packet`` is pure (mission, outcome, model report in; JSON-ready dict out) and
says itself when it is inadequate, that is, when a reviewer would have to redo the work to
judge it. ``render_markdown`` is the compact form that goes into the final message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.mission import MissionV1, Tier
from runtime.patches.intent import PatchIntentV1
from runtime.patches.status import PASSED, PatchStatus
from runtime.patches.verdict import passed

PACKET_SCHEMA_VERSION = "review_packet.v1"
# Diffs up to this size go into the markdown inline; larger ones are referenced by file.
INLINE_DIFF_CHARS = 6000
OUTPUT_TAIL_CHARS = 1500


@dataclass
class PacketInput:
    """Everything the packet is made from; fields the step never reached stay empty."""

    mission: MissionV1
    status: PatchStatus
    reasons: list[str]
    intent: PatchIntentV1 | None = None
    diff: str | None = None
    diff_sha256: str | None = None
    rollback_sha256: str | None = None
    changed_paths: list[str] = field(default_factory=list)
    base_commit: str | None = None
    verification: Sequence[dict[str, Any]] = ()  # VerificationRan payloads
    report: dict[str, Any] | None = None
    denials: list[dict[str, Any]] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)


def build_review_packet(data: PacketInput) -> dict[str, Any]:
    """The review packet as a JSON-ready dict (written as ``review_packet.json``)."""
    mission = data.mission
    claims = model_claims(data.intent, data.report)
    caveats = [*data.caveats, *report_caveats(data.report)]
    gaps = adequacy_gaps(data, claims)
    return {
        "schema_version": PACKET_SCHEMA_VERSION,
        "mission_id": mission.mission_id,
        "tier": mission.tier.value,
        "status": data.status,
        # A6 patches are evidence only: promote refuses them whatever their status.
        "mode": "REHEARSAL" if mission.tier is Tier.A6 else "PROMOTABLE",
        "reasons": list(data.reasons),
        "task": mission.objective,
        "requirements": {
            "owned_paths": list(mission.owned_paths),
            "max_files_changed": mission.max_files_changed,
            "max_patch_bytes": mission.max_patch_bytes,
            "verification_commands": (
                [list(c) for c in mission.verification.commands] if mission.verification else []
            ),
            "required_outputs": [o.value for o in mission.required_outputs],
        },
        "changed_paths": list(data.changed_paths),
        "base_commit": data.base_commit,
        "diff": data.diff,
        "diff_sha256": data.diff_sha256,
        "rollback_sha256": data.rollback_sha256,
        "verification": [
            {
                "argv": list(v["argv"]),
                "exit_code": v["exit_code"],
                "timed_out": v["timed_out"],
                "duration_ms": v["duration_ms"],
                "passed": passed(v),
                "output_tail": v["output"][-OUTPUT_TAIL_CHARS:],
            }
            for v in data.verification
        ],
        "denials": list(data.denials),
        "caveats": caveats,
        "model_claims": claims,
        "evidence_refs": report_evidence_refs(data.report),
        "review_questions": review_questions(data),
        "adequacy": {"adequate": not gaps, "gaps": gaps},
        "worktree_kept": None,  # no worktree outlives its step any more; readers keep the key
        "artifacts": dict(data.artifacts),
    }


def model_claims(intent: PatchIntentV1 | None, report: dict[str, Any] | None) -> dict[str, Any]:
    """What the model said about its patch: rationale, findings and their evidence."""
    findings = []
    for finding in (report or {}).get("findings") or []:
        if isinstance(finding, dict) and finding.get("claim"):
            findings.append(
                {
                    "claim": str(finding["claim"]),
                    "evidence_refs": [str(r) for r in finding.get("evidence_refs") or []],
                }
            )
    return {
        "rationale": intent.rationale if intent else "",
        "verification_plan": [list(c) for c in intent.verification_plan] if intent else [],
        "findings": findings,
    }


def report_evidence_refs(report: dict[str, Any] | None) -> list[str]:
    """Every evidence reference the model's report cites, in order, without repeats."""
    refs: list[str] = []
    for finding in (report or {}).get("findings") or []:
        if isinstance(finding, dict):
            refs.extend(str(r) for r in finding.get("evidence_refs") or [] if isinstance(r, str))
    return list(dict.fromkeys(refs))


def report_caveats(report: dict[str, Any] | None) -> list[str]:
    """The model's own caveats and uncertainties, as strings."""
    out: list[str] = []
    for key in ("caveats", "uncertainties"):
        values = (report or {}).get(key) or []
        if isinstance(values, list):
            out.extend(str(v) for v in values if v)
    return out


def adequacy_gaps(data: PacketInput, claims: dict[str, Any]) -> list[str]:
    """Why a reviewer would have to redo the work to judge this packet (empty: adequate)."""
    gaps = []
    if not data.diff:
        gaps.append("no diff: there is no patch to review")
    if data.mission.tier is not Tier.A4 and data.diff:
        if not data.verification:
            gaps.append("no verification ran: the reviewer must test the patch themselves")
        elif not all(passed(v) for v in data.verification):
            gaps.append("verification failed: the patch is not shown to work")
    if not claims["rationale"].strip() and not claims["findings"]:
        gaps.append("no rationale or findings: the reviewer must work out why the change is right")
    if not report_evidence_refs(data.report):
        gaps.append("no evidence references: the model's claims are not tied to what it read")
    return gaps


def review_questions(data: PacketInput) -> list[str]:
    """Specific questions a reviewer should answer before promoting."""
    questions = []
    objective = " ".join(data.mission.objective.split())
    if len(objective) > 160:
        objective = objective[:157] + "..."
    if data.changed_paths:
        questions.append(
            f"Does the change to {', '.join(data.changed_paths)} achieve the task "
            f"({objective!r}) and nothing else?"
        )
    for v in data.verification:
        if not passed(v):
            how = "timed out" if v["timed_out"] else f"exited {v['exit_code']}"
            questions.append(f"Why does `{' '.join(v['argv'])}` fail ({how}) with this patch?")
    if data.changed_paths and not any(_is_test(p) for p in data.changed_paths):
        questions.append(
            "No test changed: would the existing tests catch a regression of this fix?"
        )
    if data.intent is not None:
        unpinned = sorted(
            {e.path for e in data.intent.edits if e.expected_sha256 is None}
            & set(data.changed_paths)
        )
        if unpinned:
            questions.append(
                f"Edits to {', '.join(unpinned)} were not pinned to a base hash: "
                "did the model read the current file before editing it?"
            )
    if data.mission.tier is Tier.A4 and data.diff:
        questions.append("The patch was validated but never run: which check would show it works?")
    if data.denials:
        questions.append(
            f"The model was denied {len(data.denials)} tool call(s): did it need that access?"
        )
    return questions


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "/tests/" in f"/{path}" or name.startswith("test_") or name.endswith("_test.py")


def render_markdown(packet: dict[str, Any]) -> str:
    """A compact markdown rendering of ``packet`` for the final message."""
    rehearsal = packet.get("mode") == "REHEARSAL"
    kind = "REHEARSAL, never promoted" if rehearsal else packet["tier"]
    lines = [
        f"### Patch review: {packet['status']} ({packet['mission_id']}, {kind})",
        f"Task: {packet['task']}",
    ]
    if packet["reasons"]:
        lines.append("Reasons:")
        lines.extend(f"- {reason}" for reason in packet["reasons"])
    if packet["changed_paths"]:
        lines.append(f"Changed: {', '.join(packet['changed_paths'])}")
        lines.append(f"Diff: {packet['diff_sha256']} (rollback {packet['rollback_sha256']})")
    for v in packet["verification"]:
        mark = "passed" if v["passed"] else ("timed out" if v["timed_out"] else "FAILED")
        lines.append(
            f"Verification: `{' '.join(v['argv'])}` {mark} "
            f"(exit {v['exit_code']}, {v['duration_ms'] / 1000:.1f}s)"
        )
    rationale = packet["model_claims"]["rationale"]
    if rationale:
        lines.append(f"Model rationale: {rationale}")
    if packet["caveats"]:
        lines.append("Caveats: " + "; ".join(packet["caveats"]))
    if packet["denials"]:
        lines.append(f"Denials: {len(packet['denials'])}")
    if packet["review_questions"]:
        lines.append("Review questions:")
        lines.extend(f"- {q}" for q in packet["review_questions"])
    adequacy = packet["adequacy"]
    if not adequacy["adequate"]:
        lines.append("Packet INADEQUATE: " + "; ".join(adequacy["gaps"]))
    diff = packet.get("diff") or ""
    if diff and len(diff) <= INLINE_DIFF_CHARS:
        lines.extend(["```diff", diff.rstrip("\n"), "```"])
    elif diff:
        lines.append(f"Diff of {len(diff)} characters: see patch.diff")
    if packet["artifacts"]:
        lines.append("Artifacts: " + ", ".join(sorted(packet["artifacts"].values())))
    if rehearsal:
        lines.append(
            "A6 critical-path rehearsal: this patch shows what would change; "
            "`codex-oss promote` refuses it. A human applies such a change after review."
        )
    elif packet["status"] in PASSED:
        # An A4 patch was never run; promoting it takes an explicit extra flag.
        flag = " --allow-unverified" if packet["status"] == PatchStatus.VALIDATED else ""
        lines.append(
            f"Promote with `codex-oss promote {packet['mission_id']}{flag}` "
            f"(undo: `codex-oss rollback {packet['mission_id']}`)."
        )
    return "\n".join(lines)
