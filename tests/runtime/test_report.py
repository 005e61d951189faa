import pytest

from runtime.closure import Status
from runtime.evidence import EvidenceIndex
from runtime.mission import RiskTier, Tier, compile_mission, template
from runtime.record import EvidenceEntry
from runtime.report import (
    ReportFormatError,
    parse_draft,
    read_draft,
    validate_report,
)

APP = [
    "def total(items):",
    "    result = 0",
    "    for i in range(len(items) - 1):",
    "        result += items[i]",
    "    return result",
    "",
    "",
    "",
    "# the bug is on line 3",
]
APP_SHOWN = "".join(f"{number}\t{line}\n" for number, line in enumerate(APP, 1))
GREP_SHOWN = "src/app.py:3:    for i in range(len(items) - 1):\n"
CLAIM = "the loop in total() skips the last item: range(len(items) - 1)"


def mission(**fields):
    return compile_mission(template(Tier.A3, "find the bug", "m-1", **fields)).mission


def evidence():
    index = EvidenceIndex()
    index.observations[4] = EvidenceEntry(
        seq=4,
        call_id=1,
        tool_name="read",
        path="src/app.py",
        start_line=1,
        end_line=40,
        text=APP_SHOWN,
    )
    index.observations[7] = EvidenceEntry(
        seq=7,
        call_id=2,
        tool_name="grep",
        path=None,
        start_line=None,
        end_line=None,
        text=GREP_SHOWN,
    )
    index.files_read.append("src/app.py")
    index.commands_run.append("read path=src/app.py")
    index.denied_paths.add(".env")
    return index


def draft(status="COMPLETE", refs=("file:src/app.py#L3-L9",), **extra):
    data = {
        "status": status,
        "confidence": "HIGH",
        "findings": [{"claim": CLAIM, "evidence_refs": list(refs), "confidence": "HIGH"}],
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
    assert result.report["findings"] == []
    assert result.report["rejected_findings"] == [
        {"claim": CLAIM, "evidence_refs": [ref], "reason": "no evidence that resolves in the log"}
    ]


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
    with pytest.raises(ReportFormatError, match="status: Input should be 'COMPLETE'"):
        parse_draft({"status": "DONE", "findings": []})
    with pytest.raises(ReportFormatError, match=r"findings\.0\.claim"):
        parse_draft({"status": "PARTIAL", "findings": [{"claim": ""}]})


def test_a_real_models_spelling_is_read_and_noted():
    data = {
        "Status": "complete",
        "confidence": 0.9,
        "findings": [
            {"finding": CLAIM, "evidence": "file:src/app.py#L3-L3", "confidence": "Med"},
            "a bare string finding",
        ],
        "caveat": "only one file was read",
        "next_steps": None,
        "summary": "done",
    }
    draft, notes = read_draft(data)

    assert (draft.status, draft.confidence) == (Status.COMPLETE, "HIGH")
    assert draft.findings[0].evidence_refs == ["file:src/app.py#L3-L3"]
    assert draft.findings[0].confidence == "MEDIUM"
    assert draft.findings[1].claim == "a bare string finding"
    assert draft.caveats == ["only one file was read"]
    assert "escalation_recommendation" in draft.model_fields_set
    assert any("summary" in note for note in notes)
    assert any("0.9" in note for note in notes)


def test_an_unknown_status_is_still_an_error_naming_the_allowed_ones():
    with pytest.raises(ReportFormatError, match="'COMPLETE', 'PARTIAL', 'ESCALATE' or 'FAILED'"):
        parse_draft({"status": "great", "findings": []})


@pytest.mark.parametrize("output", ["uncertainties", "caveats", "escalation_recommendation"])
def test_an_explicit_none_states_a_required_output(output):
    value = None if output == "escalation_recommendation" else []
    result = validate_report(
        draft(**{output: value}), evidence(), mission(required_outputs=["findings", output])
    )
    assert result.status is Status.COMPLETE


def test_confidence_is_a_required_output_only_when_stated():
    stated = validate_report(draft(), evidence(), mission(required_outputs=["confidence"]))
    absent = parse_draft({"status": "COMPLETE", "findings": [draft().findings[0].model_dump()]})
    missing = validate_report(absent, evidence(), mission(required_outputs=["confidence"]))
    assert stated.status is Status.COMPLETE
    assert missing.status is Status.PARTIAL
    assert "required outputs missing: confidence" in missing.downgrades


def test_a_rejected_finding_is_listed_and_the_grounded_one_kept():
    data = {
        "status": "COMPLETE",
        "confidence": "HIGH",
        "findings": [
            {"claim": CLAIM, "evidence_refs": ["file:src/app.py#L3-L3"]},
            {"claim": "PATCH: " * 25, "evidence_refs": ["file:src/app.py#L3-L3"]},
            {"claim": "x", "evidence_refs": ["event:7"], "quote": "for i in range(len(items)):"},
        ],
    }
    result = validate_report(parse_draft(data), evidence(), mission())

    # A COMPLETE stands on supported findings only: one unsupported finding caps it.
    assert result.status is Status.PARTIAL
    assert "COMPLETE with 2 unsupported finding(s)" in result.downgrades
    assert [f["claim"] for f in result.report["findings"]] == [CLAIM]
    reasons = [r["reason"] for r in result.report["rejected_findings"]]
    assert reasons[0].startswith("degenerate claim")
    assert reasons[1] == "the quote does not appear in the cited lines the runtime showed"
    assert any("2 finding(s) were rejected" in caveat for caveat in result.report["caveats"])


def test_a_quote_from_a_grep_observation_grounds_its_event_ref():
    data = {
        "status": "COMPLETE",
        "findings": [
            {"claim": "x", "evidence_refs": ["event:7"], "quote": "range(len(items) - 1)"}
        ],
    }
    assert validate_report(parse_draft(data), evidence(), mission()).status is Status.COMPLETE


def test_required_sources_unread_cap_partial_and_denied_escalate():
    named = mission(allowed_roots=[], allowed_paths=["src/app.py", "src/util.py", "src/key.pem"])
    unread = validate_report(draft(), evidence(), named)
    assert unread.status is Status.PARTIAL
    assert "required sources never read: src/util.py, src/key.pem" in unread.report["caveats"]

    index = evidence()
    index.blocked_paths.add("src/key.pem")
    denied = validate_report(draft(), index, named)
    assert denied.status is Status.ESCALATE
    assert "required sources the runtime denied: src/key.pem" in denied.report["caveats"]
