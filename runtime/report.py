"""Report validation: the model's draft may not claim more than the runtime recorded.

Pure: it takes the draft, the evidence the log holds and the mission, and returns the report
the runtime stands behind plus every downgrade it made and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.mission import MissionV1, RequiredOutput, RiskTier, describe_validation_errors

REPORT_SCHEMA = "managed_investigation_report.v1"
FILE_REF = re.compile(r"^file:(?P<path>[^#\s]+)#L(?P<start>\d+)(?:-L?(?P<end>\d+))?$")
EVENT_REF = re.compile(r"^event:(?P<seq>\d+)$")


class Status(StrEnum):
    COMPLETE = "COMPLETE"
    PARTIAL = "PARTIAL"
    ESCALATE = "ESCALATE"
    FAILED = "FAILED"


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
    confidence: Confidence = Confidence.LOW

    @field_validator("confidence", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class DraftReport(BaseModel):
    """What the model may send as ``report``; runtime-owned fields are filled in later."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    confidence: Confidence = Confidence.LOW
    files_inspected: list[str] = Field(default_factory=list)
    commands_run: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list, max_length=100)
    uncertainties: list[str] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    escalation_recommendation: str | None = None

    @field_validator("status", "confidence", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class ReportFormatError(ValueError):
    """The draft is not a managed_investigation_report.v1 object; fit for a repair prompt."""


def parse_draft(data: Any) -> DraftReport:
    """Validate the model's ``report`` object, naming each wrong field."""
    try:
        return DraftReport.model_validate(data)
    except ValidationError as exc:
        lines = describe_validation_errors(exc)
        raise ReportFormatError("report: " + "; ".join(lines)) from None


@dataclass(frozen=True)
class ObservedRange:
    """What one ToolObserved event returned: a file and the lines it showed."""

    seq: int
    tool_name: str
    path: str | None
    start_line: int | None
    end_line: int | None


@dataclass
class EvidenceIndex:
    """Everything report validation needs from the log."""

    observations: dict[int, ObservedRange] = field(default_factory=dict)
    denied_paths: set[str] = field(default_factory=set)
    files_read: list[str] = field(default_factory=list)
    commands_run: list[str] = field(default_factory=list)

    def resolves(self, ref: str) -> tuple[bool, str | None]:
        """Whether ``ref`` points at something recorded; the path it names, if any."""
        if match := EVENT_REF.match(ref):
            return int(match["seq"]) in self.observations, None
        if match := FILE_REF.match(ref):
            path = match["path"].removeprefix("./")
            start = int(match["start"])
            end = int(match["end"] or start)
            if end < start:
                return False, path
            for seen in self.observations.values():
                if (
                    seen.path == path
                    and seen.start_line is not None
                    and seen.end_line is not None
                    and seen.start_line <= start
                    and end <= seen.end_line
                ):
                    return True, path
            return False, path
        return False, None


@dataclass(frozen=True)
class Closure:
    closed_by: Literal["runtime", "model", "bridge", "cli"]
    reason: str
    downgrades: tuple[str, ...] = ()


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
    """Check every claim against the evidence; downgrade, never upgrade."""
    downgrades: list[str] = []
    unresolved: list[str] = []
    status = draft.status
    findings: list[dict[str, Any]] = []
    cited_denied = False

    for index, finding in enumerate(draft.findings):
        kept: list[str] = []
        for ref in finding.evidence_refs:
            ok, path = evidence.resolves(ref.strip())
            if ok:
                kept.append(ref.strip())
                continue
            unresolved.append(ref)
            if path is not None and path in evidence.denied_paths:
                cited_denied = True
        entry = finding.model_dump(mode="json")
        entry["evidence_refs"] = kept
        if not kept:
            entry["confidence"] = Confidence.LOW.value
            entry["unsupported"] = True
            downgrades.append(f"finding {index + 1} has no evidence that resolves in the log")
        findings.append(entry)

    if status is Status.COMPLETE:
        if not findings:
            downgrades.append("COMPLETE without any finding")
            status = Status.PARTIAL
        elif any(entry.get("unsupported") for entry in findings):
            downgrades.append("COMPLETE with a finding that lacks resolvable evidence")
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

    missing = _missing_outputs(mission, draft, findings)
    if missing and status is Status.COMPLETE:
        downgrades.append("required outputs missing: " + ", ".join(missing))
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
        "uncertainties": list(draft.uncertainties),
        "caveats": caveats,
        "escalation_recommendation": draft.escalation_recommendation,
    }
    return ValidatedReport(status, report, downgrades, unresolved)


def runtime_report(
    mission: MissionV1, evidence: EvidenceIndex, status: Status, why: str
) -> dict[str, Any]:
    """The report the runtime writes when the model gave none it could stand behind."""
    return {
        "schema": REPORT_SCHEMA,
        "mission_id": mission.mission_id,
        "status": status.value,
        "confidence": Confidence.LOW.value,
        "files_inspected": list(evidence.files_read),
        "commands_run": list(evidence.commands_run),
        "findings": [],
        "uncertainties": [why],
        "caveats": ["no model report was accepted; this report was written by the runtime"],
        "escalation_recommendation": "Re-run with a stronger profile or a narrower objective.",
    }


def _missing_outputs(
    mission: MissionV1, draft: DraftReport, findings: list[dict[str, Any]]
) -> list[str]:
    present = {
        RequiredOutput.FINDINGS: bool(findings),
        RequiredOutput.FILES_INSPECTED: bool(draft.files_inspected),
        RequiredOutput.COMMANDS_RUN: True,  # the runtime fills it from the log
        RequiredOutput.UNCERTAINTIES: bool(draft.uncertainties),
        RequiredOutput.CAVEATS: bool(draft.caveats),
        RequiredOutput.ESCALATION_RECOMMENDATION: bool(draft.escalation_recommendation),
        RequiredOutput.PATCH_INTENT: True,  # checked by the patch pipeline
        RequiredOutput.VERIFICATION_RESULTS: True,
    }
    return [output.value for output in mission.required_outputs if not present[output]]


def _rank(status: Status) -> int:
    """Higher is more trustworthy; a cap may only lower the rank."""
    return {Status.FAILED: 0, Status.ESCALATE: 1, Status.PARTIAL: 2, Status.COMPLETE: 3}[status]
