"""Report validation: the model's draft may not claim more than the runtime recorded.

Pure: it takes the draft, the evidence the log holds and the mission, and returns the report
the runtime stands behind plus every downgrade it made and why: findings whose cited text
does not support them are rejected (and listed), required sources left unread or denied cap
the status, and a required output counts as stated when its key is there, even as ``[]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.closure import Status
from runtime.evidence import EvidenceIndex
from runtime.grounding import finding_problem
from runtime.mission import (
    REPORT_SCHEMA,
    MissionV1,
    Mode,
    RequiredOutput,
    RiskTier,
    describe_validation_errors,
    is_within,
)
from runtime.model_keys import canonical_keys
from runtime.obligations import answer_graph, unanswered


class Confidence(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


CONFIDENCE_ORDER = [Confidence.LOW, Confidence.MEDIUM, Confidence.HIGH]
CONFIDENCE_CAP = {
    RiskTier.LOW: Confidence.HIGH,
    RiskTier.MEDIUM: Confidence.MEDIUM,
    RiskTier.CRITICAL: Confidence.LOW,
}


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: str = Field(min_length=1, max_length=4000)
    evidence_refs: list[str] = Field(default_factory=list, max_length=50)
    quote: str | None = Field(default=None, max_length=4000)
    confidence: Confidence = Confidence.LOW


class DraftReport(BaseModel):
    """What the model may send as ``report``; runtime-owned fields are filled in later.

    ``model_fields_set`` tells a key the model stated (``[]`` and ``null`` included: "none")
    from one it left out (missing).
    """

    model_config = ConfigDict(extra="forbid")

    status: Status
    confidence: Confidence = Confidence.LOW
    files_inspected: list[str] = Field(default_factory=list)
    commands_run: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list, max_length=100)
    uncertainties: list[str] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    escalation_recommendation: str | None = None


class ReportFormatError(ValueError):
    """The draft is not a managed_investigation_report.v1 object; fit for a repair prompt."""


def parse_draft(data: Any) -> DraftReport:
    """Validate the model's ``report`` object, naming each wrong field."""
    return read_draft(data)[0]


def read_draft(data: Any) -> tuple[DraftReport, list[str]]:
    """:func:`parse_draft`, with notes on what the tolerant reader normalised or dropped.

    Lenient where the runtime only narrates or validates anyway: key spellings, the case of
    enums, a string where a list belongs, unknown keys (dropped). A ``status`` outside the
    four is still an error, since it is the report's one verdict.
    """
    notes: list[str] = []
    if not isinstance(data, dict):
        raise ReportFormatError("report: must be a JSON object")
    normal = _normalise_report(data, notes)
    try:
        return DraftReport.model_validate(normal), notes
    except ValidationError as exc:
        lines = describe_validation_errors(exc)
        raise ReportFormatError("report: " + "; ".join(lines)) from None


REPORT_KEY_ALIASES = {
    **dict.fromkeys(("files", "files_read", "inspected_files"), "files_inspected"),
    "commands": "commands_run",
    **dict.fromkeys(("uncertainty", "unknowns", "open_questions"), "uncertainties"),
    **dict.fromkeys(("caveat", "limitations", "warnings"), "caveats"),
    **dict.fromkeys(
        ("escalation", "recommendation", "next_step", "next_steps"), "escalation_recommendation"
    ),
    "overall_confidence": "confidence",
    **dict.fromkeys(("verdict", "result"), "status"),
}
FINDING_KEY_ALIASES = {
    **dict.fromkeys(("text", "finding", "statement", "description", "summary"), "claim"),
    **dict.fromkeys(
        ("evidence", "evidence_ref", "refs", "references", "citations", "sources"), "evidence_refs"
    ),
    **dict.fromkeys(("excerpt", "snippet", "quoted_text", "quotation"), "quote"),
}
STATUS_ALIASES = {
    "COMPLETED": "COMPLETE",
    "ESCALATED": "ESCALATE",
    "FAIL": "FAILED",
    "FAILURE": "FAILED",
    "INCOMPLETE": "PARTIAL",
}
CONFIDENCE_ALIASES = {"MED": "MEDIUM", "MODERATE": "MEDIUM", "VERY HIGH": "HIGH", "VERY LOW": "LOW"}
LIST_KEYS = ("files_inspected", "commands_run", "uncertainties", "caveats")


def _normalise_report(data: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    out = _canonical_keys(data, DraftReport.model_fields, REPORT_KEY_ALIASES, "report", notes)
    if isinstance(out.get("status"), str):
        status = out["status"].strip().upper()
        out["status"] = STATUS_ALIASES.get(status, status)
    if "confidence" in out:
        out["confidence"] = _confidence(out["confidence"], "report confidence", notes)
    for key in LIST_KEYS:
        if key in out:
            out[key] = _as_list(out[key])
    if "findings" in out:
        findings = _as_list(out["findings"])
        out["findings"] = [
            _normalise_finding(item, index, notes) for index, item in enumerate(findings)
        ]
    recommendation = out.get("escalation_recommendation")
    if recommendation is not None and not isinstance(recommendation, str):
        out["escalation_recommendation"] = (
            None if recommendation is False else json.dumps(recommendation, ensure_ascii=False)
        )
    return out


def _normalise_finding(item: Any, index: int, notes: list[str]) -> Any:
    where = f"finding {index + 1}"
    if isinstance(item, str):
        notes.append(f"{where} was a bare string; read as its claim")
        return {"claim": item}
    if not isinstance(item, dict):
        return item
    out = _canonical_keys(item, Finding.model_fields, FINDING_KEY_ALIASES, where, notes)
    if "evidence_refs" in out:
        out["evidence_refs"] = [str(ref) for ref in _as_list(out["evidence_refs"])]
    if "confidence" in out:
        out["confidence"] = _confidence(out["confidence"], f"{where} confidence", notes)
    if out.get("quote") is not None and not isinstance(out["quote"], str):
        out["quote"] = str(out["quote"])
    if isinstance(out.get("quote"), str) and not out["quote"].strip():
        out["quote"] = None
    return out


def _canonical_keys(
    data: dict[str, Any],
    fields: dict[str, Any],
    aliases: dict[str, str],
    where: str,
    notes: list[str],
) -> dict[str, Any]:
    def field_of(key: str) -> str | None:
        folded = key.strip().lower().replace("-", "_").replace(" ", "_")
        return folded if folded in fields else aliases.get(folded)

    out, dropped = canonical_keys(
        data, field_of, twice=ReportFormatError, notes=notes, where=f"{where}: "
    )
    if dropped:
        notes.append(f"{where}: ignored keys the report does not have: " + ", ".join(dropped))
    return out


def _confidence(value: Any, where: str, notes: list[str]) -> str:
    """HIGH, MEDIUM or LOW from what models write; LOW (noted) for what has no clear level."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        level = value / 100 if value > 1 else value
        mapped = "HIGH" if level >= 0.8 else "MEDIUM" if level >= 0.5 else "LOW"
        notes.append(f"{where} {value!r} read as {mapped}")
        return mapped
    text = str(value).strip().upper().replace("_", " ")
    text = CONFIDENCE_ALIASES.get(text, text)
    if text in Confidence.__members__:
        return text
    notes.append(f"{where} {value!r} is not HIGH, MEDIUM or LOW; read as LOW")
    return "LOW"


def _as_list(value: Any) -> Any:
    """A list for a list field: ``null`` is an explicit "none", a lone string one item."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return value


@dataclass(frozen=True)
class ValidatedReport:
    status: Status
    report: dict[str, Any]
    downgrades: list[str]
    unresolved_refs: list[str]


def validate_report(
    draft: DraftReport,
    evidence: EvidenceIndex,
    mission: MissionV1,
    *,
    status_cap: Status | None = None,
) -> ValidatedReport:
    """Check every claim against the evidence; downgrade, never upgrade.

    A finding stays a finding only when its refs resolve in the log and the text they point
    at supports it (:func:`runtime.grounding.finding_problem`); the others are listed under
    ``rejected_findings`` with the reason.
    """
    downgrades: list[str] = []
    unresolved: list[str] = []
    status = draft.status
    findings: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    cited_denied = False
    unresolvable = False

    for index, finding in enumerate(draft.findings):
        kept: list[str] = []
        cited: list[str] = []
        for ref in finding.evidence_refs:
            ok, path, texts = evidence.lookup(ref.strip())
            if ok:
                kept.append(ref.strip())
                cited += texts
                continue
            unresolved.append(ref)
            if path is not None and path in evidence.denied_paths:
                cited_denied = True
        if not kept:
            unresolvable = True
            reason = "no evidence that resolves in the log"
        else:
            reason = finding_problem(finding.claim, finding.quote, cited)
        if reason is None:
            entry = finding.model_dump(mode="json", exclude_none=True)
            entry["evidence_refs"] = kept
            findings.append(entry)
            continue
        downgrades.append(f"finding {index + 1} rejected: {reason}")
        rejected.append(
            {"claim": finding.claim, "evidence_refs": list(finding.evidence_refs), "reason": reason}
        )

    if status is Status.COMPLETE:
        if not draft.findings:
            downgrades.append("COMPLETE without any finding")
            status = Status.PARTIAL
        elif unresolvable:
            downgrades.append("COMPLETE with a finding that lacks resolvable evidence")
            status = Status.PARTIAL
        elif not findings:
            downgrades.append("COMPLETE whose findings were all rejected")
            status = Status.PARTIAL
        elif rejected:
            downgrades.append(f"COMPLETE with {len(rejected)} unsupported finding(s)")
            status = Status.PARTIAL
        if not evidence.observations:
            downgrades.append("COMPLETE without a single recorded observation")
            status = Status.PARTIAL
    if cited_denied and status in (Status.COMPLETE, Status.PARTIAL):
        downgrades.append("a finding cites a source the runtime denied")
        status = Status.ESCALATE

    claimed_files = {path.removeprefix("./") for path in draft.files_inspected}
    never_read = sorted(claimed_files - set(evidence.files_read))
    caveats = list(draft.caveats)
    if never_read:
        caveats.append(
            "files the model listed but never read were removed: " + ", ".join(never_read)
        )
    if rejected:
        caveats.append(
            f"{len(rejected)} finding(s) were rejected as unsupported; see rejected_findings"
        )

    missing = _missing_outputs(mission, draft, findings)
    if missing and status is Status.COMPLETE:
        downgrades.append("required outputs missing: " + ", ".join(missing))
        status = Status.PARTIAL

    unread, denied = source_gaps(mission, evidence)
    caveats += _source_caveats(unread, denied)
    if denied and _rank(status) > _rank(Status.ESCALATE):
        downgrades.append("a required source was denied: " + ", ".join(denied))
        status = Status.ESCALATE
    if unread and _rank(status) > _rank(Status.PARTIAL):
        downgrades.append("required sources not read: " + ", ".join(unread))
        status = Status.PARTIAL

    graph = None
    if mission.effective_mode is Mode.OPEN_INVESTIGATION:
        graph = answer_graph(mission, evidence, findings)
        if (open_questions := unanswered(graph)) and _rank(status) > _rank(Status.PARTIAL):
            downgrades.append(
                "open investigation: not answered by a quoted finding: " + "; ".join(open_questions)
            )
            status = Status.PARTIAL

    if status_cap is not None and _rank(status) > _rank(status_cap):
        downgrades.append(f"status capped at {status_cap.value} by the closure")
        status = status_cap

    confidence = draft.confidence
    cap = CONFIDENCE_CAP[mission.risk_tier]
    if CONFIDENCE_ORDER.index(confidence) > CONFIDENCE_ORDER.index(cap):
        downgrades.append(f"confidence capped at {cap.value} for {mission.risk_tier.value} risk")
        confidence = cap
    if status is not Status.COMPLETE and confidence is Confidence.HIGH:
        confidence = Confidence.MEDIUM

    report = {
        "schema": REPORT_SCHEMA,
        "mission_id": mission.mission_id,
        "status": status.value,
        "confidence": confidence.value,
        "files_inspected": list(evidence.files_read),
        "commands_run": list(evidence.commands_run),
        "findings": findings,
        "rejected_findings": rejected,
        "uncertainties": list(draft.uncertainties),
        "caveats": caveats,
        "escalation_recommendation": draft.escalation_recommendation,
    }
    if graph is not None:
        report["obligations"] = graph
    return ValidatedReport(status, report, downgrades, unresolved)


def runtime_report(
    mission: MissionV1, evidence: EvidenceIndex, status: Status, why: str
) -> dict[str, Any]:
    """The report the runtime writes when the model gave none it could stand behind."""
    unread, denied = source_gaps(mission, evidence)
    return {
        "schema": REPORT_SCHEMA,
        "mission_id": mission.mission_id,
        "status": status.value,
        "confidence": Confidence.LOW.value,
        "files_inspected": list(evidence.files_read),
        "commands_run": list(evidence.commands_run),
        "findings": [],
        "rejected_findings": [],
        "uncertainties": [why],
        "caveats": [
            "no model report was accepted; this report was written by the runtime",
            *_source_caveats(unread, denied),
        ],
        "escalation_recommendation": "Re-run with a stronger profile or a narrower objective.",
    }


def source_gaps(mission: MissionV1, evidence: EvidenceIndex) -> tuple[list[str], list[str]]:
    """The mission's required sources not read yet, and those among them the scope denied."""
    unread = [
        source
        for source in mission.required_source_paths
        if not any(is_within(path, source) for path in evidence.files_read)
    ]
    denied = [
        source
        for source in unread
        if any(is_within(path, source) for path in evidence.blocked_paths)
    ]
    return unread, denied


def _source_caveats(unread: list[str], denied: list[str]) -> list[str]:
    lines = []
    if denied:
        lines.append("required sources the runtime denied: " + ", ".join(denied))
    if not_denied := [source for source in unread if source not in denied]:
        lines.append("required sources never read: " + ", ".join(not_denied))
    return lines


def _missing_outputs(
    mission: MissionV1, draft: DraftReport, findings: list[dict[str, Any]]
) -> list[str]:
    stated = draft.model_fields_set
    present = {
        RequiredOutput.FINDINGS: bool(findings),
        RequiredOutput.CONFIDENCE: "confidence" in stated,
        # The runtime fills both from the log, whatever the model wrote.
        RequiredOutput.FILES_INSPECTED: True,
        RequiredOutput.COMMANDS_RUN: True,
        # An explicit [] or null says "none"; only a key left out is missing.
        RequiredOutput.UNCERTAINTIES: "uncertainties" in stated,
        RequiredOutput.CAVEATS: "caveats" in stated,
        RequiredOutput.ESCALATION_RECOMMENDATION: "escalation_recommendation" in stated,
        RequiredOutput.PATCH_INTENT: True,  # checked by the patch pipeline
        RequiredOutput.VERIFICATION_RESULTS: True,
    }
    return [output.value for output in mission.required_outputs if not present[output]]


def _rank(status: Status) -> int:
    """Higher is more trustworthy; a cap may only lower the rank."""
    return {Status.FAILED: 0, Status.ESCALATE: 1, Status.PARTIAL: 2, Status.COMPLETE: 3}[status]
