"""``codex-oss demo`` against the scripted upstream standing in for the local model (its base
URL is ``LOCAL_MODEL_BASE_URL``), so the whole path runs without the model: a real bridge, real
HTTP, a real git project, the real runtime."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import bridge.demo as demo_module
from bridge.app import ServerThread, create_app
from bridge.cli import main
from bridge.demo import (
    DemoError,
    DemoOptions,
    MissionStreamError,
    handoff_message,
    plan_demo_mission,
    run_demo,
    stream_mission,
)
from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import final_action, make_git_project, tool_action
from runtime.eventlog import verify_log
from runtime.local_model import PID_FILE
from runtime.mission import compile_mission
from runtime.registry import LOCAL_MODEL_ID
from runtime.settings import Settings
from tests.needs import need_local_model

README = "# tally\n\nTally counts words. Run it with `tally FILE`.\n"
EVIDENCE = "file:README.md#L1-L3"
CLAIM = "tally counts words and runs as `tally FILE`"
LOCAL_KEY = "demo-test-key-0123456789"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_git_project(
        tmp_path / "tally",
        {
            "README.md": README,
            "pyproject.toml": '[project]\nname = "tally"\n',
            "tally.py": "def count(text):\n    return len(text.split())\n",
            ".gitignore": ".codex-oss/\n",
        },
    )


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream.in_thread() as server:
        yield server


def good_turns() -> list[dict]:
    read = tool_action("read", "read the README", path="README.md", start_line=1, end_line=3)
    return [read, final_action("COMPLETE", [EVIDENCE], claim=CLAIM)]


def bridge_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bridge-server" and t.is_alive()]


# -- the mission it sends ----------------------------------------------------------------------


def test_the_default_mission_reads_only_the_readme_and_manifests():
    files = {"README.md", "pyproject.toml", "package.json", "Makefile", "main.py", ".env"}
    mission = plan_demo_mission(files, mission_id="demo-1")
    assert mission["allowed_paths"] == ["README.md", "pyproject.toml", "package.json"]
    assert mission["allowed_roots"] == []
    assert mission["allowed_tool_classes"] == ["read"]
    assert mission["tier"] == "A2"
    assert '"path": "README.md"' in mission["objective"]
    compiled = compile_mission(mission)  # a valid MissionV1 within the A2 caps
    assert not [c for c in compiled.clamps if c.reason == "tier_cap"]
    assert compiled.mission.tool_budget == 2


def test_a_project_without_readme_or_manifest_is_listed_then_read():
    mission = plan_demo_mission({"main.c"}, mission_id="demo-2")
    assert mission["allowed_roots"] == ["."]
    assert mission["allowed_tool_classes"] == ["read", "list"]
    compile_mission(mission)


def test_paths_and_objective_replace_the_derived_ones():
    mission = plan_demo_mission(
        {"README.md"}, mission_id="demo-3", objective="Where is main?", paths=("src",)
    )
    assert mission["allowed_paths"] == ["src"]
    assert mission["allowed_tool_classes"] == ["read", "search", "list"]  # src may be a folder
    assert mission["objective"] == "Where is main?"
    derived = plan_demo_mission({"README.md"}, mission_id="demo-4", paths=("src",))
    assert "src" in derived["objective"] and "README.md" not in derived["objective"]
    compile_mission(derived)


# -- the whole demo ----------------------------------------------------------------------------


def test_demo_prints_the_report_and_leaves_its_artifacts(project, upstream):
    upstream.set_script({LOCAL_MODEL_ID: good_turns()})
    result = CliRunner().invoke(
        main,
        ["demo", "--project", str(project)],
        env={"LOCAL_MODEL_BASE_URL": upstream.base_url, "PROXY_API_KEY": None},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "reading README.md lines 1-3" in out  # streamed commentary
    assert "COMPLETE" in out
    assert CLAIM in out and EVIDENCE in out
    (mission_dir,) = (project / ".codex-oss" / "missions").iterdir()
    assert str(mission_dir) in out
    report = json.loads((mission_dir / "report.json").read_text())
    assert report["status"] == "COMPLETE"
    assert report["findings"][0]["evidence_refs"] == [EVIDENCE]
    (log,) = (project / ".codex-oss" / "runs").glob("*/events.jsonl")
    assert str(log) in out
    assert verify_log(log).ok
    # The mission went through the local profile to the model it found answering.
    (first, _) = upstream.chat_requests(LOCAL_MODEL_ID)
    assert "README.md" in json.dumps(first.body)
    # Nothing left running: the demo's bridge thread is gone and no model was started.
    assert not bridge_threads()
    assert not (project / PID_FILE).exists()
    assert "nothing else was running" in out


def test_demo_shows_a_degenerate_finding_only_as_rejected(project, upstream):
    # What SmolLM2 wrote once: a repeated token, citing a range it did read.
    degenerate = "PATCH: " * 25
    read = tool_action("read", "read the README", path="README.md", start_line=1, end_line=3)
    upstream.set_script(
        {LOCAL_MODEL_ID: [read, final_action("COMPLETE", [EVIDENCE], claim=degenerate)]}
    )
    result = CliRunner().invoke(
        main,
        ["demo", "--project", str(project)],
        env={"LOCAL_MODEL_BASE_URL": upstream.base_url, "PROXY_API_KEY": None},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "no finding was accepted" in result.output
    assert "rejected:" in result.output and "degenerate claim" in result.output
    (mission_dir,) = (project / ".codex-oss" / "missions").iterdir()
    report = json.loads((mission_dir / "report.json").read_text())
    assert report["status"] == "PARTIAL" and report["findings"] == []
    assert report["rejected_findings"][0]["claim"] == degenerate


def test_the_default_mission_must_read_its_readme_and_reports_inside_its_budget():
    mission = plan_demo_mission({"README.md", "pyproject.toml"}, mission_id="demo-5")
    assert mission["required_sources"] == ["README.md"]
    assert "deadline_reached" in mission["stop_conditions"]
    # The mission's budget leaves room for the model's start inside the demo's 20 s target.
    assert mission["time_budget_seconds"] <= 16


def test_run_demo_reports_an_honest_partial(project, upstream):
    # The model keeps reading past its budget: the runtime closes PARTIAL, and the demo says so.
    read = tool_action("read", path="README.md", start_line=1, end_line=3)
    upstream.set_script({LOCAL_MODEL_ID: {"turns": [read], "repeat_last": True}})
    settings = Settings(LOCAL_MODEL_BASE_URL=upstream.base_url)
    commentary: list[str] = []
    result = run_demo(DemoOptions(project), settings=settings, on_commentary=commentary.append)
    assert result.status == "PARTIAL"
    assert result.report["closure"]["reason"] == "budget_exhausted"
    assert result.report["findings"] == []
    assert any("budget exhausted" in line for line in commentary)
    assert result.run_log is not None and verify_log(result.run_log).ok
    assert result.started == []
    assert not bridge_threads()


def test_the_kimi_profile_runs_the_same_mission_on_the_upstream(project, upstream):
    # With an upstream key, no local model is involved: the mission goes to kimi-k2.6.
    upstream.set_script({"kimi-k2.6": good_turns()})
    settings = Settings(
        UPSTREAM_BASE_URL=upstream.base_url,
        OPENCODE_GO_API_KEY="upstream-test-key-9876543210",
        LOCAL_MODEL_BASE_URL=f"http://127.0.0.1:{_closed_port()}/v1",
    )
    result = run_demo(DemoOptions(project, profile="kimi"), settings=settings)
    assert result.status == "COMPLETE"
    assert result.model_base_url is None and result.started == []
    (request, _) = upstream.chat_requests("kimi-k2.6")
    assert request.headers["authorization"] == "Bearer upstream-test-key-9876543210"


def test_demo_without_upstream_key_refuses_the_kimi_profile(project):
    result = CliRunner().invoke(
        main,
        ["demo", "--project", str(project), "--profile", "kimi"],
        env={"OPENCODE_GO_API_KEY": None},
    )
    assert result.exit_code == 1
    assert "OPENCODE_GO_API_KEY" in result.output
    assert not (project / ".codex-oss" / "missions").exists()


def test_an_unknown_profile_is_named(project):
    with pytest.raises(DemoError, match="'gpt' is unknown"):
        run_demo(DemoOptions(project, profile="gpt"), settings=Settings())


def test_a_missing_local_extra_names_the_setup_command(project, monkeypatch):
    # Nothing answers at the configured URL, and the model packages are "not installed".
    monkeypatch.setattr(demo_module.importlib.util, "find_spec", lambda name: None)
    settings = Settings(LOCAL_MODEL_BASE_URL=f"http://127.0.0.1:{_closed_port()}/v1")
    with pytest.raises(DemoError, match="bash scripts/setup"):
        run_demo(DemoOptions(project), settings=settings)
    assert not bridge_threads()


def test_a_busy_model_port_is_a_clear_error(project):
    need_local_model()
    with socket.socket() as squatter:  # listens, but is no model server
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = Settings(LOCAL_MODEL_BASE_URL=f"http://127.0.0.1:{port}/v1")
        with pytest.raises(DemoError, match=f"127.0.0.1:{port} is already in use"):
            run_demo(DemoOptions(project), settings=settings)
    assert not (project / PID_FILE).exists()


# -- the streaming client ----------------------------------------------------------------------


@pytest.fixture
def bridge(project: Path, upstream: ScriptedUpstream) -> Iterator[str]:
    settings = Settings(LOCAL_MODEL_BASE_URL=upstream.base_url, PROXY_API_KEY=LOCAL_KEY)
    with ServerThread(lambda: create_app(settings, project, heartbeat_seconds=0.5)) as server:
        yield server.base_url


def test_a_failed_mission_still_hands_back_its_report(bridge, upstream, project):
    upstream.set_script({LOCAL_MODEL_ID: {"turns": [{"content": "not json"}], "repeat_last": True}})
    mission = plan_demo_mission({"README.md"}, mission_id="demo-failed")
    answer = stream_mission(bridge, LOCAL_KEY, "mission-a2-local", handoff_message(mission))
    assert answer.report is not None
    assert answer.report["status"] == "FAILED"
    assert answer.report["closure"]["reason"] == "action_parse_failed"
    assert answer.failure is None  # a FAILED mission completes its turn with the report
    assert answer.commentary  # commentary arrived before the final message


def test_a_refused_mission_raises_with_the_bridges_reason(bridge):
    mission = plan_demo_mission({"README.md"}, mission_id="demo-refused")
    mission["tier"], mission["mode"] = "A3", "managed_investigation"
    with pytest.raises(MissionStreamError, match=r"HTTP 400.*mission-a2-local runs missions up"):
        stream_mission(bridge, LOCAL_KEY, "mission-a2-local", handoff_message(mission))


def test_a_wrong_key_is_refused(bridge):
    mission = plan_demo_mission({"README.md"}, mission_id="demo-key")
    with pytest.raises(MissionStreamError, match="HTTP 401"):
        stream_mission(bridge, "wrong-key-000000000", "mission-a2-local", handoff_message(mission))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
