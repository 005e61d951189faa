"""Issue 13's mission kinds from the command line: ``codex-oss mission run`` on an A3-open
handoff and on a synthesis that fails after evidence, then ``audit-mission`` on each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import make_git_project, tool_action
from runtime.answer import REPORT_CLOSE, extract_report
from runtime.mission import Tier, template

CLI = [sys.executable, "-m", "bridge.cli"]
APP = "def total(items):\n    return sum(items[:-1])\n"
READ = tool_action("read", "read it", path="src/app.py", start_line=1, end_line=2)


def codex_oss(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def run_mission(tmp_path: Path, mission: dict, turns: list[dict]) -> tuple[Path, dict, str]:
    project = make_git_project(tmp_path / "p", {"src/app.py": APP})
    handoff = tmp_path / "handoff.txt"
    handoff.write_text(f"<OSS_HANDOFF_JSON>{json.dumps(mission)}</OSS_HANDOFF_JSON>")
    with ScriptedUpstream.in_thread({"kimi-k2.6": turns}) as upstream:
        env = {**os.environ, "UPSTREAM_BASE_URL": upstream.base_url}
        ran = codex_oss(
            "mission", "run", str(handoff), "--model", "mission-a3-kimi",
            "--project", str(project), env=env,
        )  # fmt: skip
        audit = codex_oss(
            "audit-mission", mission["mission_id"], "--project", str(project), env=env
        )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    # The final message ends at its report block; the command prints where the files are after.
    final = ran.stdout[: ran.stdout.rindex(REPORT_CLOSE) + len(REPORT_CLOSE)]
    return project, extract_report(final), final


def test_an_a3_open_mission_from_the_command_line_names_its_open_question(tmp_path: Path):
    mission = template(Tier.A3, "Which slice drops the last item? Who calls total?", "m-open")
    mission["tier"] = "A3-open"
    del mission["mode"]
    finding = {
        "claim": "The slice items[:-1] drops the last item",
        "quote": "return sum(items[:-1])",
        "evidence_refs": ["file:src/app.py#L1-L2"],
        "confidence": "HIGH",
    }
    report = {"status": "COMPLETE", "confidence": "HIGH", "findings": [finding]}
    final = {"action": {"action_type": "final_report", "report": report}}
    project, got, text = run_mission(tmp_path, mission, [READ, final])
    assert got["status"] == "PARTIAL"
    assert "q2 (Who calls total?)" in text
    graph = json.loads((project / ".codex-oss/missions/m-open/answer_graph.json").read_text())
    assert [q["state"] for q in graph["questions"]] == ["answered", "evidence_seen"]


def test_a_synthesis_that_fails_after_reading_prints_the_source_pack(tmp_path: Path):
    mission = template(Tier.A3, "What does total do?", "m-pack")
    prose = {"content": "Well, it adds things up, I believe."}
    _, got, text = run_mission(tmp_path, mission, [READ, prose, prose])
    assert "Synthesis status: SOURCE_PACK_RECOVERY" in text
    assert got["status"] == "PARTIAL" and got["findings"] == []
    assert got["source_pack"][0]["ref"] == "file:src/app.py#L1-L2"
