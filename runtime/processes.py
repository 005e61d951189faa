"""Background processes of ours, tracked by run files under ``<project>/.codex-oss/run/``.

The bridge daemon and the local model server both run detached, record ``<name>.pid`` (and
a few values such as ``<name>.port``) and log to ``<name>.log``. This module holds what they
share: the run files, starting a detached child, whether a recorded pid is alive and still
ours (by its command line, so a pid the OS has handed to another program is never
signalled), SIGTERM-then-SIGKILL, whether a port is taken and by whom, and a log's tail.

Pure parsing (``parse_int``, ``proc_state``, ``cmdline_has_mark``, ``listening_inodes``,
``tail_text``) sits at the bottom, apart from the functions that touch files and processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runtime.atomic import atomic_write_text

RUN_DIR = Path(".codex-oss/run")
_POLL = 0.05  # seconds between liveness checks while waiting for an exit

# Popen objects of children this process started: polling them reaps them, so a child that
# has exited is gone at once instead of lingering as a zombie until this process ends.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessFiles:
    """The run files of one tracked process: ``<name>.pid``, ``<name>.<field>``, ``<name>.log``."""

    project: Path
    name: str
    fields: tuple[str, ...] = ("port",)

    @property
    def dir(self) -> Path:
        """``<project>/.codex-oss/run``."""
        return self.project / RUN_DIR

    @property
    def pid_file(self) -> Path:
        """The file whose presence means the process was recorded."""
        return self.path("pid")

    @property
    def log_file(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.path("log")

    def path(self, key: str) -> Path:
        """The run file ``<name>.<key>``."""
        return self.dir / f"{self.name}.{key}"

    def write(self, pid: int, **values: object) -> None:
        """Record ``pid`` and ``values`` (pid file last: its presence means the rest is there)."""
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            raise ValueError(
                f"run files of {self.name!r}: unknown field(s) {unknown}; "
                f"known fields are {list(self.fields)}"
            )
        for key, value in values.items():
            atomic_write_text(self.path(key), f"{value}\n", durable=False)
        atomic_write_text(self.pid_file, f"{pid}\n", durable=False)

    def read_pid(self) -> int | None:
        """The recorded pid, or None without a (readable, numeric) pid file."""
        return self.read_int("pid")

    def read_text(self, key: str) -> str | None:
        """The stripped content of ``<name>.<key>``; None when missing or empty."""
        try:
            return self.path(key).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def read_int(self, key: str) -> int | None:
        """``<name>.<key>`` as an integer; None when missing or not a number."""
        return parse_int(self.read_text(key))

    def remove(self, only_if_pid: int | None = None) -> None:
        """Delete the pid and field files (only while they still name ``only_if_pid``, if given).

        The log stays: it is what explains why a process ended.
        """
        if only_if_pid is not None and self.read_pid() != only_if_pid:
            return  # another process has recorded itself since; its files are not ours
        for key in ("pid", *self.fields):
            self.path(key).unlink(missing_ok=True)


@dataclass(frozen=True)
class StopResult:
    """What ``stop_recorded`` did: no pid file, a stale one removed, stopped, or killed."""

    outcome: Literal["none", "stale", "stopped", "killed"]
    pid: int | None = None

    @property
    def was_running(self) -> bool:
        """Whether a live process of ours was ended."""
        return self.outcome in ("stopped", "killed")


def start_detached(
    argv: Sequence[str], *, cwd: Path, log_path: Path, append: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, output to ``log_path``; reaped when it is polled."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab" if append else "wb") as log:
        child = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the starting terminal must not reach it
        )
    _CHILDREN[child.pid] = child
    return child


def stop_recorded(files: ProcessFiles, marks: Iterable[str], timeout: float) -> StopResult:
    """End the process ``files`` record if it is alive and ours; clear its run files.

    A pid file naming a gone process, or one whose command line carries none of ``marks``,
    is stale: it is removed and nothing is signalled.
    """
    pid = files.read_pid()
    if pid is None:
        return StopResult("none")
    if not is_ours(pid, marks):
        files.remove()
        return StopResult("stale", pid)
    exited = terminate(pid, timeout)
    files.remove()
    return StopResult("stopped" if exited else "killed", pid)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie counts as gone, and our own exited children are reaped."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        # No procfs (macOS) leaves the signal probe as the answer; with procfs, a missing
        # entry means the process ended between the probe and the read.
        return not _has_procfs()
    except OSError:
        return True
    return proc_state(stat) not in ("Z", "X")


def is_ours(pid: int, marks: Iterable[str]) -> bool:
    """Whether ``pid`` is alive and its command line carries one of ``marks``.

    Where there is no procfs (macOS) the pid file is all there is, so a live pid counts.
    """
    if not pid_alive(pid):
        return False
    if not _has_procfs():
        return True
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # it ended meanwhile, or we may not look: either way, do not signal it
    return cmdline_has_mark(raw, marks)


def terminate(pid: int, timeout: float, kill_wait: float = 5.0) -> bool:
    """SIGTERM ``pid``, wait ``timeout`` s, then SIGKILL; True when it exited on SIGTERM.

    Call only for a pid ``is_ours`` accepted. After SIGKILL it waits up to ``kill_wait`` s.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, kill_wait)
    return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port`` (``0.0.0.0`` probes loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host if host != "0.0.0.0" else "127.0.0.1", port)) == 0


def port_owner(port: int) -> int | None:
    """The pid listening on TCP ``port`` (Linux procfs; None when unknown or not visible)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            inodes |= listening_inodes(Path(table).read_text(), port)
        except OSError:
            continue
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue  # another user's process, or one that just ended
    return None


def log_tail(path: Path, *, lines: int | None = None, max_chars: int | None = None) -> str:
    """The end of the log at ``path`` (see ``tail_text``); "" when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return tail_text(text, lines=lines, max_chars=max_chars)


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def _has_procfs() -> bool:
    return Path("/proc/self").is_dir()


# -- pure parsing ------------------------------------------------------------------------------


def parse_int(text: str | None) -> int | None:
    """``text`` as an integer (surrounding whitespace allowed); None when it is not one."""
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def proc_state(stat: str) -> str | None:
    """The one-letter state (``R``, ``S``, ``Z``...) in the text of ``/proc/<pid>/stat``."""
    # The command name (field 2) is in parentheses and may itself hold ")" or spaces, so the
    # state is the first field after the last ")".
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


def cmdline_has_mark(cmdline: bytes, marks: Iterable[str]) -> bool:
    """Whether a NUL-separated ``/proc/<pid>/cmdline`` contains any of ``marks``."""
    text = cmdline.replace(b"\0", b" ").decode("utf-8", "replace")
    return any(mark in text for mark in marks)


def listening_inodes(table: str, port: int) -> set[str]:
    """Socket inodes listening on ``port`` in the text of ``/proc/net/tcp`` (or ``tcp6``)."""
    inodes = set()
    for line in table.splitlines()[1:]:  # the first line is the header
        fields = line.split()
        # fields[1] is "<hex address>:<hex port>", fields[3] the state (0A = LISTEN).
        if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
    return inodes


def tail_text(text: str, *, lines: int | None = None, max_chars: int | None = None) -> str:
    """The last ``lines`` lines of ``text``, then at most its last ``max_chars`` characters."""
    if lines is not None:
        text = "\n".join(text.strip().splitlines()[-lines:])
    if max_chars is not None:
        text = text[-max_chars:]
    return text
