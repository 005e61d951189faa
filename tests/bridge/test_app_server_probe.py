"""``codex-oss app-server-probe``: the judgement (pure) and the probes against the real
``codex app-server`` of the pinned Codex CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.app_server import TurnTranscript
from bridge.app_server_probe import judge

CODEX = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "codex"


def _message(item_id: str, text: str, phase: str) -> list[tuple[float, str, dict]]:
    item = {"type": "agentMessage", "id": item_id, "text": text, "phase": phase}
    return [
        (0.0, "item/agentMessage/delta", {"itemId": item_id, "delta": text}),
        (0.0, "item/completed", {"item": item}),
    ]


def _is_final(text: str, phase: str | None) -> bool:
    return phase == "final_answer"


def test_commentary_deltas_before_the_final_message_pass() -> None:
    transcript = TurnTranscript(
        [*_message("a", "reading a.py", "commentary"), *_message("z", "done", "final_answer")]
    )
    result = judge(transcript, _is_final)
    assert (result.probe_status, result.pre_final_deltas) == ("pass", 1)
    assert result.pre_final_texts == ["reading a.py"]


def test_only_a_final_message_fails_and_no_final_fails() -> None:
    only_final = judge(TurnTranscript(_message("z", "done", "final_answer")), _is_final)
    assert only_final.probe_status == "fail" and only_final.final_observed
    commentary_after = TurnTranscript(
        [*_message("z", "done", "final_answer"), *_message("a", "late", "commentary")]
    )
    assert judge(commentary_after, _is_final).probe_status == "fail"
    nothing = judge(TurnTranscript(_message("a", "x", "commentary")), _is_final)
    assert nothing.probe_status == "fail" and not nothing.final_observed


def _probe(*args: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args, "--project", str(project), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.codex
def test_visible_commentary_reaches_the_app_server_before_the_final_report(tmp_path: Path):
    if not CODEX.exists():
        pytest.skip("Codex CLI not installed: run 'npm ci'")
    done = _probe("app-server-probe", "--codex", str(CODEX), project=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert result["probe_status"] == "pass" and result["final_observed"]
    assert result["codex_version"].endswith("0.169.0")
    assert any(
        text.startswith("The model chose read on notes.txt") for text in result["pre_final_texts"]
    )
    delivery = result["delivery"]
    assert delivery["consumer"] == "codex app-server"
    assert delivery["consumer_observed"] == delivery["sse_emitted"] == result["pre_final_deltas"]
    recorded = tmp_path / ".codex-oss" / "probes" / "app-server-visible-commentary.json"
    assert json.loads(recorded.read_text())["probe_status"] == "pass"


@pytest.mark.codex
def test_the_bare_channel_carries_pre_final_text(tmp_path: Path):
    if not CODEX.exists():
        pytest.skip("Codex CLI not installed: run 'npm ci'")
    done = _probe("app-server-pre-final-text-probe", "--codex", str(CODEX), project=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert result["pre_final_texts"] == ["PROGRESS_ONE", "PROGRESS_TWO", "PROGRESS_THREE"]


def test_a_codex_that_is_no_app_server_is_a_setup_failure(tmp_path: Path):
    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    done = _probe("app-server-visible-commentary-probe", "--codex", str(fake), project=tmp_path)
    assert done.returncode == 3
    result = json.loads(done.stdout)
    assert result["probe_status"] == "setup_failed" and "codex app-server" in result["detail"]
