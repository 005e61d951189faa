"""The RunRecord reducer: a pure fold, one arm per event type, unknown types refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.eventlog import MissionEventLog
from runtime.events import (
    PAYLOAD_TYPES,
    BudgetExhausted,
    Clamp,
    CommentaryEmitted,
    Event,
    MissionAdmitted,
    MissionFinalized,
    MissionInterrupted,
    ModelActionProposed,
    ModelCalled,
    PatchAppliedInIsolation,
    PatchIntentProposed,
    PatchPromoted,
    PatchRolledBack,
    PatchValidated,
    Payload,
    ProjectionWritten,
    ReportProposed,
    ReportValidated,
    RollbackRecorded,
    Route,
    ToolCallDenied,
    ToolCallRequested,
    ToolObserved,
    UnknownEventType,
    VerificationRan,
)
from runtime.record import EvidenceEntry, ReduceError, RunRecord, apply, reduce
from tests.observations import observed_read

ROUTE = Route(alias="mission-a5-kimi", profile="kimi", upstream_model="kimi-k2.6")
MISSION = {"mission_id": "m-1", "tier": "A5", "mode": "bounded_implementation", "objective": "x"}
REPORT = {"status": "COMPLETE", "confidence": "HIGH", "findings": []}

# One of every payload type, in a plausible order.
STORY: list[Payload] = [
    MissionAdmitted(
        mission=MISSION,
        route=ROUTE,
        clamps=[Clamp(field="tool_budget", requested=99, applied=60, reason="tier_cap")],
    ),
    ModelCalled(call_index=1, model="kimi-k2.6", profile="kimi", outcome="error", error="503"),
    ModelCalled(
        call_index=1,
        model="deepseek-v4-pro",
        profile="deepseek",
        outcome="fallback",
        fallback_from="kimi-k2.6",
        input_tokens=100,
        output_tokens=20,
    ),
    ModelActionProposed(
        turn=1, action={"action_type": "tool_call", "tool_name": "read"}, valid=True
    ),
    ToolCallRequested(call_id=1, tool_name="read", arguments={"path": "a.py"}, reason="look"),
    observed_read("a.py", "...", end_line=40, output_bytes=300),
    CommentaryEmitted(text="Read a.py lines 1-40"),
    ToolCallRequested(call_id=2, tool_name="read", arguments={"path": ".env"}),
    ToolCallDenied(
        call_id=2,
        tool_name="read",
        arguments={"path": ".env"},
        reason_code="denied_path",
        message="no",
    ),
    ModelActionProposed(turn=2, action=None, valid=False, error="not JSON"),
    BudgetExhausted(budget="tool_budget", limit=2, used=2),
    PatchIntentProposed(intent={"edits": []}),
    PatchValidated(ok=True, diff_sha256="sha256:d", files_changed=["a.py"], patch_bytes=10),
    PatchAppliedInIsolation(worktree="wt", base_commit="abc", diff_sha256="sha256:d"),
    VerificationRan(argv=["pytest", "-q"], exit_code=0, duration_ms=12.0),
    RollbackRecorded(diff_sha256="sha256:d", rollback_sha256="sha256:r"),
    ReportProposed(report=REPORT),
    ReportValidated(status="PARTIAL", report=REPORT, downgrades=["no evidence"]),
    MissionInterrupted(cause="bridge_stopped", detail="the reducer keeps the final status"),
    MissionFinalized(status="PARTIAL", closure_reason="report_downgraded", closed_by="runtime"),
    ProjectionWritten(name="report.json", sha256="sha256:p", head_hash="sha256:h"),
    PatchPromoted(diff_sha256="sha256:d", rollback_sha256="sha256:r", files_changed=["a.py"]),
    PatchRolledBack(rollback_sha256="sha256:r", files_changed=["a.py"]),
]


def _events(tmp_path: Path, payloads: list[Payload] = STORY) -> list[Event]:
    log = MissionEventLog.create(tmp_path, "run-1", "m-1")
    for payload in payloads:
        log.append(payload)
    return log.events()


def test_the_story_covers_every_event_type() -> None:
    assert {type(p).__name__ for p in STORY} == set(PAYLOAD_TYPES)


def test_empty_fold_is_an_empty_record() -> None:
    record = reduce([])
    assert record == RunRecord() and record.status == "empty" and record.head_hash is None


def test_reduce_folds_every_event_type(tmp_path: Path) -> None:
    events = _events(tmp_path)
    record = reduce(events)
    assert (record.run_id, record.mission_id) == ("run-1", "m-1")
    assert record.mission == MISSION and record.route is not None
    assert record.route["alias"] == "mission-a5-kimi"
    assert record.clamps[0]["applied"] == 60
    calls = record.model_calls
    assert (calls.count, calls.errors, calls.fallbacks, calls.input_tokens) == (2, 1, 1, 100)
    assert calls.models == ("kimi-k2.6", "deepseek-v4-pro")
    assert [(a.turn, a.valid, a.tool_name) for a in record.actions] == [
        (1, True, "read"),
        (2, False, None),
    ]
    assert [(c.call_id, c.status) for c in record.tool_calls] == [(1, "observed"), (2, "denied")]
    assert record.denials[0].reason_code == "denied_path"
    assert record.budgets_used.tool_calls == 2
    assert record.budgets_used.observation_bytes == 300
    assert record.budgets_used.files_inspected == 1
    assert record.budgets_used.exhausted == ("tool_budget",)
    assert record.commentary[0].text == "Read a.py lines 1-40"
    implementation = record.implementation
    assert implementation.intent == {"edits": []} and implementation.intent_rounds == 1
    assert implementation.validation is not None and implementation.validation["ok"] is True
    assert implementation.applied is not None and implementation.rollback is not None
    assert [v["argv"] for v in implementation.verifications] == [["pytest", "-q"]]
    assert implementation.promoted is not None and implementation.rolled_back is not None
    assert record.reports_proposed == 1 and record.last_report_proposed == REPORT
    assert record.report is not None and record.report.status == "PARTIAL"
    assert record.report.downgrades == ("no evidence",)
    assert (record.status, record.closure_reason, record.closed_by) == (
        "PARTIAL",
        "report_downgraded",
        "runtime",
    )
    assert record.projections[0].name == "report.json"
    assert record.head_hash == events[-1].event_hash and record.event_count == len(STORY)
    assert record.started_at == events[0].created_at
    assert record.finalized_at == events[19].created_at


def test_evidence_is_keyed_by_the_observation_seq(tmp_path: Path) -> None:
    events = _events(tmp_path)
    observed = next(e for e in events if e.event_type == "ToolObserved")
    record = reduce(events)
    assert record.evidence == {
        observed.seq: EvidenceEntry(
            seq=observed.seq,
            call_id=1,
            tool_name="read",
            path="a.py",
            start_line=1,
            end_line=40,
            command="read path=a.py",
            text="...",
        )
    }


def test_status_is_running_between_admission_and_closure(tmp_path: Path) -> None:
    events = _events(tmp_path, STORY[:3])
    assert reduce(events).status == "running"


def test_apply_step_by_step_equals_reduce(tmp_path: Path) -> None:
    events = _events(tmp_path)
    record = RunRecord()
    for event in events:
        record = apply(record, event)
    assert record == reduce(events)


def test_apply_leaves_its_input_unchanged(tmp_path: Path) -> None:
    events = _events(tmp_path)
    before = reduce(events[:5])
    snapshot = before.model_dump()
    after = apply(before, events[5])
    assert before.model_dump() == snapshot
    assert after.event_count == 6 and len(after.evidence) == 1 and not before.evidence


def test_record_is_frozen(tmp_path: Path) -> None:
    record = reduce(_events(tmp_path, STORY[:1]))
    with pytest.raises(ValueError):
        record.status = "COMPLETE"  # type: ignore[misc]


def test_record_round_trips_through_json(tmp_path: Path) -> None:
    record = reduce(_events(tmp_path))
    assert RunRecord.model_validate_json(record.model_dump_json()) == record


def test_unknown_event_type_is_an_error(tmp_path: Path) -> None:
    event = _events(tmp_path, STORY[:1])[0]
    alien = Event.model_construct(**{**event.model_dump(), "event_type": "MissionTeleported"})
    with pytest.raises(UnknownEventType, match="MissionTeleported"):
        reduce([alien])


def test_invalid_payload_is_an_error(tmp_path: Path) -> None:
    event = _events(tmp_path, STORY[:1])[0]
    broken = event.model_copy(update={"payload": {"mission": {}, "route": {}, "extra": 1}})
    with pytest.raises(ReduceError, match="MissionAdmitted"):
        reduce([broken])


def test_gap_in_seq_is_an_error(tmp_path: Path) -> None:
    events = _events(tmp_path, STORY[:3])
    with pytest.raises(ReduceError, match="does not follow"):
        reduce([events[0], events[2]])


def test_event_of_another_run_is_an_error(tmp_path: Path) -> None:
    events = _events(tmp_path, STORY[:2])
    foreign = events[1].model_copy(update={"run_id": "run-2"})
    with pytest.raises(ReduceError, match="run-2"):
        reduce([events[0], foreign])


def test_second_admission_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReduceError, match="already admitted"):
        reduce(_events(tmp_path, [STORY[0], STORY[0]]))


def test_denial_without_request_is_still_recorded(tmp_path: Path) -> None:
    denial = ToolCallDenied(
        call_id=7, tool_name="ls", arguments={"path": "/"}, reason_code="outside", message="no"
    )
    record = reduce(_events(tmp_path, [STORY[0], denial]))
    assert [(c.call_id, c.status) for c in record.tool_calls] == [(7, "denied")]
    assert record.budgets_used.tool_calls == 0 and record.budgets_used.denials == 1


def test_reduce_is_deterministic(tmp_path: Path) -> None:
    events = _events(tmp_path)
    assert reduce(events).model_dump_json() == reduce(list(events)).model_dump_json()


def test_only_reads_count_as_files_inspected(tmp_path: Path) -> None:
    listing = ToolObserved(
        call_id=3,
        tool_name="ls",
        arguments={"path": "src"},
        path="src",
        output="a.py",
        output_bytes=4,
    )
    events = _events(
        tmp_path,
        [
            STORY[0],
            ToolCallRequested(call_id=3, tool_name="ls", arguments={"path": "src"}),
            listing,
            *STORY[4:6],
        ],
    )
    record = reduce(events)
    assert record.files_inspected == ("a.py",)
    assert record.budgets_used.files_inspected == 1
    assert len(record.evidence) == 2  # the listing is still evidence a report may cite
