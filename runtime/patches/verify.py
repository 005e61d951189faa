"""Verification commands: argv lists matched exactly against the mission's allowlist, run
without a shell in the worktree, with a scrubbed environment and a timeout, in their own
process group, which is killed whole when the command ends or times out. Output is capped
(head and tail kept) and redacted before it is recorded anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from runtime.mission import MissionV1
from runtime.redact import Redactor

MAX_OUTPUT_BYTES = 16_384
# After the command exits, how long its output may keep draining before it is cut.
DRAIN_SECONDS = 2.0
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
) -> CommandResult:
    """Run one allowlisted ``argv`` in ``cwd`` and return how it ended.

    The caller must have matched ``argv`` against the allowlist (:func:`check_allowed`).
    A program that cannot be started is reported as exit code None with the error as output.
    """
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=scrubbed_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the whole group can be killed
        )
    except OSError as exc:
        text = redactor.redact(f"could not start {argv[0]!r}: {exc.strerror or exc}")
        return CommandResult(
            argv, None, False, _ms(started), text.text, len(text.text), False, text.count
        )
    capture = CappedOutput(max_output_bytes)
    assert process.stdout is not None
    reader = asyncio.create_task(capture.read_all(process.stdout))
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), timeout_seconds)
    except TimeoutError:
        timed_out = True
    finally:
        # Always: children the command left behind die with it, and a cancelled step
        # (bridge shutdown, client gone) does not leave the group running.
        kill_group(process.pid)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    try:
        await asyncio.wait_for(reader, DRAIN_SECONDS)
    except TimeoutError:
        reader.cancel()
    raw = capture.text()
    if timed_out:
        raw += f"\n[killed after {timeout_seconds:g}s timeout]"
    redacted = redactor.redact(raw)
    return CommandResult(
        argv=argv,
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        duration_ms=_ms(started),
        output=redacted.text,
        output_bytes=capture.total,
        truncated=capture.truncated,
        redactions=redacted.count,
    )


def kill_group(pgid: int) -> None:
    """SIGKILL every process of group ``pgid``; an empty group is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class CappedOutput:
    """Keeps the first and last halves of at most ``limit`` bytes of a stream."""

    def __init__(self, limit: int):
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    async def read_all(self, stream: asyncio.StreamReader) -> None:
        """Read ``stream`` to its end, keeping only what fits."""
        half = self.limit // 2
        while chunk := await stream.read(65_536):
            self.total += len(chunk)
            room = half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                del self.tail[: max(0, len(self.tail) - (self.limit - half))]

    def text(self) -> str:
        """The kept output as text, with a marker where bytes were dropped."""
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if not self.truncated:
            return head + tail
        dropped = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[... {dropped} bytes of output cut ...]\n{tail}"


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
