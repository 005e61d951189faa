"""Mission aliases through the bridge: commentary, final report, failures, disconnects."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from bridge_helpers import LOCAL_KEY, bridge_settings
from sse_events import done_items, sse_events, types_of

from pytest_opencode_bridge.harness import final_action, handoff_text, tool_action
from runtime.answer import extract_report
from runtime.eventlog import load_events
from runtime.mission import Tier

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}"}
EVIDENCE = "file:src/app.py#L1-L2"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(
        "def total(items):\n    return sum(items[:-1])  # drops the last item\n"
    )
    return root


def handoff(tier: Tier = Tier.A3, mission_id: str = "m-bridge") -> str:
    return handoff_text("Why does total() miss the last item?", mission_id, tier)


def handoff_owning(tier: Tier, owned: list[str]) -> str:
    return handoff_text("Fix total()", "m-owned", tier, owned_paths=owned)


def read_then_report() -> list[dict]:
    read = tool_action("read", "read the function", path="src/app.py", start_line=1, end_line=2)
    report = final_action(refs=[EVIDENCE], claim="total() slices off the last item")
    return [
        {**read, "usage": {"prompt_tokens": 100, "completion_tokens": 10}},
        {**report, "usage": {"prompt_tokens": 200, "completion_tokens": 20}},
    ]


def _request(stream: bool = True, model: str = "mission-a3-kimi", text: str | None = None):
    return {
        "model": model,
        "stream": stream,
        "input": [{"role": "user", "content": text if text is not None else handoff()}],
    }


@pytest.fixture
async def mission_bridge(upstream, start_bridge, project) -> str:
    return await start_bridge(
        bridge_settings(upstream.base_url), project_root=project, heartbeat_seconds=0.1
    )


async def _post(base: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(f"{base}/responses", json=body, headers=AUTH)


async def test_a_mission_streams_commentary_then_the_evidence_backed_report(
    mission_bridge, upstream, project
):
    upstream.set_script({"kimi-k2.6": read_then_report()})
    events = sse_events((await _post(mission_bridge, _request())).text)

    assert types_of(events)[0] == "response.created"
    assert events[-1]["type"] == "response.completed"
    items = done_items(events)
    assert all(item["type"] == "message" for item in items)
    assert {item["phase"] for item in items[:-1]} == {"commentary"}
    assert len(items) >= 2
    final = items[-1]
    assert final["phase"] == "final_answer"
    report = extract_report(final["content"][0]["text"])
    assert report is not None and report["status"] == "COMPLETE"
    assert report["findings"][0]["evidence_refs"] == [EVIDENCE]
    usage = events[-1]["response"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (300, 30)
    assert (project / ".codex-oss" / "missions" / "m-bridge" / "report.json").exists()


async def test_a_mission_answers_as_one_json_response_when_not_streamed(mission_bridge, upstream):
    upstream.set_script({"kimi-k2.6": read_then_report()})
    body = (await _post(mission_bridge, _request(stream=False))).json()
    assert body["status"] == "completed"
    assert body["output"][-1]["phase"] == "final_answer"
    assert "<OSS_REPORT_JSON>" in body["output"][-1]["content"][0]["text"]


@pytest.mark.parametrize(
    ("text", "model", "fragment"),
    [
        ("no handoff here", "mission-a3-kimi", "no_handoff"),
        ("<OSS_HANDOFF_JSON>{oops</OSS_HANDOFF_JSON>", "mission-a3-kimi", "malformed_json"),
        (handoff(Tier.A4), "mission-a3-kimi", "owned_paths is required"),
        (handoff_owning(Tier.A5, ["src"]), "mission-a3-kimi", "use mission-a5-<profile>"),
        ('<OSS_HANDOFF_JSON>{"tier": "A3"}</OSS_HANDOFF_JSON>', "mission-a3-kimi", "mission"),
    ],
)
async def test_a_bad_handoff_is_a_400_before_any_stream(
    mission_bridge, upstream, text, model, fragment
):
    response = await _post(mission_bridge, _request(model=model, text=text))
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert upstream.chat_requests() == []


async def test_an_upstream_that_keeps_failing_still_completes_with_the_failed_report(
    upstream, start_bridge, project
):
    base = await start_bridge(
        bridge_settings(upstream.base_url, FALLBACK_MODEL_MAP_JSON='{"kimi": []}'),
        project_root=project,
    )
    upstream.set_script({"kimi-k2.6": {"turns": [{"status": 400}], "repeat_last": True}})
    events = sse_events((await _post(base, _request())).text)
    assert events[-1]["type"] == "response.completed"  # a FAILED mission is an answer too
    final = done_items(events)[-1]
    assert final["phase"] == "final_answer"
    report = extract_report(final["content"][0]["text"])
    assert report is not None and report["status"] == "FAILED"
    assert report["mission_id"] == "m-bridge"


async def test_a_client_that_disconnects_cancels_the_mission_and_the_log_says_so(
    mission_bridge, upstream, project
):
    upstream.set_script({"kimi-k2.6": [{**read_then_report()[0], "delay_seconds": 30}]})
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("POST", f"{mission_bridge}/responses", json=_request(), headers=AUTH),
    ):
        for _ in range(100):
            if upstream.chat_requests():
                break
            await asyncio.sleep(0.05)
    runs = project / ".codex-oss" / "runs"
    for _ in range(100):
        finals = [
            e
            for log in runs.glob("*/events.jsonl")
            for e in load_events(log)
            if e.event_type == "MissionFinalized"
        ]
        if finals:
            break
        await asyncio.sleep(0.05)
    assert finals and finals[0].payload["closure_reason"] == "client_disconnected"
