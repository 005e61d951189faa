"""MissionEventLog: the append-only, hash-chained ``events.jsonl`` of one run.

Each line is the canonical JSON of one :class:`~runtime.events.Event`. The log is verified once
when it is opened; after that the head (seq, hash, byte offset) is kept, so an append costs the
same at event 10 as at event 100,000. Appends are serialised across processes (and across
handles in one process) by an flock on ``events.jsonl.lock``, which each handle keeps open;
before writing, a writer reads only what other writers appended since its last look. One
append may carry several events (an event and the commentary it causes, a run's closing
events): they are written with one write. An acknowledged event is in the file, so it survives
the process being killed; it is on the disk (fsynced) when the append returns, or, for an
append with ``sync=False``, at the next :meth:`MissionEventLog.sync`, append or close. The
mission loop groups its commits that way: it syncs while it waits on the model (a sync may run
in another thread), before a patch step and at closing, so a power cut can lose only the
read-only work of the current turn, a suffix of the log, never a gap in it. A crash mid-append
leaves a last line without its newline; whoever takes the lock next moves that torn tail
aside to ``events.jsonl.broken`` and keeps the valid prefix (which may hold the first events
of the interrupted append: never acknowledged, but whole and chained).

Opening and loading check every line with :mod:`runtime.log_verify`; :func:`verify_log` also
proves each line is canonical JSON. It is read-only and names each problem. (A chain without
a secret catches edits, not a forger who rewrites every hash after the edit; the head hashes
stamped into projections anchor the log from outside.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.atomic import fsync_dir, write_all
from runtime.canonical import canonical_json, tagged_sha256
from runtime.events import (
    Event,
    EventSource,
    Payload,
    event_type_of,
    payload_dict,
    utc_now,
)
from runtime.log_verify import Head, LogProblem, LogVerification, scan, verify_bytes

RUNS_DIR = Path(".codex-oss") / "runs"
LOG_NAME = "events.jsonl"
BROKEN_SUFFIX = ".broken"
LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT_SECONDS = 60.0
READER_LOCK_TIMEOUT_SECONDS = 5.0
# How often a writer retries while another holds the lock: 50 ms would cap two busy writers
# at a few dozen appends per second.
LOCK_POLL_SECONDS = 0.001


class EventLogError(Exception):
    """The log cannot be used as asked (locked too long, unknown mission, bad payload)."""


class EventLogCorrupted(EventLogError):
    """The log on disk fails verification in a way a crash cannot explain."""

    def __init__(self, path: Path, problems: list[LogProblem]):
        self.path = path
        self.problems = problems
        first = "; ".join(f"{p.kind} at line {p.line}: {p.message}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"event log {path.name} is corrupted: {first}{more}")


def new_run_id() -> str:
    """A unique run id that sorts by creation time: ``20250101T120000123456Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


def check_plain_name(name: str, what: str) -> str:
    """``name`` if it is a single path component (a run or mission folder), else ValueError."""
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ValueError(f"{what} {name!r} is not a plain name")
    return name


def first_mission_id(log_path: Path) -> str | None:
    """The mission id on a log's first line, read without loading or checking the log (None
    when the file is missing or its first line is not an event)."""
    try:
        with open(log_path, "rb") as handle:
            first = json.loads(handle.readline())
    except (OSError, ValueError):
        return None
    return first.get("mission_id") if isinstance(first, dict) else None


def run_log_path(project_root: Path, run_id: str) -> Path:
    """``<project>/.codex-oss/runs/<run_id>/events.jsonl``."""
    return Path(project_root) / RUNS_DIR / check_plain_name(run_id, "run_id") / LOG_NAME


class MissionEventLog:
    """The event log of one run, open for appending."""

    def __init__(self, path: Path, run_id: str, mission_id: str, fd: int, head: Head):
        self.path = path
        self.run_id = run_id
        self.mission_id = mission_id
        self._fd = fd
        self._head = head
        self._synced = head.seq  # the last seq known to be on disk
        self._new_folder = False  # the run's folder entry still to be flushed (a new log)
        # Held through an fsync, so close() waits out one running in another thread.
        self._sync_lock = threading.RLock()
        # Kept open, so taking the writers' lock is one flock call, not an open and a close.
        try:
            self._lock_fd = os.open(str(path) + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            os.close(fd)
            raise

    @classmethod
    def create(cls, project_root: Path, run_id: str, mission_id: str) -> MissionEventLog:
        """A new, empty log for ``run_id``; refuses to reuse a run that already has events."""
        if not mission_id:
            raise ValueError("mission_id must not be empty")
        path = run_log_path(project_root, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(fd).st_size:
            os.close(fd)
            raise EventLogError(f"run {run_id} already has an event log; use a new run id")
        log = cls(path, run_id, mission_id, fd, Head())
        log._new_folder = True  # the file's entry must survive a crash too: at the first sync
        return log

    @classmethod
    def open(cls, path: Path, mission_id: str | None = None) -> MissionEventLog:
        """Open an existing log for appending, verifying it once (a torn tail is repaired).

        ``mission_id`` is needed only for a log that has no event yet.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no event log at {path}")
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
        log = cls(path, path.parent.name, mission_id or "", fd, Head())
        try:
            with log._locked():
                log._catch_up()
        except BaseException:
            log.close()
            raise
        return log

    @property
    def seq(self) -> int:
        """The seq of the last event (0 for an empty log)."""
        return self._head.seq

    @property
    def head_hash(self) -> str | None:
        """The ``event_hash`` of the last event, or None for an empty log."""
        return self._head.hash

    def append(self, payload: Payload, source: EventSource = "runtime") -> Event:
        """Append one event; it is on disk (flushed and fsynced) when this returns."""
        return self.append_all([(payload, source)])[0]

    def append_all(
        self,
        entries: Sequence[tuple[Payload, EventSource]],
        then: Callable[[Event], Sequence[tuple[Payload, EventSource]]] | None = None,
        *,
        sync: bool = True,
    ) -> list[Event]:
        """Append events in order with one write; all are on disk when this returns (with
        ``sync=False``: in the file, and on disk at the next sync).

        ``then`` derives more entries from the first event once it is built (its commentary);
        they follow that event in the same write. Returns every event written, in order.
        """
        with self._locked():
            self._catch_up()
            if not self.mission_id:
                raise EventLogError("the log has no event yet; open it with a mission_id")
            head, now = self._head, utc_now()  # one write, one instant
            events: list[Event] = []
            lines: list[bytes] = []
            pending = list(entries)
            while pending:
                payload, source = pending.pop(0)
                event, line = self._build(payload, source, head, now)
                events.append(event)
                lines.append(line)
                head = Head(event.seq, event.event_hash, head.offset + len(line))
                if then is not None and len(events) == 1:
                    pending[:0] = then(event)
            write_all(self._fd, b"".join(lines))
            self._head = head
            if sync:
                self.sync()
        return events

    def sync(self) -> None:
        """Flush every event written so far to the disk (a no-op when nothing is pending).

        Safe to call from another thread while this one appends: what was written before the
        call is on disk when it returns.
        """
        with self._sync_lock:
            written = self._head.seq
            if written > self._synced and self._fd >= 0:  # close() synced already
                os.fsync(self._fd)
                self._synced = written  # the lock keeps syncs in order
            if self._new_folder:
                fsync_dir(self.path.parent)
                self._new_folder = False

    def events(self) -> list[Event]:
        """Every event in the log, including those other processes appended, verified."""
        with self._locked():
            self._catch_up()
            data = os.pread(self._fd, self._head.offset, 0)
        return _verified(self.path, data)  # checked with the lock released

    def close(self) -> None:
        """Sync what is pending, then release the file descriptors (appends after this fail).

        The descriptors are released even when that last fsync fails (the error still rises).
        """
        with self._sync_lock:
            try:
                if self._fd >= 0:
                    self.sync()
            finally:
                for fd in (self._fd, self._lock_fd):
                    if fd >= 0:
                        os.close(fd)
                self._fd = self._lock_fd = -1

    def __enter__(self) -> MissionEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _build(
        self, payload: Payload, source: EventSource, head: Head, created_at: str
    ) -> tuple[Event, bytes]:
        """The event that follows ``head``, and its line."""
        event_type = event_type_of(payload)  # the payload was validated when it was made
        body = {
            "seq": head.seq + 1,
            "event_id": secrets.token_hex(12),
            "run_id": self.run_id,
            "mission_id": self.mission_id,
            "event_type": event_type,
            "source": source,
            "created_at": created_at,
            "payload": payload_dict(payload),
            "prev_hash": head.hash,
        }
        try:
            body_text = canonical_json(body, strict=True)
        except ValueError as exc:  # NaN or Infinity: not JSON, so not loggable
            raise EventLogError(f"{event_type} payload is not JSON: {exc}") from None
        event_hash = tagged_sha256(body_text)
        try:
            event = Event(**body, event_hash=event_hash)
        except ValidationError as exc:
            raise EventLogError(f"{event_type} event is invalid: {exc}") from None
        # Keys are sorted, so event_hash goes right after created_at, the first key, whose
        # value (a timestamp) holds no comma: the line is the body with it spliced in.
        cut = body_text.index(",")
        line = f'{body_text[:cut]},"event_hash":"{event_hash}"{body_text[cut:]}\n'
        return event, line.encode()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not _take_flock(self._lock_fd, LOCK_TIMEOUT_SECONDS):
            raise EventLogError(
                f"event log {self.path.name} stayed locked for {LOCK_TIMEOUT_SECONDS:.0f}s"
            )
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        """Read and verify what other writers appended since our head; repair a torn tail.

        Called with the lock held, so a line without its newline cannot be an append in
        progress: its writer died.
        """
        size = os.fstat(self._fd).st_size
        head = self._head
        if size == head.offset:
            return
        if size < head.offset:
            problem = LogProblem(
                line=None,
                seq=head.seq,
                kind="shrunk",
                message=f"the log shrank from {head.offset} to {size} bytes under us",
            )
            raise EventLogCorrupted(self.path, [problem])
        data = os.pread(self._fd, size - head.offset, head.offset)
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            self._move_aside(data[cut:], head.offset + cut)
            data = data[:cut]
        # Before the first event the run and mission are whatever that event says.
        known = head.seq > 0
        events = _verified(
            self.path,
            data,
            start=head,
            run_id=self.run_id if known else None,
            mission_id=self.mission_id if known else None,
        )
        if events:
            first, last = events[0], events[-1]
            if not known:
                if self.mission_id and first.mission_id != self.mission_id:
                    raise EventLogError(
                        f"event log {self.path} belongs to mission {first.mission_id}, "
                        f"not {self.mission_id}"
                    )
                self.run_id, self.mission_id = first.run_id, first.mission_id
            if self._synced == head.seq:  # nothing of ours pending; theirs are theirs to sync
                self._synced = last.seq
            self._head = Head(last.seq, last.event_hash, head.offset + len(data))

    def _move_aside(self, tail: bytes, keep: int) -> None:
        broken = self.path.with_name(self.path.name + BROKEN_SUFFIX)
        with open(broken, "ab") as handle:
            handle.write(tail + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)


def verify_log(path: Path) -> LogVerification:
    """Check a whole log: every line, every hash, the chain, the order. Never raises on content.

    If the log's directory is writable the writers' lock is taken, so an append in progress is
    not mistaken for a torn line.
    """
    return verify_and_load(path)[0]


def verify_and_load(path: Path) -> tuple[LogVerification, list[Event]]:
    """:func:`verify_log` and the events it read, for a caller that needs both from one read.

    The events are trustworthy only when the verification is ``ok``.
    """
    path = Path(path)
    with _reader_lock(path):
        data = path.read_bytes()
    return verify_bytes(path, data)


def load_events(path: Path) -> list[Event]:
    """The events of a log, verified; raises :class:`EventLogCorrupted` on any problem.

    A last line without its newline is skipped (an append in progress or a crash's torn tail;
    either way not an acknowledged event).
    """
    path = Path(path)
    data = path.read_bytes()
    return _verified(path, data[: data.rfind(b"\n") + 1])


def _verified(path: Path, data: bytes, **context: Any) -> list[Event]:
    """The events in ``data`` (whole lines of the log at ``path``, scanned with ``context``);
    EventLogCorrupted on any problem."""
    result = scan(data, **context)
    if result.problems:
        raise EventLogCorrupted(path, result.problems)
    return result.events


@contextlib.contextmanager
def _reader_lock(path: Path) -> Iterator[None]:
    if not os.access(path.parent, os.W_OK):
        yield
        return
    fd = os.open(str(path) + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # A stuck writer must not stop an audit (a torn tail may then be reported).
        _take_flock(fd, READER_LOCK_TIMEOUT_SECONDS)
        yield
    finally:
        os.close(fd)  # which releases the flock


def _take_flock(fd: int, timeout: float) -> bool:
    """Take the exclusive flock on ``fd``, polling; False if ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(LOCK_POLL_SECONDS)
