"""The mission loop on its own: an in-memory model, a real log, real tools on a real repo.

The loop keeps no state of the run beside its RunRecord, so each test checks a decision
(a budget, a cap, a stop) against the record the loop ended with, and that record against a
fresh fold of the log it wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_opencode_bridge.harness import final_action, make_git_project, tool_action
from runtime.eventlog import MissionEventLog, load_events
from runtime.events import CommentaryEmitted, Event, Route
from runtime.loop import Journal, LoopResult, MissionLoop
from runtime.mission import Tier, compile_mission, template
from runtime.record import reduce
from runtime.redact import Redactor
from runtime.runner import allowed_specs
from runtime.settings import TraceMode
from runtime.tools import ProjectToolBox
from tests.runtime.scripted_model import TOKENS_IN, TOKENS_OUT, ScriptedModel

CODE = "".join(f"limit_{n} = {n}\n" for n in range(30))
ROUTE = Route(alias="mission-a3-test", profile="scripted", upstream_model="scripted")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_git_project(tmp_path / "project", {"src/limits.py": CODE, ".env": "KEY=x\n"})


class WatchedLog(MissionEventLog):
    """A real log that notes, as each append begins, its first event's type and the seq then
    on disk."""

    def append_all(self, entries: Any, then: Any = None, *, sync: bool = True) -> list[Event]:
        self.appends.append((type(entries[0][0]).__name__, self._synced))
        return super().append_all(entries, then, sync=sync)

    @property
    def appends(self) -> list[tuple[str, int]]:
        return self.__dict__.setdefault("_appends", [])


def run(
    project: Path,
    turns: list[Any],
    on_commentary: Callable[[str], Awaitable[None]] | None = None,
    log: WatchedLog | None = None,
    **mission: Any,
) -> tuple[LoopResult, MissionLoop]:
    compiled = compile_mission(template(Tier.A3, "Read the limits.", "m-loop", **mission))
    log = log or WatchedLog.create(project, "run-1", "m-loop")
    redactor = Redactor()
    loop = MissionLoop(
        mission=compiled.mission,
        clamps=compiled.clamps,
        route=ROUTE,
        client=ScriptedModel(list(turns)),
        toolbox=ProjectToolBox(project, compiled.mission, redactor),
        journal=Journal(log, redactor, TraceMode.SUMMARY, 100),
        tool_specs=allowed_specs(compiled.mission),
        on_commentary=on_commentary,
    )
    with log:
        result = asyncio.run(loop.run())
    return result, loop


READ = tool_action("read", path="src/limits.py", start_line=1, end_line=10)
GROUNDED = final_action(
    refs=["file:src/limits.py#L1-L10"], claim="limit_3 is 3", quote="limit_3 = 3"
)


def test_the_live_record_is_the_fold_of_the_log_it_wrote(project: Path) -> None:
    result, loop = run(project, [READ, GROUNDED])
    events = load_events(loop.journal.log.path)
    assert loop.record == reduce(events)
    # The toolbox enforces the observation and file budgets per call, counting as the record does.
    assert loop.toolbox.observation_bytes == loop.record.budgets_used.observation_bytes > 0
    assert loop.toolbox.inspected_paths == loop.record.files_inspected == ("src/limits.py",)
    assert result.status == loop.record.status == "COMPLETE"
    assert result.report["findings"][0]["quote"] == "limit_3 = 3"


def test_a_secret_in_the_models_stated_reason_never_reaches_the_log(project: Path) -> None:
    secret = "AKIAIOSFODNN7EXAMPLE"
    look = tool_action("read", reason=f"check key {secret}", path="src/limits.py", end_line=5)
    _, loop = run(project, [look, GROUNDED])
    requested = next(e for e in loop.journal.events if e.event_type == "ToolCallRequested")
    assert requested.payload["reason"].startswith("check key ")
    assert secret not in loop.journal.log.path.read_text()


def test_a_models_answer_is_acted_on_once_the_turns_events_are_on_disk(project: Path) -> None:
    result, loop = run(project, [READ, READ | {"arguments": {"path": "src/limits.py"}}, GROUNDED])
    log = loop.journal.log
    asked = [e.seq for e in loop.journal.events if e.event_type == "ModelCalled"]
    answers = [synced for kind, synced in log.appends if kind == "ModelActionProposed"]
    # The turn's fsync ran while the model answered: every event before the request (the one
    # its ModelCalled follows) was on disk when the answer was recorded; the close synced all.
    assert len(answers) == len(asked) == 3
    assert all(synced >= seq - 1 for synced, seq in zip(answers, asked, strict=True))
    assert log._synced == loop.record.event_count and result.status == "COMPLETE"


def test_commentary_reaches_the_client_only_once_its_events_are_on_disk(project: Path) -> None:
    log = WatchedLog.create(project, "run-1", "m-loop")
    pending_at_delivery: list[bool] = []

    async def deliver(line: str) -> None:
        pending_at_delivery.append(log._synced < log.seq)

    run(project, [READ, GROUNDED], on_commentary=deliver, log=log)
    assert len(pending_at_delivery) > 3 and not any(pending_at_delivery)


def test_a_failed_fsync_leaves_the_record_in_step_with_the_file(project: Path) -> None:
    class FailingLog(WatchedLog):
        def sync(self) -> None:
            raise OSError(5, "I/O error")

    log = FailingLog.create(project, "run-io", "m-io")
    journal = Journal(log, Redactor(), TraceMode.SUMMARY, 100)
    with pytest.raises(OSError):
        journal.add(CommentaryEmitted(text="durable"), sync=True)
    assert journal.record.event_count == log.seq == 1  # folded although the fsync failed
    journal.add(CommentaryEmitted(text="next"))  # the fold accepts the next event
    assert journal.record.event_count == 2
    with pytest.raises(OSError):
        log.close()  # the pending fsync fails again; the handle is released all the same
    assert (log._fd, log._lock_fd) == (-1, -1)


def test_tokens_come_from_the_recorded_model_calls(project: Path) -> None:
    result, loop = run(project, [READ, READ | {}, GROUNDED])
    calls = loop.record.model_calls.count
    assert calls == 3
    assert (result.input_tokens, result.output_tokens) == (calls * TOKENS_IN, calls * TOKENS_OUT)


def test_repeats_past_the_duplicate_budget_force_the_closing_turn(project: Path) -> None:
    result, loop = run(project, [READ, READ, READ, READ, GROUNDED], max_duplicate_actions=1)
    record = loop.record
    assert record.budgets_used.duplicate_actions == 2  # the third read repeated the first twice
    assert "max_duplicate_actions" in record.budgets_used.exhausted
    closing = loop.client.bodies[-1]["response_format"]["json_schema"]["schema"]
    assert "tool_call" not in str(closing)  # only a report is offered after the budget
    assert (result.status, result.closure_reason) == ("PARTIAL", "budget_exhausted")


def test_a_blocked_source_caps_the_report_at_escalate(project: Path) -> None:
    result, loop = run(project, [tool_action("read", path=".env"), READ, GROUNDED])
    assert [d.reason_code for d in loop.record.denials] == ["secret_path"]
    assert result.status == "ESCALATE"
    assert "status capped at ESCALATE by the closure" in result.report["closure"]["downgrades"]


def test_the_tool_budget_counts_the_recorded_calls(project: Path) -> None:
    reads = [
        tool_action("read", path="src/limits.py", start_line=n, end_line=n + 1) for n in (1, 3, 5)
    ]
    result, loop = run(project, [*reads, GROUNDED], tool_budget=2)
    assert loop.record.budgets_used.tool_calls == 2  # the third read was never run
    assert [a.action_type for a in loop.record.actions] == ["tool_call", "tool_call", "tool_call"]
    assert (result.status, result.closure_reason) == ("PARTIAL", "budget_exhausted")
