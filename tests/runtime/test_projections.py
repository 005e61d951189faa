"""Projections: written atomically from a reduction, stamped, and checked for drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.blobs import blob_dir, write_blob
from runtime.canonical import tagged_sha256
from runtime.eventlog import MissionEventLog
from runtime.events import (
    BudgetExhausted,
    CommentaryEmitted,
    Event,
    MissionAdmitted,
    MissionFinalized,
    ModelCalled,
    PatchIntentProposed,
    PatchValidated,
    ReportValidated,
    RollbackRecorded,
    Route,
    ToolCallDenied,
    VerificationRan,
)
from runtime.mission import Tier, compile_mission, template
from runtime.projections import (
    STAMP_KEY,
    atomic_write_text,
    check_drift,
    mission_dir,
    project_log,
    read_stamp,
    render_projections,
    run_blobs,
    write_projections,
)
from tests.observations import observed_read

ROUTE = Route(alias="mission-a3-kimi", profile="kimi", upstream_model="kimi-k2.6")
REPORT = {
    "status": "COMPLETE",
    "confidence": "HIGH",
    "findings": [{"claim": "retry lives in net.py", "evidence_refs": ["file:net.py#L1-9"]}],
}


def _run(tmp_path: Path, *, report: bool = True) -> MissionEventLog:
    log = MissionEventLog.create(tmp_path, "run-1", "m-1")
    log.append(MissionAdmitted(mission={"tier": "A3", "objective": "Find retries"}, route=ROUTE))
    log.append(observed_read("net.py", "def retry(): ..."))
    log.append(CommentaryEmitted(text="Read net.py"))
    if report:
        log.append(ReportValidated(status="COMPLETE", report=REPORT))
    log.append(MissionFinalized(status="COMPLETE", closure_reason="answer_found"))
    return log


def _project(tmp_path: Path, log: MissionEventLog) -> list[Event]:
    """What the runner does: write projections, then log that they were written."""
    project_log(tmp_path, log)
    return log.events()


def test_all_projections_are_written_and_stamped(tmp_path: Path) -> None:
    log = _run(tmp_path)
    head = log.head_hash
    written = write_projections(tmp_path, log.events())
    directory = mission_dir(tmp_path, "m-1")
    assert directory == tmp_path / ".codex-oss" / "missions" / "m-1"
    names = {p.name for p in written}
    assert names == {
        "run_record.json",
        "mission_summary.json",
        "summary.md",
        "report.json",
        "visible_commentary.jsonl",
        "trace.jsonl",
        "decision_trace.json",
        "ledger.json",
        "claim_graph.json",
        "usage.json",
    }  # implementation_report.json and semantic_review.json are for patch tiers only
    for payload in written:
        path = directory / payload.name
        assert payload.sha256 == tagged_sha256(path.read_bytes())
        assert payload.head_hash == head
        stamp = read_stamp(path)
        assert stamp is not None and stamp["head_hash"] == head and stamp["event_count"] == 5


def test_report_json_is_the_validated_report_plus_the_stamp(tmp_path: Path) -> None:
    _project(tmp_path, _run(tmp_path))
    report = json.loads((mission_dir(tmp_path, "m-1") / "report.json").read_text())
    stamp = report.pop(STAMP_KEY)
    assert report == REPORT and stamp["run_id"] == "run-1"


def test_no_report_json_without_a_validated_report(tmp_path: Path) -> None:
    written = write_projections(tmp_path, _run(tmp_path, report=False).events())
    assert "report.json" not in {p.name for p in written}


def test_commentary_and_trace_have_one_line_per_item(tmp_path: Path) -> None:
    log = _run(tmp_path)
    write_projections(tmp_path, log.events())
    directory = mission_dir(tmp_path, "m-1")
    commentary = (directory / "visible_commentary.jsonl").read_text().splitlines()
    assert json.loads(commentary[1]) == {"seq": 3, "kind": "progress", "text": "Read net.py"}
    trace = [json.loads(line) for line in (directory / "trace.jsonl").read_text().splitlines()]
    assert STAMP_KEY in trace[0]
    assert [row["seq"] for row in trace[1:]] == [1, 2, 3, 4, 5]
    assert trace[2]["detail"] == "#1 read net.py 16 bytes"


def test_summary_md_tells_the_story(tmp_path: Path) -> None:
    write_projections(tmp_path, _run(tmp_path).events())
    text = (mission_dir(tmp_path, "m-1") / "summary.md").read_text()
    assert "# Mission m-1" in text and "**COMPLETE**" in text
    assert "retry lives in net.py (evidence: file:net.py#L1-9)" in text
    assert "- `net.py`" in text


def test_mission_summary_counts(tmp_path: Path) -> None:
    write_projections(tmp_path, _run(tmp_path).events())
    summary = json.loads((mission_dir(tmp_path, "m-1") / "mission_summary.json").read_text())
    assert summary["status"] == "COMPLETE" and summary["report_status"] == "COMPLETE"
    assert summary["findings"] == 1 and summary["files_inspected"] == ["net.py"]
    assert summary["tier"] == "A3" and summary["evidence_observations"] == 1


_RENDER_IN_A_NEW_PROCESS = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from runtime.eventlog import load_events\n"
    "from runtime.projections import render_projections\n"
    "print(json.dumps(render_projections(load_events(Path(sys.argv[1])))))\n"
)


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    # check_drift re-renders in a later process (audit-mission), so compare against a render
    # from the log on disk in another interpreter with another hash seed, not a second call here.
    log = _run(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _RENDER_IN_A_NEW_PROCESS, str(log.path)],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == render_projections(log.events())


ODD = 'naïve ☃ 😀 \x00\x07\x1f\x7f \u2028 "quoted" \\ tab\t new\nline'


def _varied_run(project: Path, tier: Tier, **fields: object) -> list[Event]:
    """A closed run whose values stress the encoder: non-ASCII and control characters, floats
    the stdlib and orjson spell differently, large integers, empty containers."""
    mission = compile_mission(template(tier, f"Find {ODD}", "m-1", **fields)).mission
    log = MissionEventLog.create(project, f"run-{tier.value}", "m-1")
    log.append(MissionAdmitted(mission=mission.model_dump(mode="json"), route=ROUTE))
    log.append(
        ModelCalled(call_index=1, model="kimi", profile="kimi", outcome="ok", input_tokens=2**40)
    )
    log.append(observed_read(f"dir/{ODD}.py", ODD))
    log.append(
        ToolCallDenied(
            call_id=2,
            tool_name="read",
            arguments={"path": ".env", "x": {}},
            reason_code="secret_path",
            message=ODD,
        )
    )
    log.append(CommentaryEmitted(text=ODD))
    log.append(BudgetExhausted(budget="time_budget_seconds", limit=3e-06, used=1e-09))
    if tier is Tier.A5:
        diff, rollback = f"--- a/x\n+++ b/x\n+{ODD}\n", "--- b/x\n+++ a/x\n"
        hashes = {"diff_sha256": tagged_sha256(diff), "rollback_sha256": tagged_sha256(rollback)}
        for text in (diff, rollback):
            write_blob(blob_dir(project, log.run_id), text)
        log.append(PatchIntentProposed(intent={"edits": [], "why": ODD}))
        log.append(PatchValidated(ok=True, files_changed=["x"], **hashes))
        log.append(RollbackRecorded(**hashes, proven=True))
        log.append(VerificationRan(argv=["pytest", ODD], exit_code=0, duration_ms=4e-05))
    report = {"status": "COMPLETE", "findings": [], "big": [2**70, 1e16, 1e-06], ODD: [[], {}]}
    log.append(ReportValidated(status="COMPLETE", report=report, downgrades=[ODD]))
    log.append(MissionFinalized(status="COMPLETE", closure_reason="answer_found", detail=ODD))
    return log.events()


@pytest.mark.parametrize(
    ("tier", "fields"),
    [
        (Tier.A3, {}),
        (Tier.A3, {"mode": "open_investigation", "questions": [ODD, "why?"]}),
        (Tier.A5, {"owned_paths": ["x"]}),
    ],
)
def test_json_projections_are_what_the_stdlib_encoder_writes(
    tmp_path: Path, tier: Tier, fields: dict[str, object]
) -> None:
    """Older versions wrote them with json.dumps and check_drift compares bytes: same bytes."""
    events = _varied_run(tmp_path, tier, **fields)
    rendered = render_projections(events, blobs=run_blobs(tmp_path, events))
    every = "".join(rendered.values())
    for token in ("1e-09", "3e-06", "1e-06", "1e+16", str(2**70), str(2**40), "☃ 😀", "[]", "{}"):
        assert token in every
    checked = [name for name in rendered if name.endswith(".json")]
    assert len(checked) >= 7 and ("review_packet.json" in checked) == (tier is Tier.A5)
    for name in checked:
        packet = name == "review_packet.json"  # key order as built, no final newline
        expected = json.dumps(
            json.loads(rendered[name]), indent=2, sort_keys=not packet, ensure_ascii=False
        )
        assert rendered[name] == expected + ("" if packet else "\n"), name


def test_fresh_projections_have_no_drift(tmp_path: Path) -> None:
    events = _project(tmp_path, _run(tmp_path))
    assert events[-1].event_type == "ProjectionWritten"  # stamped before these were logged
    assert check_drift(tmp_path, "m-1", events) == []


def test_hand_edited_projection_is_a_mismatch(tmp_path: Path) -> None:
    events = _project(tmp_path, _run(tmp_path))
    path = mission_dir(tmp_path, "m-1") / "report.json"
    path.write_text(path.read_text().replace("COMPLETE", "FAILED"))
    drifts = check_drift(tmp_path, "m-1", events)
    assert [(d.name, d.kind) for d in drifts] == [("report.json", "mismatch")]


def test_projection_behind_the_log_is_stale(tmp_path: Path) -> None:
    log = _run(tmp_path)
    _project(tmp_path, log)
    log.append(CommentaryEmitted(text="a late event"))
    drifts = check_drift(tmp_path, "m-1", log.events())
    assert {d.kind for d in drifts} == {"stale"} and len(drifts) == 10


def test_rewriting_after_new_events_clears_the_drift(tmp_path: Path) -> None:
    log = _run(tmp_path)
    _project(tmp_path, log)
    log.append(CommentaryEmitted(text="a late event"))
    events = _project(tmp_path, log)
    assert check_drift(tmp_path, "m-1", events) == []


def test_missing_projection_is_reported(tmp_path: Path) -> None:
    events = _project(tmp_path, _run(tmp_path))
    (mission_dir(tmp_path, "m-1") / "summary.md").unlink()
    assert [(d.name, d.kind) for d in check_drift(tmp_path, "m-1", events)] == [
        ("summary.md", "missing")
    ]


def test_nothing_written_yet_is_all_missing(tmp_path: Path) -> None:
    drifts = check_drift(tmp_path, "m-1", _run(tmp_path).events())
    assert {d.kind for d in drifts} == {"missing"} and len(drifts) == 10


def test_projection_stamped_with_a_head_the_log_lacks(tmp_path: Path) -> None:
    log = _run(tmp_path)
    events = log.events()
    write_projections(tmp_path, events)
    # The log lost its last event (say, restored from an older copy).
    drifts = check_drift(tmp_path, "m-1", events[:-1])
    assert {d.kind for d in drifts} == {"unknown_head"}


def test_projection_of_another_run_is_reported(tmp_path: Path) -> None:
    events = _project(tmp_path, _run(tmp_path))
    other = MissionEventLog.create(tmp_path, "run-2", "m-1")
    other.append(MissionAdmitted(mission={"tier": "A3"}, route=ROUTE))
    drifts = check_drift(tmp_path, "m-1", other.events())
    assert {d.kind for d in drifts} == {"other_run"}
    assert check_drift(tmp_path, "m-1", events) == []


def test_unstamped_file_is_unreadable(tmp_path: Path) -> None:
    events = _project(tmp_path, _run(tmp_path))
    (mission_dir(tmp_path, "m-1") / "mission_summary.json").write_text("{}")
    drifts = check_drift(tmp_path, "m-1", events)
    assert [(d.name, d.kind) for d in drifts] == [("mission_summary.json", "unreadable")]


def test_write_projections_needs_events(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no events"):
        write_projections(tmp_path, [])


@pytest.mark.parametrize("bad", ["", "..", "a/b"])
def test_mission_dir_refuses_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="plain name"):
        mission_dir(tmp_path, bad)


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "file.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "twö")
    assert target.read_text(encoding="utf-8") == "twö"
    assert os.listdir(target.parent) == ["file.txt"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    atomic_write_text(target, "old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "\udcff")  # a lone surrogate cannot be encoded
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["file.txt"]
