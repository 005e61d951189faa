"""Whole missions over real HTTP against a scripted upstream that answers as real models do:
lowercase or unknown phases, prose and fences around the JSON, extra keys, ``[]`` for "none",
repeated and denied calls, claims their cited lines do not support, degenerate text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_opencode_bridge.harness import MissionRunner, handoff_text, make_git_project
from pytest_opencode_bridge.harness import final_action as final
from pytest_opencode_bridge.harness import tool_action as tool

BRIDGE_PY = (
    '"""The bridge."""\n'
    "\n"
    "\n"
    "async def handle(request):\n"
    "    mission = admit(request)\n"
    "    # managed runtime streaming starts here\n"
    "    return await stream_mission(mission)\n"
)
# The origin document's handoff, verbatim, as a user would paste it.
ORIGIN_HANDOFF = (Path(__file__).parents[1] / "fixtures" / "origin-handoff.md").read_text()
STREAMING_CLAIM = "managed runtime streaming starts in handle(), which returns stream_mission()"
RUNNER = MissionRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_git_project(
        tmp_path / "project",
        {
            "bridge.py": BRIDGE_PY,
            "notes.md": "# notes\n\nThe bridge streams missions.\n",
            ".env": "TOKEN=dotenv-value-0042\n",
        },
    )


def text(content: str) -> dict:
    """A scripted turn answering with raw text, as a chatty model does."""
    return {"content": content}


def honest_report(**report) -> dict:
    """A final_report as a real model writes it: lowercase enums, [] for none, extra keys."""
    body = {
        "status": "complete",
        "confidence": "high",
        "findings": [
            {
                "claim": STREAMING_CLAIM,
                "evidence_refs": ["file:bridge.py#L4-L7"],
                "quote": "return await stream_mission(mission)",
                "confidence": "high",
            }
        ],
        "uncertainties": [],
        "caveats": [],
        "escalation_recommendation": None,
        "summary": "found it",
    }
    body.update(report)
    return {"action_type": "final_report", "phase": "report", "reason": "done", "report": body}


async def run(project: Path, script: list[dict], handoff: str, alias: str = "mission-a3-kimi"):
    ran = await RUNNER.run(project, {"kimi-k2.6": script}, alias=alias, handoff=handoff)
    return ran


def mission(**fields) -> str:
    fields.setdefault("mission_id", "m-real")
    fields.setdefault("allowed_roots", [])
    fields.setdefault("allowed_paths", ["bridge.py"])
    return handoff_text("Where does managed runtime streaming start?", **fields)


def events_of(ran, kind: str) -> list:
    return [event for event in ran.events() if event.event_type == kind]


async def test_the_origin_handoff_runs_to_complete_against_an_honest_chatty_model(project):
    read = {
        "action_type": "tool_call",
        "tool_name": "read",
        "arguments": {"path": "bridge.py"},
        "reason": "the objective names bridge.py",
        "phase": "investigate",
        "confidence": "medium",  # a key the protocol does not have
    }
    script = [
        text("I will read the file first.\n" + json.dumps(read) + "\nThen I will report."),
        text("Here is my report:\n```json\n" + json.dumps(honest_report()) + "\n```"),
    ]
    ran = await run(project, script, ORIGIN_HANDOFF)

    outcome = ran.outcome
    assert (outcome.status, outcome.closure_reason) == ("COMPLETE", "valid_report"), outcome.report[
        "closure"
    ]
    assert outcome.report["findings"][0]["quote"] == "return await stream_mission(mission)"
    assert outcome.report["rejected_findings"] == []
    assert outcome.report["uncertainties"] == [] and outcome.report["caveats"] == []
    proposed = events_of(ran, "ModelActionProposed")
    assert [event.payload["valid"] for event in proposed] == [True, True]
    notes = " ".join(proposed[0].payload["notes"])
    assert "phase 'investigate' read as 'EXPLORE'" in notes
    assert "'confidence'" in notes and "text around it" in notes
    assert "fenced block" in " ".join(proposed[1].payload["notes"])
    assert events_of(ran, "ToolCallRequested")[0].payload["phase"] == "EXPLORE"


async def test_an_unknown_phase_is_kept_as_text_and_never_invalidates_the_turn(project):
    read = tool("read", path="bridge.py")
    read["action"]["phase"] = "brainstorm"
    ran = await run(project, [read, {"action": honest_report()}], mission())

    assert ran.outcome.status == "COMPLETE"
    assert events_of(ran, "ToolCallRequested")[0].payload["phase"] == "brainstorm"
    assert "kept as text" in " ".join(events_of(ran, "ModelActionProposed")[0].payload["notes"])


async def test_empty_lists_are_none_but_absent_keys_are_missing(project):
    required = ["findings", "uncertainties", "caveats", "confidence"]
    stated = await run(
        project,
        [tool("read", path="bridge.py"), {"action": honest_report()}],
        mission(mission_id="m-stated", required_outputs=required),
    )
    absent = honest_report()
    del absent["report"]["uncertainties"], absent["report"]["confidence"]
    left_out = await run(
        project,
        [tool("read", path="bridge.py"), {"action": absent}],
        mission(mission_id="m-absent", required_outputs=required),
    )

    assert stated.outcome.status == "COMPLETE"
    assert left_out.outcome.status == "PARTIAL"
    assert (
        "required outputs missing: uncertainties, confidence"
        in (left_out.outcome.report["closure"]["downgrades"])
    )


async def test_a_repeated_denied_read_forces_the_mission_to_close_escalated(project):
    script = [tool("read", path=".env")] * 24 + [final(status="PARTIAL")]
    ran = await run(project, script, mission(allowed_roots=["."], max_duplicate_actions=2))

    denied = events_of(ran, "ToolCallDenied")
    assert len(denied) == 4  # the first call and its three repeats; the third exceeds 2
    exhausted = events_of(ran, "BudgetExhausted")
    assert [e.payload["budget"] for e in exhausted] == ["max_duplicate_actions"]
    assert ran.outcome.status == "ESCALATE"
    assert ran.outcome.closure_reason == "budget_exhausted"
    assert "stopped exploration (max_duplicate_actions)" in ran.upstream_text()
    assert len(ran.requests) == 5  # four tool turns and the forced final one


async def test_a_repeated_harmless_read_caps_at_partial(project):
    loop = [tool("read", path="bridge.py")] * 5
    ran = await run(project, [*loop, {"action": honest_report()}], mission(max_duplicate_actions=1))

    assert ran.outcome.status == "PARTIAL"
    assert ran.outcome.closure_reason == "budget_exhausted"
    assert len(events_of(ran, "ToolCallRequested")) == 3


async def test_a_mission_on_named_files_needs_every_one_read(project):
    handoff = mission(allowed_paths=["bridge.py", "notes.md"])
    ran = await run(project, [tool("read", path="bridge.py"), {"action": honest_report()}], handoff)

    assert ran.outcome.status == "PARTIAL"
    assert "required sources not read: notes.md" in ran.outcome.report["closure"]["downgrades"]
    assert "required sources never read: notes.md" in ran.outcome.report["caveats"]


async def test_required_sources_narrow_what_must_be_read(project):
    handoff = mission(allowed_paths=["bridge.py", "notes.md"], required_sources=["bridge.py"])
    ran = await run(project, [tool("read", path="bridge.py"), {"action": honest_report()}], handoff)

    assert ran.outcome.status == "COMPLETE"


async def test_a_denied_required_source_escalates(project):
    handoff = mission(allowed_paths=["bridge.py", ".env"])
    script = [
        tool("read", path=".env"),
        tool("read", path="bridge.py"),
        {"action": honest_report()},
    ]
    ran = await run(project, script, handoff)

    assert ran.outcome.status == "ESCALATE"
    assert "required sources the runtime denied: .env" in ran.outcome.report["caveats"]


@pytest.mark.parametrize(
    ("finding", "reason"),
    [
        (
            {"claim": "the project uses a PostgreSQL database for sessions"},
            "distinctive words",
        ),
        ({"claim": "PATCH: " * 30}, "degenerate claim"),
        (
            {"claim": STREAMING_CLAIM, "quote": "yield from stream_everything(mission)"},
            "the quote does not appear",
        ),
    ],
    ids=["ungrounded", "degenerate", "forged-quote"],
)
async def test_unsupported_findings_are_rejected_with_their_reason(project, finding, reason):
    finding = {"evidence_refs": ["file:bridge.py#L4-L7"], "confidence": "HIGH", **finding}
    ran = await run(
        project,
        [tool("read", path="bridge.py"), {"action": honest_report(findings=[finding])}],
        mission(),
    )

    report = ran.outcome.report
    assert ran.outcome.status == "PARTIAL"
    assert report["findings"] == []
    (rejected,) = report["rejected_findings"]
    assert rejected["claim"] == finding["claim"] and reason in rejected["reason"]
    assert "COMPLETE whose findings were all rejected" in report["closure"]["downgrades"]


async def test_a_quote_matches_across_lines_and_whitespace(project):
    finding = {
        "claim": "handle() admits the mission and then streams it",
        "evidence_refs": ["file:bridge.py#L5-L7"],
        "quote": "mission = admit(request)\n # managed runtime streaming   starts here",
        "confidence": "HIGH",
    }
    degenerate = {
        "claim": "the the the the the the the the the",
        "evidence_refs": ["file:bridge.py#L4-L7"],
    }
    ran = await run(
        project,
        [tool("read", path="bridge.py"), {"action": honest_report(findings=[finding, degenerate])}],
        mission(),
    )

    # The quoted finding stands; the degenerate one beside it keeps the report below COMPLETE.
    assert ran.outcome.status == "PARTIAL"
    assert [f["claim"] for f in ran.outcome.report["findings"]] == [finding["claim"]]
    assert ran.outcome.report["rejected_findings"][0]["reason"].startswith("degenerate claim")


async def test_each_turn_is_sized_and_asks_for_quotes(project):
    ran = await RUNNER.run(
        project,
        {"smollm2-135m-instruct": [tool("read", path="bridge.py"), {"action": honest_report()}]},
        alias="mission-a3-local",
        handoff=mission(required_outputs=["findings", "caveats"]),
    )

    body = ran.requests[0].body
    schema = body["response_format"]["json_schema"]["schema"]
    (closing,) = [
        b for b in schema["anyOf"] if b["properties"]["action_type"]["const"] != "tool_call"
    ]
    report = closing["properties"]["report"]
    assert "quote" in report["properties"]["findings"]["items"]["required"]
    assert "caveats" in report["required"] and "uncertainties" not in report["required"]
    assert 0 < body["max_tokens"] < 1536  # the grammar bounds what the local model can write
    assert body["frequency_penalty"] > 0
    remote = await run(
        project, [tool("read", path="bridge.py"), {"action": honest_report()}], mission()
    )
    # kimi reads the schema without a grammar enforcing its bounds: it keeps the ceiling.
    assert remote.requests[0].body["max_tokens"] == 1536
    assert remote.requests[0].body["frequency_penalty"] > 0


async def test_deadline_reached_leaves_the_model_its_closing_turn(project):
    script = [
        {"delay_seconds": 1.5, **tool("read", path="bridge.py")},
        {"action": honest_report()},
    ]
    ran = await run(
        project,
        script,
        mission(time_budget_seconds=6, stop_conditions=["valid_report", "deadline_reached"]),
    )

    assert ran.outcome.closure_reason == "deadline_reached"
    assert ran.outcome.report["closure"]["closed_by"] == "model"
    assert ran.outcome.status == "PARTIAL"  # exploration was cut short by the clock
    assert ran.outcome.report["findings"][0]["claim"] == STREAMING_CLAIM


SCOPED = {
    "allowed_roots": ["."],
    "required_sources": ["bridge.py"],
    "stop_conditions": ["valid_report", "scope_exhausted"],
}


async def test_scope_exhausted_asks_for_the_report_once_every_required_source_is_read(project):
    script = [tool("read", path="bridge.py"), {"action": honest_report()}]
    ran = await run(project, script, mission(**SCOPED))

    assert ran.outcome.closure_reason == "stop_condition_scope_exhausted"
    assert ran.outcome.status == "COMPLETE"  # nothing was cut short: all it needed was read
    assert "stopped exploration (scope_exhausted)" in ran.upstream_text()


async def test_exploring_past_an_exhausted_scope_closes_partial(project):
    script = [tool("read", path="bridge.py"), tool("read", path="notes.md")]
    ran = await run(project, script, mission(**SCOPED))

    assert ran.outcome.closure_reason == "stop_condition_scope_exhausted"
    assert ran.outcome.status == "PARTIAL"
    assert len(events_of(ran, "ToolCallRequested")) == 1


async def test_a_model_cannot_ground_a_claim_in_its_own_grep_miss(project):
    claim = "the bridge module has an sql injection in its auth handler"
    pattern = "sql injection in its auth handler"

    async def attempt(ref: str, mission_id: str):
        forged = {"claim": claim, "evidence_refs": [ref], "quote": pattern, "confidence": "high"}
        script = [
            tool("read", path="bridge.py"),
            tool("grep", pattern=pattern, path="bridge.py"),
            {"action": honest_report(findings=[forged])},
        ]
        return await run(project, script, mission(mission_id=mission_id))

    # The same script logs the same events: learn the miss's seq, then cite exactly it.
    first = await attempt("event:1", "m-miss-1")
    [miss] = [e for e in first.events_of("ToolObserved") if e.payload["tool_name"] == "grep"]
    assert miss.payload["output"].startswith("No matches for")
    ran = await attempt(f"event:{miss.seq}", "m-miss-2")

    assert ran.outcome.status != "COMPLETE"
    assert ran.outcome.report["findings"] == []
    rejected = ran.outcome.report["rejected_findings"][0]
    assert rejected["claim"] == claim
    # The ref resolved (it is the grep's event); only the miss's text no longer counts.
    assert rejected["reason"] == "the quote does not appear in the cited lines the runtime showed"
