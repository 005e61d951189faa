"""Does visible commentary reach a consumer before the final message? Asked of the real
``codex app-server``, whose ``item/agentMessage/delta`` notifications carry pre-final text.

Two probes, each in a throwaway folder with everything on 127.0.0.1:

- ``pre-final-text``: the bare channel. A tiny Responses server streams three commentary
  messages (PROGRESS_ONE/TWO/THREE) and then FINAL_DONE; no bridge, no runtime, no model.
- ``visible-commentary``: the product path. A real bridge runs an A3 mission against a
  scripted upstream playing known-good turns; the runtime's commentary lines must arrive as
  agent-message deltas before the mission's final report. What the consumer observed is
  written into that mission's ``commentary_delivery.json`` (``consumer_observed``).

``probe_status`` is ``pass`` (pre-final text observed, then the final message), ``fail`` (only
the final message, or nothing) or ``setup_failed`` (no Codex CLI, or the app-server broke):
a setup failure says nothing about rendering. The result is recorded under
``.codex-oss/probes/`` of the project the command runs for.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bridge.app_server import AppServerError, TurnTranscript, run_turn

ProbeMode = Literal["pre-final-text", "visible-commentary"]
PROBES_DIR = Path(".codex-oss/probes")
PROGRESS = ("PROGRESS_ONE", "PROGRESS_TWO", "PROGRESS_THREE")
FINAL = "FINAL_DONE"
PROVIDER = "codex_oss_probe"
KEY_ENV = "CODEX_OSS_PROBE_KEY"
PROBE_KEY = "app-server-probe-local-key-0123456789"
MISSION_ID = "app-server-probe"
TEXTS_KEPT = 12


@dataclass
class ProbeResult:
    """What one probe observed, as recorded."""

    probe: str
    probe_status: Literal["pass", "fail", "setup_failed"]
    detail: str
    pre_final_deltas: int = 0
    pre_final_texts: list[str] = field(default_factory=list)
    final_observed: bool = False
    codex_version: str = ""
    when: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    delivery: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record written to ``.codex-oss/probes/app-server-<probe>.json``."""
        return asdict(self)


def run_probe(mode: ProbeMode, codex: Path | None, *, timeout: float = 120.0) -> ProbeResult:
    """Run the ``mode`` probe with the Codex CLI at ``codex`` (None: not installed)."""
    probe = f"app-server-{mode}"
    if codex is None:
        return ProbeResult(probe, "setup_failed", "no Codex CLI found (npm ci installs it)")
    from bridge.smoke import codex_version

    version = codex_version(codex) or "unknown"
    with tempfile.TemporaryDirectory(prefix="codex-oss-app-server-") as folder:
        work = Path(folder)
        try:
            if mode == "pre-final-text":
                result = _pre_final_text(codex, work, timeout)
            else:
                result = _visible_commentary(codex, work, timeout)
        except AppServerError as exc:
            result = ProbeResult(probe, "setup_failed", f"codex app-server: {exc}")
    result.probe, result.codex_version = probe, version
    return result


def write_result(project: Path, result: ProbeResult) -> Path:
    """Record ``result`` in the project (atomically)."""
    from bridge.claims import write_json

    return write_json(project / PROBES_DIR / f"{result.probe}.json", result.to_json())


def judge(transcript: TurnTranscript, is_final: Callable[[str, str | None], bool]) -> ProbeResult:
    """Pure: did agent-message deltas of other items arrive before the final message began?

    ``is_final(text, phase)`` picks the final message among the completed agent messages.
    """
    completed = [
        params["item"]
        for params in transcript.of("item/completed")
        if (params.get("item") or {}).get("type") == "agentMessage"
    ]
    final = next(
        (item for item in completed if is_final(item.get("text") or "", item.get("phase"))), None
    )
    if final is None:
        return ProbeResult("", "fail", "no final agent message arrived before turn/completed")
    texts: list[str] = []
    for _, method, params in transcript.notifications:
        if method == "item/agentMessage/delta" and params.get("itemId") == final["id"]:
            break
        if method == "item/completed" and (params.get("item") or {}).get("id") == final["id"]:
            break
        if method == "item/agentMessage/delta":
            texts.append(str(params.get("delta", "")))
    status = "pass" if texts else "fail"
    detail = (
        f"{len(texts)} agent-message delta(s) arrived before the final message"
        if texts
        else "only the final message arrived; no pre-final text"
    )
    return ProbeResult(
        "",
        status,
        detail,
        pre_final_deltas=len(texts),
        pre_final_texts=[text[:160] for text in texts[:TEXTS_KEPT]],
        final_observed=True,
    )


# --- the two probes ---------------------------------------------------------------------------


def _pre_final_text(codex: Path, work: Path, timeout: float) -> ProbeResult:
    from bridge.app import ServerThread
    from bridge.scripting import make_git_project

    project = make_git_project(work / "project", {})
    with ServerThread(_scripted_responses_app) as server:
        transcript = _turn(codex, work, project, server.base_url, "probe-model", "say", timeout)
    return judge(transcript, lambda text, _phase: FINAL in text)


def _visible_commentary(codex: Path, work: Path, timeout: float) -> ProbeResult:
    from bridge.app import ServerThread, create_app
    from bridge.scripted_upstream import ScriptedUpstream
    from bridge.scripting import (
        final_action,
        handoff_text,
        make_git_project,
        tool_action,
    )
    from runtime.answer import REPORT_OPEN
    from runtime.commentary import record_consumer_observation
    from runtime.projections import mission_dir
    from runtime.settings import Settings

    project = make_git_project(work / "project", {"notes.txt": "the answer is 42\n"})
    turns = [
        tool_action("read", reason="the notes hold the answer", path="notes.txt"),
        final_action(refs=["file:notes.txt#L1-L1"], claim="the answer is 42"),
    ]
    with ScriptedUpstream.in_thread({"kimi-k2.6": turns}) as upstream:
        settings = Settings(
            PROXY_API_KEY=PROBE_KEY,
            UPSTREAM_BASE_URL=upstream.base_url,
            LOCAL_MODEL_BASE_URL=upstream.base_url,
            OPENCODE_GO_API_KEY="app-server-probe-upstream-key-0123",
            OPENAI_API_KEY=None,
        )
        with ServerThread(lambda: create_app(settings, project, heartbeat_seconds=1.0)) as bridge:
            prompt = handoff_text("What is the answer in notes.txt?", mission_id=MISSION_ID)
            transcript = _turn(
                codex, work, project, bridge.base_url, "mission-a3-kimi", prompt, timeout
            )
    result = judge(transcript, lambda text, phase: phase == "final_answer" or REPORT_OPEN in text)
    directory = mission_dir(project, MISSION_ID)
    if (directory / "commentary_delivery.json").is_file():
        path = record_consumer_observation(directory, "codex app-server", result.pre_final_deltas)
        result.delivery = json.loads(path.read_text(encoding="utf-8"))
    return result


def _turn(
    codex: Path, work: Path, project: Path, base_url: str, model: str, prompt: str, timeout: float
) -> TurnTranscript:
    home = work / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f"[model_providers.{PROVIDER}]\n"
        'name = "codex-oss app-server probe"\n'
        f"base_url = {json.dumps(base_url)}\n"
        f'env_key = "{KEY_ENV}"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n",
        encoding="utf-8",
    )
    return run_turn(
        codex,
        codex_home=home,
        cwd=project,
        model=model,
        provider=PROVIDER,
        prompt=prompt,
        env={**os.environ, KEY_ENV: PROBE_KEY},
        timeout=timeout,
    )


def _scripted_responses_app() -> Any:
    """An aiohttp app answering every ``POST /v1/responses`` with PROGRESS_* then FINAL_DONE."""
    from aiohttp import web

    from bridge.responses import EventStream
    from bridge.translate import message_item

    async def respond(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        events = EventStream(str(body.get("model", "probe-model")), body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(events.created())
        for text in PROGRESS:
            await response.write(events.message(message_item(text, phase="commentary")))
        await response.write(events.message(message_item(FINAL, phase="final_answer")))
        await response.write(events.completed())
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/responses", respond)
    return app
