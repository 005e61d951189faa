"""``codex-oss smoke native-polish``: the user-facing surface, end to end, in a throwaway project.

It builds a small git project with a known bug, installs the bridge into it (roles, AGENTS.md,
provider block in a private Codex home, bridge key), serves a real bridge on the port the
provider block names, and drives missions through it over real HTTP: one through the real
Codex CLI when one is installed (skipped, with the reason, otherwise) and one A5 mission whose
patch must be applied and verified in an isolated worktree. Then it checks that commentary was
streamed and recorded, that every event log verifies, and that the workspace is byte-for-byte
what it was.

The model is a scripted upstream in this process playing known-good turns: the smoke checks
the runtime's surface, not a model's quality, so it is deterministic and needs no account,
no model and no network beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from bridge.demo import MissionAnswer, MissionStreamError, stream_mission
from bridge.scripting import final_action, make_git_project, tool_action
from runtime.answer import extract_report
from runtime.mission import Tier, template
from runtime.patches.status import PatchStatus
from runtime.processes import free_port
from runtime.registry import LOCAL_MODEL_ID

__all__ = [
    "CheckStatus",
    "SmokeCheck",
    "codex_exec",
    "codex_version",
    "find_codex",
    "run_native_polish",
]

CheckStatus = Literal["PASS", "FAIL", "SKIP"]
CODEX_TIMEOUT_SECONDS = 180
CODEX_MISSION_ID = "smoke-codex-a3"
PATCH_MISSION_ID = "smoke-patch-a5"
BUGGY = 'def add(a, b):\n    """The sum of a and b."""\n    return a - b\n'
FIXED_LINE = "    return a + b"
CHECK_SCRIPT = "import calc\n\nassert calc.add(2, 3) == 5, calc.add(2, 3)\nprint('add ok')\n"
PROJECT_FILES = {
    "README.md": "# adder\n\nOne function, `calc.add`, with a known bug.\n",
    "calc.py": BUGGY,
    "check_calc.py": CHECK_SCRIPT,
}
CALC_EVIDENCE = "file:calc.py#L1-L3"
BUG_CLAIM = "add() subtracts b instead of adding it"


@dataclass(frozen=True)
class SmokeCheck:
    """One line of the smoke's table."""

    name: str
    status: CheckStatus
    detail: str


@dataclass
class _Run:
    """What the steps share while the smoke runs."""

    root: Path
    project: Path
    codex_home: Path
    port: int
    key: str | None = None
    bridge_url: str | None = None
    upstream: Any = None
    answers: dict[str, MissionAnswer] = field(default_factory=dict)
    snapshot: dict[str, str] | None = None


def run_native_polish(
    *,
    codex: Path | None = None,
    use_codex: bool = True,
    keep: bool = False,
    on_check: Callable[[SmokeCheck], None] | None = None,
    workdir: Path | None = None,
) -> tuple[list[SmokeCheck], Path | None]:
    """Run every check; the checks and, with ``keep``, the kept temporary folder.

    ``codex`` names a Codex CLI (default: :func:`find_codex`); ``use_codex=False`` skips that
    step. ``workdir`` is where the temporary folder is made (default: the system's).
    """
    checks: list[SmokeCheck] = []

    def record(name: str, status: CheckStatus, detail: str) -> None:
        check = SmokeCheck(name, status, detail)
        checks.append(check)
        if on_check is not None:
            on_check(check)

    root = Path(tempfile.mkdtemp(prefix="codex-oss-smoke-", dir=workdir))
    run = _Run(root, root / "adder", root / "codex-home", free_port())
    try:
        make_git_project(run.project, PROJECT_FILES)
        run.codex_home.mkdir()
        _step(record, "roles installed", lambda: _install(run))
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(_serve(run))
            except Exception as exc:
                record("bridge reachable", "FAIL", f"the bridge did not start: {exc}")
            else:
                _step(record, "bridge reachable", lambda: _reachable(run))
            run.snapshot = _workspace(run.project)
            served = run.bridge_url is not None
            codex_bin = (codex or find_codex()) if use_codex else None
            if not served:
                record("Codex CLI mission", "SKIP", "no bridge to talk to")
            elif not use_codex:
                record("Codex CLI mission", "SKIP", "skipped (--no-codex)")
            elif codex_bin is None:
                record(
                    "Codex CLI mission",
                    "SKIP",
                    "no Codex CLI found (node_modules/.bin/codex or codex on PATH); "
                    "run `npm ci` in the opencode-bridge checkout to install the pinned one",
                )
            else:
                _step(record, "Codex CLI mission", lambda: _codex_mission(run, codex_bin))
            if served:
                _step(record, "A5 patch verified in isolation", lambda: _patch_mission(run))
            else:
                record("A5 patch verified in isolation", "SKIP", "no bridge to talk to")
        _step(record, "commentary recorded", lambda: _commentary(run))
        _step(record, "event logs verify", lambda: _logs(run))
        _step(record, "workspace unchanged", lambda: _unchanged(run))
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return checks, root if keep else None


def _step(
    record: Callable[[str, CheckStatus, str], None], name: str, body: Callable[[], str]
) -> None:
    """Run one check: its detail on success, FAIL with the reason on any error."""
    try:
        detail = body()
    except _Skip as skip:
        record(name, "SKIP", str(skip))
    except Exception as exc:
        record(name, "FAIL", str(exc) or type(exc).__name__)
    else:
        record(name, "PASS", detail)


class _Skip(Exception):
    """A check that cannot run here, with the reason."""


class _Failed(AssertionError):
    """A check whose expectation did not hold; the message says which."""


def _expect(condition: object, message: str) -> None:
    if not condition:
        raise _Failed(message)


# -- the project -------------------------------------------------------------------------------


def _install(run: _Run) -> str:
    from bridge.bridge_key import read_bridge_key
    from bridge.install import (
        AGENTS_DIR,
        KEY_FILE,
        PROVIDER_ID,
        InstallOptions,
        default_auth_command,
        install,
        load_source_roles,
    )

    options = InstallOptions(
        project=run.project,
        codex_home=run.codex_home,
        base_url=f"http://127.0.0.1:{run.port}/v1",
        auth_command=default_auth_command(),
    )
    install(options)
    roles = load_source_roles()
    for name in roles:
        path = run.project / AGENTS_DIR / name
        _expect(path.is_file(), f"{AGENTS_DIR}/{name} was not installed")
        role = tomllib.loads(path.read_text(encoding="utf-8"))
        _expect(
            role.get("name") and str(role.get("developer_instructions", "")).strip(),
            f"{AGENTS_DIR}/{name} lacks a name or developer_instructions",
        )
    config = tomllib.loads((run.codex_home / "config.toml").read_text(encoding="utf-8"))
    block = config.get("model_providers", {}).get(PROVIDER_ID)
    _expect(block, f"config.toml has no [model_providers.{PROVIDER_ID}] block")
    _expect(block.get("base_url") == options.base_url, "the provider block names another URL")
    _expect("model_provider" not in config, "install set a top-level model_provider")
    _expect("codex-oss" in (run.project / "AGENTS.md").read_text(), "AGENTS.md has no section")
    key_path = run.project / KEY_FILE
    mode = key_path.stat().st_mode & 0o777
    _expect(mode == 0o600, f"{KEY_FILE} has mode {mode:o}, not 600")
    run.key = read_bridge_key(run.project)
    _expect(run.key, f"{KEY_FILE} is empty")
    again = install(options)
    _expect(
        not again.changed, "a second install changed: " + ", ".join(f.path for f in again.changed)
    )
    return (
        f"{len(roles)} roles, provider block, AGENTS.md section, bridge key (0600); "
        "a second install changes nothing"
    )


# -- the bridge --------------------------------------------------------------------------------


@contextlib.contextmanager
def _serve(run: _Run) -> Iterator[None]:
    """A scripted upstream and a bridge on the installed port, both in this process."""
    from bridge.app import ServerThread, create_app
    from bridge.scripted_upstream import ScriptedUpstream
    from runtime.settings import Settings

    with ScriptedUpstream.in_thread() as upstream:
        # Explicit values, so a user's environment (a trace turned off, a model map) cannot
        # change what the smoke checks.
        settings = Settings(
            PROXY_API_KEY=run.key,
            UPSTREAM_BASE_URL=upstream.base_url,
            LOCAL_MODEL_BASE_URL=upstream.base_url,
            OPENCODE_GO_API_KEY=None,
            OPENAI_API_KEY=None,
            MODEL_MAP_JSON={},
            FALLBACK_MODEL_MAP_JSON={},
            OSS_VISIBLE_TRACE="summary",
            OSS_VISIBLE_TRACE_STREAM=True,
            REQUEST_DEADLINE_SECONDS=120,
        )
        factory = lambda: create_app(settings, run.project, heartbeat_seconds=1.0)  # noqa: E731
        with ServerThread(factory, port=run.port) as server:
            run.upstream = upstream
            run.bridge_url = server.base_url
            try:
                yield
            finally:
                run.bridge_url = None


def _reachable(run: _Run) -> str:
    from bridge.source_hash import source_hash

    assert run.bridge_url is not None
    base = run.bridge_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {run.key}"} if run.key else {}
    health = httpx.get(f"{base}/health", headers=headers, timeout=10)
    _expect(health.status_code == 200, f"/health answered HTTP {health.status_code}")
    _expect(health.json().get("source_hash") == source_hash(), "/health reports other code")
    models = httpx.get(f"{run.bridge_url}/models", headers=headers, timeout=10).json()
    ids = {entry["id"] for entry in models.get("data", [])}
    _expect({"mission-a3-local", "mission-a5-local"} <= ids, "/v1/models lacks mission aliases")
    if run.key:
        refused = httpx.get(f"{base}/health", timeout=10)
        _expect(refused.status_code == 401, "a request without the bridge key was not refused")
    return f"{run.bridge_url}: /health and /v1/models answer with the installed key; without it 401"


# -- missions ----------------------------------------------------------------------------------


def find_codex(start: Path | None = None) -> Path | None:
    """The Codex CLI: node_modules/.bin/codex of this checkout or of ``start``'s ancestors,
    else ``codex`` on PATH; None when there is none."""
    checkout = Path(__file__).resolve().parents[1]
    here = (start or Path.cwd()).resolve()
    for folder in (checkout, here, *here.parents):
        candidate = folder / "node_modules" / ".bin" / "codex"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("codex")
    return Path(found) if found else None


def codex_exec(
    codex: Path,
    prompt: str,
    model: str,
    *options: str,
    codex_home: Path,
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """One non-interactive ``codex exec`` turn of ``model`` in ``cwd``, with ``codex_home`` as
    CODEX_HOME; ``options`` go before the prompt, ``env`` (default: this process's) is the
    rest of the environment."""
    command = [str(codex), "exec", "--skip-git-repo-check", "-m", model, *options, prompt]
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**(os.environ if env is None else env), "CODEX_HOME": str(codex_home)},
        cwd=cwd,
        timeout=timeout,
    )


def _investigation_turns() -> list[dict[str, Any]]:
    read = tool_action("read", "read add()", path="calc.py", start_line=1, end_line=3)
    return [read, final_action(refs=[CALC_EVIDENCE], claim=BUG_CLAIM, quote="return a - b")]


def _codex_mission(run: _Run, codex: Path) -> str:
    run.upstream.set_script({LOCAL_MODEL_ID: _investigation_turns()})
    mission = template(
        Tier.A3,
        "Why does calc.add(2, 3) not return 5?",
        CODEX_MISSION_ID,
        allowed_roots=[],
        allowed_paths=["calc.py", "README.md"],
        required_sources=["calc.py"],  # the README is context the model may skip
    )
    prompt = f"Investigate.\n<OSS_HANDOFF_JSON>{json.dumps(mission)}</OSS_HANDOFF_JSON>"
    try:
        done = codex_exec(
            codex,
            prompt,
            "mission-a3-local",
            "-c",
            "model_provider=opencode_bridge",
            codex_home=run.codex_home,
            cwd=run.project,
            timeout=CODEX_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise _Failed(f"codex exec did not finish within {CODEX_TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise _Skip(f"{codex} cannot run: {exc}") from None
    _expect(done.returncode == 0, f"codex exec exited {done.returncode}: {_tail(done.stderr)}")
    report = extract_report(done.stdout)
    _expect(report is not None, f"Codex printed no report: {_tail(done.stdout)}")
    assert report is not None
    _expect(report.get("status") == "COMPLETE", f"the report says {report.get('status')}")
    _expect(report["findings"][0]["evidence_refs"] == [CALC_EVIDENCE], "evidence was lost")
    artifacts = run.project / ".codex-oss" / "missions" / CODEX_MISSION_ID / "report.json"
    _expect(artifacts.is_file(), "the mission wrote no report.json")
    version = codex_version(codex) or "codex"
    return f"{version}: codex exec -m mission-a3-local got the COMPLETE report with its evidence"


def _patch_mission(run: _Run) -> str:
    assert run.bridge_url is not None
    verify = [sys.executable, "check_calc.py"]
    intent = {
        "edits": [
            {
                "path": "calc.py",
                "operation": "replace_exact",
                "old_text": "return a - b",
                "new_text": "return a + b",
                "expected_sha256": hashlib.sha256(BUGGY.encode()).hexdigest(),
            }
        ],
        "rationale": "add() subtracts; it must add.",
        "verification_plan": [verify],
    }
    read, final = _investigation_turns()
    propose = {
        "action": {
            "action_type": "propose_patch",
            "reason": "one operator is wrong",
            "phase": "REPORT",
            "patch": intent,
            "report": final["action"]["report"],
        }
    }
    run.upstream.set_script({LOCAL_MODEL_ID: [read, propose]})
    mission = template(
        Tier.A5,
        "Fix calc.add so that check_calc.py passes.",
        PATCH_MISSION_ID,
        allowed_roots=[],
        allowed_paths=["calc.py", "check_calc.py", "README.md"],
        owned_paths=["calc.py"],
        verification={"commands": [verify], "timeout_seconds": 60},
    )
    text = f"Fix it.\n<OSS_HANDOFF_JSON>{json.dumps(mission)}</OSS_HANDOFF_JSON>"
    try:
        answer = stream_mission(run.bridge_url, run.key, "mission-a5-local", text, timeout=180)
    except MissionStreamError as exc:
        raise _Failed(str(exc)) from None
    run.answers[PATCH_MISSION_ID] = answer
    report = answer.report or {}
    _expect(report.get("status") == PatchStatus.VERIFIED, f"the patch ended {report.get('status')}")
    artifacts = run.project / ".codex-oss" / "missions" / PATCH_MISSION_ID
    for name in ("patch.diff", "rollback.diff", "review_packet.json", "report.json"):
        _expect((artifacts / name).is_file(), f"{name} is missing")
    diff = (artifacts / "patch.diff").read_text(encoding="utf-8")
    _expect(f"+{FIXED_LINE}" in diff, "patch.diff does not hold the fix")
    _expect((run.project / "calc.py").read_text() == BUGGY, "the workspace's calc.py changed")
    return "runtime-built diff applied in a worktree, check_calc.py passed there: VERIFIED"


# -- after the missions ------------------------------------------------------------------------


def _commentary(run: _Run) -> str:
    answer = run.answers.get(PATCH_MISSION_ID)
    if answer is None:
        raise _Skip("no mission ran through the bridge")
    _expect(answer.commentary, "no commentary message was streamed")
    path = run.project / ".codex-oss" / "missions" / PATCH_MISSION_ID / "visible_commentary.jsonl"
    _expect(path.is_file(), "visible_commentary.jsonl is missing")
    recorded = [
        json.loads(line).get("text")
        for line in path.read_text(encoding="utf-8").splitlines()[1:]  # line 1: the stamp
        if line.strip()
    ]
    missing = [line for line in answer.commentary if line not in recorded]
    _expect(not missing, f"streamed but not recorded: {missing[:3]}")
    return f"{len(answer.commentary)} lines streamed as phase=commentary, all recorded"


def _logs(run: _Run) -> str:
    from runtime.eventlog import verify_log

    logs = sorted((run.project / ".codex-oss" / "runs").glob("*/events.jsonl"))
    if not logs:
        raise _Skip("no mission ran")
    bad = [log.parent.name for log in logs if not verify_log(log).ok]
    _expect(not bad, f"hash chain broken in {bad}")
    return f"{len(logs)} run log(s), hash chains intact"


def _unchanged(run: _Run) -> str:
    if run.snapshot is None:
        raise _Skip("no snapshot was taken")
    after = _workspace(run.project)
    changed = sorted(
        name for name in set(run.snapshot) | set(after) if run.snapshot.get(name) != after.get(name)
    )
    _expect(not changed, f"changed: {changed[:5]}")
    return f"{len(after) - 1} files and git status byte-identical (outside .codex-oss/)"


def _workspace(project: Path) -> dict[str, str]:
    """A digest of every file outside .git/ and .codex-oss/, and of ``git status``."""
    digests: dict[str, str] = {}
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project).as_posix()
        if relative.split("/")[0] in (".git", ".codex-oss") or not path.is_file():
            continue
        digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    status = subprocess.run(
        ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        check=True,
    ).stdout
    digests["<git status>"] = hashlib.sha256(status).hexdigest()
    return digests


def codex_version(codex: Path) -> str | None:
    """What ``codex --version`` prints (None when it does not run)."""
    try:
        done = subprocess.run(
            [str(codex), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _tail(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text[-limit:] if text else "(no output)"
