import json

import pytest

from runtime.commentary import describe
from runtime.events import ModelCalled, ToolCallDenied, VerificationRan
from runtime.settings import TraceMode
from tests.observations import observed_read


def read(path="src/app.py", start=1, end=40, **extra):
    return observed_read(path, "x = 1", start_line=start, end_line=end, **extra)


def test_a_read_names_the_file_and_lines_but_never_the_content():
    line = describe(read(), TraceMode.SUMMARY)
    assert line == "reading src/app.py lines 1-40"
    assert "x = 1" not in line


def test_a_denial_says_why_in_plain_words():
    denial = ToolCallDenied(
        call_id=2,
        tool_name="read",
        arguments={"path": ".env"},
        reason_code="secret_path",
        message="no",
    )
    assert describe(denial, TraceMode.SUMMARY) == "denied .env: secret path"


def test_verification_names_the_program_not_the_machine_path():
    ran = VerificationRan(
        argv=["/some/where/.venv/bin/python", "-m", "pytest"], exit_code=0, duration_ms=5.0
    )
    assert describe(ran, TraceMode.SUMMARY) == "verification python -m pytest: exit 0"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (TraceMode.OFF, None),
        (TraceMode.SUMMARY, None),
        (TraceMode.DETAILED, "model call 3 answered by kimi-k2.6"),
    ],
)
def test_model_calls_show_only_in_detailed_mode(mode, expected):
    called = ModelCalled(call_index=3, model="kimi-k2.6", profile="kimi", outcome="ok")
    assert describe(called, mode) == expected


def test_off_mode_is_silent_for_everything():
    assert describe(read(), TraceMode.OFF) is None


def test_long_lines_are_clipped():
    line = describe(read(path="a/" * 200 + "f.py"), TraceMode.SUMMARY)
    assert len(line) == 160 and line.endswith("…")


# --- Narrator: the origin document's coverage and phase lines --------------------------------

from runtime.commentary import (  # noqa: E402
    DELIVERY_FILE,
    CommentaryDelivery,
    Narrator,
    record_consumer_observation,
)
from runtime.events import MissionAdmitted, ReportProposed, Route, ToolCallRequested  # noqa: E402


def admitted(allowed_paths=("bridge.py",)):
    return MissionAdmitted(
        mission={"tier": "A3", "allowed_paths": list(allowed_paths)},
        route=Route(alias="mission-a3-kimi", profile="kimi", upstream_model="kimi-k2.6"),
    )


def requested(reason="find where streaming starts", phase="EXPLORE", path="bridge.py"):
    return ToolCallRequested(
        call_id=1, tool_name="read", arguments={"path": path}, reason=reason, phase=phase
    )


def narrate(mode, *payloads):
    narrator = Narrator(mode)
    return [line for seq, p in enumerate(payloads, 1) for line in narrator.lines(seq, p)]


def test_the_narration_reads_like_the_origin_document():
    lines = narrate(
        TraceMode.SUMMARY,
        admitted(),
        requested(),
        read(path="bridge.py", start=1, end=40),
        ReportProposed(report={}),
    )
    assert lines == [
        "I'm loading the compiled MissionV1 contract.",
        "mission admitted: tier A3 on kimi (kimi-k2.6)",
        "Current phase is EXPLORE. Evidence refs now available: none yet",
        "The model chose read on bridge.py as the next investigation step. "
        "Its stated reason: find where streaming starts",
        "reading bridge.py lines 1-40",
        "I finished read. The runtime refreshed coverage: 1 of 1 allowed path(s) read, "
        "2 evidence ref(s).",
        "Current phase is REPORT. Evidence refs now available: file:bridge.py#L1-40, event:3",
    ]


def test_the_models_reason_is_bounded_per_mode_and_never_the_file_content():
    reason = "because " + "x" * 300
    summary = narrate(TraceMode.SUMMARY, requested(reason=reason))[-1]
    detailed = narrate(TraceMode.DETAILED, requested(reason=reason))[-1]
    assert summary.endswith("…") and len(summary.split("reason: ")[1]) == 80
    assert len(detailed.split("reason: ")[1]) == 160
    observed = narrate(TraceMode.DETAILED, admitted(), read(path="bridge.py"))
    assert not any("x = 1" in line for line in observed)


def test_detailed_mode_adds_model_calls_and_every_coverage_refresh():
    called = ModelCalled(call_index=1, model="kimi-k2.6", profile="kimi", outcome="ok")
    summary = narrate(TraceMode.SUMMARY, admitted(), called, read(), read())
    detailed = narrate(TraceMode.DETAILED, admitted(), called, read(), read())
    asking = "I'm asking the OSS model for the next safe investigation action."
    assert asking not in summary and asking in detailed
    assert sum("refreshed coverage" in line for line in summary) == 1  # one new file
    assert sum("refreshed coverage" in line for line in detailed) == 2


def test_off_mode_narrates_nothing():
    assert narrate(TraceMode.OFF, admitted(), requested(), read()) == []


async def test_delivery_counts_what_was_streamed_and_writes_its_file(tmp_path):
    seen = []

    async def consumer(line):
        seen.append(line)

    delivery = CommentaryDelivery(consumer, TraceMode.SUMMARY)
    for line in ("one", "two"):
        await delivery.callback(line)
    assert delivery.status_line(3).startswith(
        "Delivery status: 3 commentary line(s) recorded in visible_commentary.jsonl, "
        "2 streamed live"
    )
    path = delivery.write(tmp_path, "m-1", "run-1", 3)
    assert path.name == DELIVERY_FILE
    document = json.loads(path.read_text())
    assert (document["sse_emitted"], document["consumer_observed"]) == (2, 0)
    assert path.read_text() == json.dumps(document, indent=2) + "\n"
    record_consumer_observation(tmp_path, "codex app-server", 2)
    document = json.loads(path.read_text())
    assert (document["consumer_observed"], document["consumer"]) == (2, "codex app-server")
    silent = CommentaryDelivery(None, TraceMode.SUMMARY)
    assert silent.callback is None and "none streamed" in silent.status_line(3)


async def test_a_mission_streams_redacted_narration_and_reports_its_delivery(
    git_project, mission_runner
):
    from pytest_opencode_bridge.harness import (
        UPSTREAM_TEST_KEY,
        final_action,
        handoff_text,
        tool_action,
    )

    project = git_project({"bridge.py": "def stream():\n    return 1\n"})
    reason = f"check bridge.py; my key is {UPSTREAM_TEST_KEY}"
    script = {
        "kimi-k2.6": [
            tool_action("read", reason=reason, path="bridge.py"),
            final_action(refs=["file:bridge.py#L1-L2"], claim="stream returns 1"),
        ]
    }
    handoff = handoff_text("Where does streaming start?", mission_id="m-narrated")
    ran = await mission_runner.run(project, script, handoff=handoff)

    lines = ran.commentary
    assert any(line.startswith("The model chose read on bridge.py") for line in lines)
    assert "Current phase is REPORT. Evidence refs now available: file:bridge.py#L1-2" in (
        "\n".join(lines)
    )
    recorded = (ran.outcome.artifacts / "visible_commentary.jsonl").read_text()
    assert UPSTREAM_TEST_KEY not in "\n".join(lines) and UPSTREAM_TEST_KEY not in recorded
    delivery = json.loads((ran.outcome.artifacts / DELIVERY_FILE).read_text())
    assert delivery["sse_emitted"] == len(lines) == delivery["commentary_recorded"]
    assert delivery["consumer_observed"] == 0
    assert f"Delivery status: {len(lines)} commentary line(s) recorded" in ran.outcome.final_text


# --- Journal: an event and its commentary are written together -------------------------------

from runtime.eventlog import MissionEventLog, load_events  # noqa: E402
from runtime.loop import Journal  # noqa: E402
from runtime.redact import Redactor  # noqa: E402


def test_the_journal_writes_commentary_right_after_its_event_as_the_runtime(tmp_path):
    log = MissionEventLog.create(tmp_path, "run-1", "m-1")
    journal = Journal(log, Redactor(), TraceMode.SUMMARY, max_lines=3)
    journal.add(admitted())
    journal.add(ReportProposed(report={}), "model")
    written = [(e.event_type, e.source, e.payload.get("text")) for e in load_events(log.path)]
    assert written == [
        ("MissionAdmitted", "runtime", None),
        ("CommentaryEmitted", "runtime", "I'm loading the compiled MissionV1 contract."),
        ("CommentaryEmitted", "runtime", "mission admitted: tier A3 on kimi (kimi-k2.6)"),
        ("ReportProposed", "model", None),
        (
            "CommentaryEmitted",
            "runtime",
            "further commentary suppressed (OSS_VISIBLE_TRACE_MAX_EVENTS reached)",
        ),
    ]
    assert journal.pending == [text for _, _, text in written if text]
