"""Verification commands: argv lists matched exactly against the mission's allowlist, run
without a shell in the worktree, with a scrubbed environment and a timeout, in their own
process group, which is killed whole when the command ends or times out. Output is capped
(head and tail kept) and redacted before it is recorded anywhere.

A bridge killed mid-verification cannot enforce a timeout any more: each command therefore
starts through parent_guard.py and dies with the bridge, and its process group is recorded so
the next patch step kills anything the command left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from runtime.mission import MissionV1
from runtime.patches.worktree import WORKTREES_DIR
from runtime.redact import Redactor

MAX_OUTPUT_BYTES = 16_384
# A command writing more than this is killed: its output would only fill the disk.
OUTPUT_FLOOD_BYTES = 64 * 1024 * 1024
POLL_SECONDS = 0.02
# Every command starts through this guard, so it dies with the bridge (see parent_guard.py).
PARENT_GUARD = Path(__file__).with_name("parent_guard.py")
# Where a running command's process group is recorded, so a later run can kill what a killed
# bridge left behind: .codex-oss/run/verify-<mission_id>.pgid
PGID_DIR = Path(".codex-oss") / "run"
# The only variables a verification command inherits: enough to find programs and speak UTF-8.
# Everything else (upstream keys, proxy keys, tokens of the user's shell) stays behind.
PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")


@dataclass(frozen=True)
class CommandResult:
    """How one verification command ended, with its capped and redacted output."""

    argv: list[str]
    exit_code: int | None
    timed_out: bool
    duration_ms: float
    output: str
    output_bytes: int
    truncated: bool
    redactions: int

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class CommandNotAllowed(ValueError):
    """A command that is not, exactly, one of the mission's allowlisted argv lists."""


def allowed_commands(mission: MissionV1) -> list[list[str]]:
    """The mission's allowlist (empty when it has no verification spec)."""
    return [list(argv) for argv in mission.verification.commands] if mission.verification else []


def check_allowed(argv: object, mission: MissionV1) -> list[str]:
    """``argv`` itself if it is exactly an allowlisted command; CommandNotAllowed otherwise."""
    if isinstance(argv, str):
        raise CommandNotAllowed(f"{argv!r} is a shell string; commands are argv lists")
    if not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv):
        raise CommandNotAllowed(f"{argv!r} is not a list of strings")
    if argv not in allowed_commands(mission):
        raise CommandNotAllowed(f"{argv!r} is not in the mission's verification allowlist")
    return list(argv)


def scrubbed_env() -> dict[str, str]:
    """The environment a verification command runs with."""
    # Read straight from the process environment on purpose: this is the inherited
    # environment being filtered, not a setting.
    env = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["NO_COLOR"] = "1"
    return env


async def run_verification(
    argv: list[str],
    *,
    cwd: Path,
    timeout_seconds: float,
    redactor: Redactor,
    max_output_bytes: int = MAX_OUTPUT_BYTES,
    pgid_file: Path | None = None,
) -> CommandResult:
    """Run one allowlisted ``argv`` in ``cwd`` and return how it ended.

    The caller must have matched ``argv`` against the allowlist (:func:`check_allowed`).
    A program that cannot be started is reported as exit code None with the error as output.
    Output goes to an unlinked temporary file rather than a pipe: a child that outlives the
    command and keeps the pipe open cannot then hold the step hostage.
    """
    started = time.monotonic()
    env = scrubbed_env()
    program = resolve_program(argv[0], cwd, env["PATH"])
    if program is None:
        text = redactor.redact(f"could not start {argv[0]!r}: no such executable")
        return CommandResult(argv, None, False, _ms(started), text.text, len(text.text), False, 0)
    with tempfile.TemporaryFile() as sink:
        try:
            process = subprocess.Popen(
                [*guarded_by_parent(), program, *argv[1:]],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so the group can be killed
            )
        except OSError as exc:
            text = redactor.redact(f"could not start {argv[0]!r}: {exc.strerror or exc}")
            return CommandResult(
                argv, None, False, _ms(started), text.text, len(text.text), False, text.count
            )
        ending = ""
        if pgid_file is not None:
            pgid_file.parent.mkdir(parents=True, exist_ok=True)
            pgid_file.write_text(str(process.pid))
        try:
            ending = await _wait(process, sink, started + timeout_seconds)
        finally:
            # Always: children the command left behind die with it, and a cancelled step
            # (bridge shutdown, client gone) does not leave the group running.
            kill_group(process.pid)
            if process.poll() is None:
                process.kill()
                process.wait()
            if pgid_file is not None:
                pgid_file.unlink(missing_ok=True)
        total = os.fstat(sink.fileno()).st_size
        raw = read_capped(sink, total, max_output_bytes)
    if ending == "timeout":
        raw += f"\n[killed after {timeout_seconds:g}s timeout]"
    elif ending == "flood":
        raw += f"\n[killed: output passed {OUTPUT_FLOOD_BYTES} bytes]"
    redacted = redactor.redact(raw)
    return CommandResult(
        argv=argv,
        exit_code=None if ending else process.returncode,
        timed_out=ending == "timeout",
        duration_ms=_ms(started),
        output=redacted.text,
        output_bytes=total,
        truncated=total > max_output_bytes,
        redactions=redacted.count,
    )


async def _wait(process: subprocess.Popen, sink: IO[bytes], deadline: float) -> str:
    """Poll until ``process`` exits (""), passes ``deadline`` ("timeout") or floods ("flood")."""
    while process.poll() is None:
        if time.monotonic() >= deadline:
            return "timeout"
        if os.fstat(sink.fileno()).st_size > OUTPUT_FLOOD_BYTES:
            return "flood"
        await asyncio.sleep(POLL_SECONDS)
    return ""


def guarded_by_parent() -> list[str]:
    """The argv prefix that makes a command die with this process (see parent_guard.py)."""
    return [sys.executable, "-I", "-S", str(PARENT_GUARD), str(os.getpid())]


def resolve_program(program: str, cwd: Path, path: str) -> str | None:
    """The executable ``program`` names (looked up on ``path``, or relative to ``cwd``)."""
    if "/" in program:
        candidate = Path(cwd, program)
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which(program, path=path)


def pgid_file_for(project_root: Path, mission_id: str) -> Path:
    """Where a mission's running verification records its process group."""
    return project_root / PGID_DIR / f"verify-{mission_id}.pgid"


def kill_orphaned_verifications(project_root: Path) -> list[int]:
    """Kill verification groups a killed bridge left running in this project's worktrees.

    A recorded group is killed only while one of its processes still works inside
    ``.codex-oss/worktrees/``, so a reused group id of an unrelated program is never hit.
    """
    killed = []
    worktrees = str((project_root / WORKTREES_DIR).resolve()) + os.sep
    for record in sorted((project_root / PGID_DIR).glob("verify-*.pgid")):
        try:
            pgid = int(record.read_text().strip())
        except (OSError, ValueError):
            pgid = None
        if pgid is not None and _group_works_in(pgid, worktrees):
            kill_group(pgid)
            killed.append(pgid)
        record.unlink(missing_ok=True)
    return killed


def _group_works_in(pgid: int, directory: str) -> bool:
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(int(entry.name)) == pgid and (
                os.readlink(entry / "cwd") + os.sep
            ).startswith(directory):
                return True
    return False


def kill_group(pgid: int) -> None:
    """SIGKILL every process of group ``pgid``; an empty group is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def read_capped(sink: IO[bytes], total: int, limit: int) -> str:
    """The first and last halves of at most ``limit`` bytes of ``sink``, as text."""
    sink.seek(0)
    if total <= limit:
        return sink.read().decode("utf-8", errors="replace")
    half = limit // 2
    head = sink.read(half).decode("utf-8", errors="replace")
    sink.seek(total - (limit - half))
    tail = sink.read().decode("utf-8", errors="replace")
    return f"{head}\n[... {total - limit} bytes of output cut ...]\n{tail}"


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
