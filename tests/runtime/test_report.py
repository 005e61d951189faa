import pytest

from runtime.mission import RiskTier, Tier, compile_mission, template
from runtime.report import (
    EvidenceIndex,
    ObservedRange,
    ReportFormatError,
    Status,
    parse_draft,
    validate_report,
)


def mission(**fields):
    return compile_mission(template(Tier.A3, "find the bug", "m-1", **fields)).mission


def evidence():
    index = EvidenceIndex()
    index.observations[4] = ObservedRange(4, "read", "src/app.py", 1, 40)
    index.observations[7] = ObservedRange(7, "grep", None, None, None)
    index.files_read.append("src/app.py")
    index.commands_run.append("read path=src/app.py")
    index.denied_paths.add(".env")
    return index


def draft(status="COMPLETE", refs=("file:src/app.py#L3-L9",), **extra):
    data = {
        "status": status,
        "confidence": "HIGH",
        "findings": [
            {"claim": "the bug is on line 5", "evidence_refs": list(refs), "confidence": "HIGH"}
        ],
    }
    data.update(extra)
    return parse_draft(data)


def test_complete_with_resolving_evidence_stays_complete():
    result = validate_report(draft(), evidence(), mission())
    assert result.status is Status.COMPLETE
    assert result.downgrades == []
    assert result.report["findings"][0]["evidence_refs"] == ["file:src/app.py#L3-L9"]


@pytest.mark.parametrize(
    "ref", ["file:src/app.py#L30-L60", "file:src/other.py#L1-L2", "event:99", "line 5", "event:1"]
)
def test_unresolvable_evidence_downgrades_complete(ref):
    result = validate_report(draft(refs=[ref]), evidence(), mission())
    assert result.status is Status.PARTIAL
    assert result.unresolved_refs == [ref]
    assert result.report["findings"][0]["unsupported"] is True


def test_event_ref_to_an_observation_resolves():
    result = validate_report(draft(refs=["event:7"]), evidence(), mission())
    assert result.status is Status.COMPLETE


def test_complete_without_findings_or_observations_is_partial():
    empty = parse_draft({"status": "COMPLETE", "confidence": "HIGH", "findings": []})
    result = validate_report(empty, EvidenceIndex(), mission())
    assert result.status is Status.PARTIAL
    assert "COMPLETE without any finding" in result.downgrades


def test_citing_a_denied_source_escalates():
    result = validate_report(draft(refs=["file:.env#L1-L2"]), evidence(), mission())
    assert result.status is Status.ESCALATE


def test_files_claimed_but_never_read_are_replaced_by_the_log():
    result = validate_report(
        draft(files_inspected=["src/app.py", "secret.txt"]), evidence(), mission()
    )
    assert result.report["files_inspected"] == ["src/app.py"]
    assert any("secret.txt" in caveat for caveat in result.report["caveats"])


def test_missing_required_output_blocks_complete():
    result = validate_report(
        draft(), evidence(), mission(required_outputs=["findings", "uncertainties"])
    )
    assert result.status is Status.PARTIAL
    assert any("uncertainties" in d for d in result.downgrades)


@pytest.mark.parametrize(("risk", "cap"), [(RiskTier.MEDIUM, "MEDIUM"), (RiskTier.CRITICAL, "LOW")])
def test_risk_caps_confidence(risk, cap):
    result = validate_report(draft(), evidence(), mission(risk_tier=risk.value))
    assert result.report["confidence"] == cap


def test_status_cap_lowers_but_never_raises():
    assert (
        validate_report(draft(), evidence(), mission(), status_cap=Status.PARTIAL).status
        is Status.PARTIAL
    )
    failed = draft(status="FAILED")
    assert (
        validate_report(failed, evidence(), mission(), status_cap=Status.PARTIAL).status
        is Status.FAILED
    )


def test_malformed_draft_names_the_field():
    with pytest.raises(ReportFormatError, match="status"):
        parse_draft({"status": "DONE", "findings": []})
    with pytest.raises(ReportFormatError, match="mood: unknown field"):
        parse_draft({"status": "PARTIAL", "mood": "good"})
