"""Whole missions over real HTTP: the runtime against the scripted upstream, on a real repo."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import git
import pytest

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import UPSTREAM_TEST_KEY as UPSTREAM_KEY
from pytest_opencode_bridge.harness import MissionRun, MissionRunner, handoff_text
from pytest_opencode_bridge.harness import final_action as final
from pytest_opencode_bridge.harness import tool_action as tool
from runtime.eventlog import load_events, run_log_path, verify_log
from runtime.projections import STAMP_KEY

SECRET = "AKIAIOSFODNN7EXAMPLE"
DOTENV_SECRET = "dotenv-value-4f9c2a7e1b"
OUTSIDE_SECRET = "outside-the-project-7d1e"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(
        "def total(items):\n"
        "    result = 0\n"
        "    for i in range(len(items) - 1):\n"
        "        result += items[i]\n"
        "    return result\n"
    )
    (root / "src" / "config.py").write_text(f'AWS_ACCESS_KEY_ID = "{SECRET}"\nREGION = "eu"\n')
    (root / ".env").write_text(f"TOKEN={DOTENV_SECRET}\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text(OUTSIDE_SECRET + "\n")
    os.symlink(outside / "notes.txt", root / "src" / "link.txt")
    repo = git.Repo.init(root)
    repo.index.add(["src/app.py"])
    repo.index.commit("initial")
    return root


def handoff(**fields) -> str:
    fields.setdefault("mission_id", "m-test")
    return handoff_text("Why does total() miss the last item?", **fields)


RUNNER = MissionRunner()


async def run(
    project: Path, script: dict, *, alias: str = "mission-a3-kimi", handoff_text: str | None = None
):
    """One mission through the harness: (outcome, upstream requests, commentary lines)."""
    ran = await RUNNER.run(project, script, alias=alias, handoff=handoff_text or handoff())
    return ran.outcome, ran.requests, ran.commentary


def everything_written(project: Path) -> str:
    return MissionRun(None, [], [], project).disk_text()


def requests_text(requests) -> str:
    return MissionRun(None, requests, [], Path()).upstream_text()


async def test_honest_investigation_completes_with_resolving_evidence(project):
    script = {
        "kimi-k2.6": [
            tool("ls", path="src"),
            tool("read", path="src/app.py"),
            final(refs=["file:src/app.py#L3-L3"], quote="range(len(items) - 1)"),
        ]
    }
    outcome, requests, lines = await run(project, script)

    assert outcome.status == "COMPLETE"
    assert outcome.closure_reason == "valid_report"
    assert outcome.report["findings"][0]["evidence_refs"] == ["file:src/app.py#L3-L3"]
    assert outcome.report["files_inspected"] == ["src/app.py"]
    assert "<OSS_REPORT_JSON>" in outcome.final_text
    assert any(line.startswith("reading src/app.py") for line in lines)
    assert "range(len(items) - 1)" in requests_text(requests[2:])
    log = run_log_path(project, outcome.run_id)
    assert verify_log(log).ok
    saved = json.loads((outcome.artifacts / "report.json").read_text())
    saved.pop(STAMP_KEY)
    assert saved == outcome.report
    assert {"summary.md", "run_record.json", "visible_commentary.jsonl", "trace.jsonl"} <= {
        p.name for p in outcome.artifacts.iterdir()
    }


async def test_reading_dotenv_is_denied_and_never_complete(project):
    script = {
        "kimi-k2.6": [
            tool("read", path=".env"),
            tool("read", path="src/app.py"),
            final(refs=["file:src/app.py#L1-L2", "file:.env#L1-L1"]),
        ]
    }
    outcome, requests, _ = await run(project, script)

    assert outcome.status != "COMPLETE"
    assert DOTENV_SECRET not in requests_text(requests)
    assert DOTENV_SECRET not in everything_written(project)


@pytest.mark.parametrize("path", ["../outside/notes.txt", "ABSOLUTE", "src/link.txt"])
async def test_escapes_are_denied_and_never_complete(project, path):
    if path == "ABSOLUTE":
        path = str(project.parent / "outside" / "notes.txt")
    script = {"kimi-k2.6": [tool("read", path=path), final(refs=["event:5"])]}
    outcome, requests, _ = await run(project, script)

    assert outcome.status != "COMPLETE"
    assert OUTSIDE_SECRET not in requests_text(requests)
    assert OUTSIDE_SECRET not in everything_written(project)


async def test_secrets_in_files_are_redacted_before_the_model_sees_them(project):
    script = {
        "kimi-k2.6": [
            tool("read", path="src/config.py"),
            final(refs=["file:src/config.py#L1-L2"], claim="a key is committed"),
        ]
    }
    outcome, requests, _ = await run(project, script)

    assert outcome.report["files_inspected"] == ["src/config.py"]
    assert "REGION" in requests_text(requests)
    assert SECRET not in requests_text(requests)
    assert SECRET not in everything_written(project)
    assert UPSTREAM_KEY not in everything_written(project)


async def test_complete_without_reading_is_downgraded(project):
    script = {"kimi-k2.6": [final(refs=["file:src/app.py#L3-L3"])]}
    outcome, _, _ = await run(project, script)

    assert outcome.status == "PARTIAL"
    assert outcome.report["findings"] == []
    assert outcome.report["rejected_findings"][0]["evidence_refs"] == ["file:src/app.py#L3-L3"]


async def test_garbage_twice_fails_honestly(project):
    script = {"kimi-k2.6": [{"content": "I think the answer is 42"}, {"content": "{oops"}]}
    outcome, requests, _ = await run(project, script)

    assert (outcome.status, outcome.closure_reason) == ("FAILED", "action_parse_failed")
    assert "not a valid Action" in requests_text(requests[1:])


async def test_looping_on_one_read_is_cut_off_and_never_complete(project):
    loop = [tool("read", path="src/app.py")] * 6
    script = {"kimi-k2.6": [*loop, final(refs=["file:src/app.py#L1-L5"])]}
    outcome, _, _ = await run(project, script, handoff_text=handoff(max_duplicate_actions=1))

    assert outcome.status != "COMPLETE"
    events = load_events(run_log_path(project, outcome.run_id))
    denied = [e for e in events if e.event_type == "ToolCallDenied"]
    assert denied and denied[0].payload["reason_code"] == "duplicate_action"


async def test_tool_outside_its_classes_is_denied(project):
    script = {
        "kimi-k2.6": [
            tool("grep", pattern="total"),
            tool("read", path="src/app.py"),
            final(refs=["file:src/app.py#L1-L5"]),
        ]
    }
    outcome, _, _ = await run(project, script, handoff_text=handoff(allowed_tool_classes=["read"]))

    assert outcome.status != "COMPLETE"


async def test_tool_budget_forces_a_final_turn(project):
    script = {
        "kimi-k2.6": [
            tool("ls", path="."),
            tool("read", path="src/app.py"),
            final(refs=["file:src/app.py#L1-L5"]),
        ]
    }
    outcome, requests, _ = await run(project, script, handoff_text=handoff(tool_budget=1))

    assert outcome.closure_reason == "budget_exhausted"
    assert outcome.status == "PARTIAL"
    assert "stopped exploration (tool_budget)" in requests_text(requests[1:])


async def test_spent_observation_budget_forces_a_final_turn(project):
    script = {"kimi-k2.6": [tool("read", path="src/app.py"), final(status="PARTIAL")]}
    outcome, requests, _ = await run(
        project, script, handoff_text=handoff(max_total_observation_bytes=200)
    )

    assert outcome.closure_reason == "budget_exhausted"
    assert "stopped exploration (max_total_observation_bytes)" in requests_text(requests[1:])


async def test_forced_final_turn_offers_only_closing_actions_to_schema_models(project):
    script = {"smollm2-135m-instruct": [tool("ls", path="."), final(status="PARTIAL")]}
    outcome, requests, _ = await run(
        project, script, alias="mission-a3-local", handoff_text=handoff(tool_budget=1)
    )

    def branches(request) -> set[str]:
        schema = request.body["response_format"]["json_schema"]["schema"]
        return {b["properties"]["action_type"]["const"] for b in schema["anyOf"]}

    assert branches(requests[0]) == {"tool_call", "final_report"}
    assert branches(requests[-1]) == {"final_report"}
    assert outcome.closure_reason == "budget_exhausted"


async def test_a_blocked_source_escalates_even_when_the_runtime_closes(project):
    script = {
        "kimi-k2.6": [
            tool("read", path=".env"),
            tool("ls", path="."),
            tool("read", path="src/app.py"),
        ]
    }
    outcome, _, _ = await run(project, script, handoff_text=handoff(tool_budget=2))

    assert outcome.closure_reason == "budget_exhausted"
    assert outcome.report["closure"]["closed_by"] == "runtime"
    assert outcome.status == "ESCALATE"


async def test_blocked_source_stop_condition_forces_the_final_turn(project):
    script = {"kimi-k2.6": [tool("read", path=".env"), final(refs=["event:1"])]}
    outcome, requests, _ = await run(
        project, script, handoff_text=handoff(stop_conditions=["answer_found", "blocked_source"])
    )

    assert outcome.closure_reason == "stop_condition_blocked_source"
    assert outcome.status == "ESCALATE"
    assert "stopped exploration (blocked_source)" in requests_text(requests[1:])


async def test_provider_500_falls_back_along_the_chain(project):
    script = {
        "kimi-k2.6": [{"status": 500}] * 4,
        "deepseek-v4-pro": [
            tool("read", path="src/app.py"),
            final(refs=["file:src/app.py#L3-L3"], quote="range(len(items) - 1)"),
        ],
    }
    outcome, _, _ = await run(project, script)

    assert outcome.status == "COMPLETE"
    events = load_events(run_log_path(project, outcome.run_id))
    outcomes = [e.payload["outcome"] for e in events if e.event_type == "ModelCalled"]
    assert "fallback" in outcomes


async def test_every_provider_failing_closes_failed_with_the_reason(project):
    script = {"*": [{"status": 500}] * 20}
    outcome, _, _ = await run(project, script)

    assert (outcome.status, outcome.closure_reason) == ("FAILED", "model_call_failed")
    assert "500" in outcome.report["closure"]["detail"]


async def test_rate_limit_is_retried_after_retry_after(project):
    script = {
        "kimi-k2.6": [
            {"status": 429, "headers": {"Retry-After": "0"}},
            tool("read", path="src/app.py"),
            final(refs=["file:src/app.py#L3-L3"], quote="range(len(items) - 1)"),
        ]
    }
    outcome, _, _ = await run(project, script)

    assert outcome.status == "COMPLETE"


async def test_mission_time_budget_closes_with_deadline(project, monkeypatch):
    script = {"kimi-k2.6": [{"delay_seconds": 5, **tool("ls", path=".")}]}
    outcome, _, _ = await run(project, script, handoff_text=handoff(time_budget_seconds=1))

    assert outcome.closure_reason == "deadline_reached"
    assert outcome.status != "COMPLETE"


async def test_cancelled_mission_records_the_disconnect(project):
    script = {"kimi-k2.6": [{"delay_seconds": 30, **tool("ls", path=".")}]}
    task = asyncio.ensure_future(run(project, script))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (log,) = (project / ".codex-oss" / "runs").glob("*/events.jsonl")
    last = [e for e in load_events(log) if e.event_type != "CommentaryEmitted"][-1]
    assert last.event_type == "ProjectionWritten"
    (last,) = [e for e in load_events(log) if e.event_type == "MissionFinalized"]
    assert last.payload["closure_reason"] == "client_disconnected"
    assert verify_log(log).ok


async def test_per_model_cap_holds_across_twenty_missions(project):
    turns = [
        {"delay_seconds": 0.05, **tool("ls", path=".")},
        {"delay_seconds": 0.05, **final(status="PARTIAL")},
    ]
    async with ScriptedUpstream({"kimi-k2.6": turns * 20}) as upstream:
        runs = await RUNNER.run_many(
            project,
            upstream,
            [handoff(mission_id=f"m-{n}") for n in range(20)],
            MODEL_CONCURRENCY_JSON={"kimi-k2.6": 2},
        )
        assert upstream.max_in_flight["kimi-k2.6"] == 2
    assert len({ran.outcome.run_id for ran in runs}) == 20
