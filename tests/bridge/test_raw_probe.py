"""``codex-oss raw-probe`` and ``raw-claim-status``: a raw route proven through a real bridge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.raw_probe import RawProbeRecord, raw_claim_status, write_record
from bridge.scripted_upstream import ScriptedUpstream

FAIL_ALWAYS = {"turns": [{"status": 500, "body": {"error": "down"}}], "repeat_last": True}


def _cli(*args: str, project: Path, upstream: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "UPSTREAM_BASE_URL": upstream,
        "OPENCODE_GO_API_KEY": "sk-upstream-probe-test-0123456789",
        "PROXY_API_KEY": "probe-local-key-0123456789",
    }
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args, "--project", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    return tmp_path


def test_a_probe_through_the_bridge_is_recorded_and_supports_the_route(project: Path) -> None:
    script = {"kimi-k2.6": [{"content": "ready"}], "deepseek-v4-pro": FAIL_ALWAYS}
    with ScriptedUpstream.in_thread(script) as upstream:
        probe = _cli(
            "raw-probe", "ocg-kimi-k2.6", "--json", project=project, upstream=upstream.base_url
        )
        [request] = list(upstream.requests)
        failed = _cli(
            "raw-probe", "ocg-deepseek-v4-pro", project=project, upstream=upstream.base_url
        )
    assert probe.returncode == 0, probe.stderr
    [record] = json.loads(probe.stdout)
    assert record["status"] == "pass" and record["answer_excerpt"] == "ready"
    assert record["via"] == "bridge served for the probe"
    assert "Reply with the single word" in json.dumps(request.body["messages"])
    assert failed.returncode == 1 and failed.stdout.startswith("FAIL  ocg-deepseek-v4-pro")

    status = _cli("raw-claim-status", "--json", project=project, upstream="http://127.0.0.1:9/v1")
    assert status.returncode == 1  # one route failed, others were never probed
    by_alias = {item["alias"]: item["status"] for item in json.loads(status.stdout)["aliases"]}
    assert by_alias["ocg-kimi-k2.6"] == "SUPPORTED"
    assert by_alias["ocg-deepseek-v4-pro"] == "FAILING"
    assert by_alias["ocg-deepseek-v4-flash"] == "MISSING"
    only = _cli(
        "raw-claim-status", "ocg-kimi-k2.6", project=project, upstream="http://127.0.0.1:9/v1"
    )
    assert only.returncode == 0 and only.stdout.startswith("SUPPORTED")


def test_a_mission_alias_is_not_a_raw_route(project: Path) -> None:
    done = _cli("raw-probe", "mission-a3-kimi", project=project, upstream="http://127.0.0.1:9/v1")
    assert done.returncode == 2
    assert "not a raw route" in done.stderr
    assert not (project / ".codex-oss" / "raw_probes").exists()


def test_a_probe_made_by_other_code_or_long_ago_is_stale(project: Path) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    record = RawProbeRecord(
        alias="ocg-x", upstream_model="x", status="pass", detail="ok", answer_excerpt="ready",
        elapsed_seconds=0.1, when=now.isoformat(), source_hash="sha256:old", via="running bridge",
    )  # fmt: skip
    write_record(project, record)
    [changed] = raw_claim_status(project, [], current_hash="sha256:new", now=now)
    assert (changed.status, changed.why) == ("STALE", "the bridge's code changed since the probe")
    later = now + timedelta(days=8)
    [old] = raw_claim_status(project, [], current_hash="sha256:old", now=later)
    assert old.status == "STALE" and "more than 7 day(s)" in old.why
    [fresh] = raw_claim_status(project, [], current_hash="sha256:old", now=now)
    assert fresh.status == "SUPPORTED"
