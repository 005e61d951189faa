"""A6 through the bridge and the command line: verified in isolation, reported as a rehearsal,
refused by promote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from bridge_helpers import LOCAL_KEY, bridge_settings

from pytest_opencode_bridge.harness import handoff_text, make_git_project, tool_action

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}"}
CODEX_OSS = str(Path(sys.executable).with_name("codex-oss"))
APP = "def total(items):\n    return sum(items[:-1])\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_git_project(tmp_path / "project", {"src/__init__.py": "", "src/app.py": APP})


async def test_an_a6_mission_over_http_is_a_rehearsal_promote_refuses(
    upstream, start_bridge, project
) -> None:
    bridge = await start_bridge(bridge_settings(upstream.base_url), project_root=project)
    read = tool_action("read", "read it", path="src/app.py", start_line=1, end_line=2)
    patch = {
        "action_type": "propose_patch",
        "reason": "fix the slice",
        "patch": {
            "edits": [
                {
                    "path": "src/app.py",
                    "operation": "replace_exact",
                    "old_text": "sum(items[:-1])",
                    "new_text": "sum(items)",
                }
            ],
            "rationale": "items[:-1] drops the last item",
        },
        "report": {
            "status": "COMPLETE",
            "confidence": "MEDIUM",
            "findings": [
                {
                    "claim": "the slice items[:-1] drops the last item",
                    "quote": "return sum(items[:-1])",
                    "evidence_refs": ["file:src/app.py#L1-L2"],
                    "confidence": "HIGH",
                }
            ],
        },
    }
    upstream.set_script({"kimi-k2.6": [read, {"action": patch}]})
    verification = {"commands": [[sys.executable, "-c", "import src.app"]], "timeout_seconds": 60}
    handoff = handoff_text(
        "Fix total()", "m-rehearse", "A6", owned_paths=["src"], verification=verification
    )
    body = {"model": "mission-a6-kimi", "input": [{"role": "user", "content": handoff}]}
    async with httpx.AsyncClient(timeout=120) as http:
        answer = await http.post(f"{bridge}/responses", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    text = answer.json()["output"][-1]["content"][0]["text"]
    assert "REHEARSAL, never promoted" in text and "Promote with" not in text
    packet = project / ".codex-oss/missions/m-rehearse/review_packet.json"
    assert json.loads(packet.read_text())["mode"] == "REHEARSAL"

    refused = subprocess.run(
        [CODEX_OSS, "promote", "m-rehearse", "--force", "--project", str(project)],
        text=True,
        capture_output=True,
    )
    assert refused.returncode == 1
    assert "rehearsal_only" in refused.stderr
    assert (project / "src/app.py").read_text() == APP
