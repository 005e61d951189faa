"""MissionEventLog: the append-only, hash-chained ``events.jsonl`` of one run.

Each line is the canonical JSON of one :class:`~runtime.events.Event`. The log is verified once
when it is opened; after that the head (seq, hash, byte offset) is kept, so an append costs the
same at event 10 as at event 100,000. Appends are serialised across processes by a file lock;
before writing, a writer reads only what other writers appended since its last look. Every
append is flushed and fsynced before it returns, so an event a caller saw acknowledged survives
a crash. A crash mid-append leaves a last line without its newline; whoever takes the lock next
moves that torn tail aside to ``events.jsonl.broken`` and keeps the valid prefix.

Opening and loading check every line's hash over its exact bytes, the chain, the order and the
payload schemas; :func:`verify_log` also proves each line is canonical JSON. It is read-only
and names each problem: torn, bad_json, invalid_event,
unknown_event, invalid_payload, tampered, chain_broken, reordered, duplicate, deleted,
foreign_event. (A chain without a secret catches edits, not a forger who rewrites every hash
after the edit; the head hashes stamped into projections anchor the log from outside.)
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.atomic import fsync_dir
from runtime.canonical import tagged_sha256
from runtime.events import (
    PAYLOAD_TYPES,
    Event,
    EventSource,
    Payload,
    event_type_of,
    payload_dict,
    utc_now,
)

RUNS_DIR = Path(".codex-oss") / "runs"
LOG_NAME = "events.jsonl"
BROKEN_SUFFIX = ".broken"
LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT_SECONDS = 60.0
# filelock polls while another process holds the lock; its 50 ms default would cap two busy
# writers at a few dozen appends per second.
LOCK_POLL_SECONDS = 0.001

ProblemKind = Literal[
    "torn",
    "bad_json",
    "invalid_event",
    "unknown_event",
    "invalid_payload",
    "tampered",
    "chain_broken",
    "reordered",
    "duplicate",
    "deleted",
    "foreign_event",
    "shrunk",
]


class LogProblem(BaseModel):
    """One thing wrong with a log: where (line, seq when known), what kind, and a sentence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line: int | None
    seq: int | None
    kind: ProblemKind
    message: str


class LogVerification(BaseModel):
    """The result of checking a whole log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    ok: bool
    event_count: int
    head_hash: str | None
    run_id: str | None
    mission_id: str | None
    problems: list[LogProblem]


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

    def __init__(self, path: Path, run_id: str, mission_id: str, fd: int, head: _Head):
        self.path = path
        self.run_id = run_id
        self.mission_id = mission_id
        self._fd = fd
        self._head = head
        self._lock = FileLock(str(path) + LOCK_SUFFIX, timeout=LOCK_TIMEOUT_SECONDS)

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
        fsync_dir(path.parent)  # the new file's directory entry must survive a crash too
        return cls(path, run_id, mission_id, fd, _Head())

    @classmethod
    def open(cls, path: Path, mission_id: str | None = None) -> MissionEventLog:
        """Open an existing log for appending, verifying it once (a torn tail is repaired).

        ``mission_id`` is needed only for a log that has no event yet.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no event log at {path}")
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
        log = cls(path, path.parent.name, mission_id or "", fd, _Head())
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
        event_type = event_type_of(payload)
        try:
            data = payload_dict(PAYLOAD_TYPES[event_type].model_validate(payload_dict(payload)))
        except ValidationError as exc:
            raise EventLogError(f"{event_type} payload is invalid: {exc}") from None
        with self._locked():
            self._catch_up()
            if not self.mission_id:
                raise EventLogError("the log has no event yet; open it with a mission_id")
            body = {
                "seq": self._head.seq + 1,
                "event_id": secrets.token_hex(12),
                "run_id": self.run_id,
                "mission_id": self.mission_id,
                "event_type": event_type,
                "source": source,
                "created_at": utc_now(),
                "payload": data,
                "prev_hash": self._head.hash,
            }
            try:
                body_text = _strict_canonical(body)
            except ValueError as exc:  # NaN or Infinity: not JSON, so not loggable
                raise EventLogError(f"{event_type} payload is not JSON: {exc}") from None
            event_hash = tagged_sha256(body_text)
            try:
                event = Event(**body, event_hash=event_hash)
            except ValidationError as exc:
                raise EventLogError(f"{event_type} event is invalid: {exc}") from None
            line = (_strict_canonical({**body, "event_hash": event_hash}) + "\n").encode()
            _write_all(self._fd, line)
            os.fsync(self._fd)
            self._head = _Head(event.seq, event.event_hash, self._head.offset + len(line))
        return event

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the writers' lock across several appends (each takes it again, reentrantly),
        so no other writer's event lands between them."""
        with self._locked():
            yield

    def events(self) -> list[Event]:
        """Every event in the log, including those other processes appended, verified."""
        with self._locked():
            self._catch_up()
            data = os.pread(self._fd, self._head.offset, 0)
        scan = _scan(data)
        if scan.problems:
            raise EventLogCorrupted(self.path, scan.problems)
        return scan.events

    def close(self) -> None:
        """Release the file descriptor (appends after this fail)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> MissionEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._lock.acquire(poll_interval=LOCK_POLL_SECONDS)
        except Timeout:
            raise EventLogError(
                f"event log {self.path.name} stayed locked for {LOCK_TIMEOUT_SECONDS:.0f}s"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

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
        scan = _scan(
            data,
            start=head,
            run_id=self.run_id if known else None,
            mission_id=self.mission_id if known else None,
        )
        if scan.problems:
            raise EventLogCorrupted(self.path, scan.problems)
        if scan.events:
            first, last = scan.events[0], scan.events[-1]
            if not known:
                if self.mission_id and first.mission_id != self.mission_id:
                    raise EventLogError(
                        f"event log {self.path} belongs to mission {first.mission_id}, "
                        f"not {self.mission_id}"
                    )
                self.run_id, self.mission_id = first.run_id, first.mission_id
            self._head = _Head(last.seq, last.event_hash, head.offset + len(data))

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
    scan = _scan(data, strict=True)
    last = scan.events[-1] if scan.events else None
    first = scan.events[0] if scan.events else None
    verification = LogVerification(
        path=str(path),
        ok=not scan.problems,
        event_count=len(scan.events),
        head_hash=last.event_hash if last else None,
        run_id=first.run_id if first else None,
        mission_id=first.mission_id if first else None,
        problems=scan.problems,
    )
    return verification, scan.events


def load_events(path: Path) -> list[Event]:
    """The events of a log, verified; raises :class:`EventLogCorrupted` on any problem.

    A last line without its newline is skipped (an append in progress or a crash's torn tail;
    either way not an acknowledged event).
    """
    path = Path(path)
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    scan = _scan(data)
    if scan.problems:
        raise EventLogCorrupted(path, scan.problems)
    return scan.events


# --- verification core: pure, over bytes ---------------------------------------------------


@dataclass(frozen=True)
class _Head:
    seq: int = 0
    hash: str | None = None
    offset: int = 0


@dataclass
class _Scan:
    events: list[Event] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)


@dataclass
class _Line:
    number: int
    event: Event | None  # None when the line could not be read as an event at all
    hashes: frozenset[str] = frozenset()  # hashes a successor may legitimately link to


def _scan(
    data: bytes,
    *,
    start: _Head | None = None,
    run_id: str | None = None,
    mission_id: str | None = None,
    strict: bool = False,
) -> _Scan:
    """Verify ``data`` (whole lines of a log, continuing after ``start``).

    Every line's hash is checked over its exact bytes (the line minus its ``event_hash``), so
    any edited byte is caught. ``strict`` also re-encodes each event to prove the line is the
    canonical JSON the spec hashes: that only catches a writer that hashed non-canonical text
    (our writer cannot), costs a third of the scan, and so is left to :func:`verify_log`.
    """
    with paused_gc():
        return _scan_lines(data, start or _Head(), run_id, mission_id, strict)


def _scan_lines(
    data: bytes, start: _Head, run_id: str | None, mission_id: str | None, strict: bool
) -> _Scan:
    scan = _Scan()
    lines: list[_Line] = []
    pieces = data.split(b"\n")
    tail = pieces.pop()
    # Lines and seqs agree in a verified log, so the head's seq is the line count before it.
    first_line = 1 + start.seq
    for index, raw in enumerate(pieces):
        number = first_line + index
        line = _check_line(raw, number, scan.problems, strict)
        lines.append(line)
        if line.event is not None:
            scan.events.append(line.event)
    if tail:
        scan.problems.append(
            LogProblem(
                line=first_line + len(pieces),
                seq=None,
                kind="torn",
                message=f"the last line ({len(tail)} bytes) has no newline: an interrupted append",
            )
        )
    _check_order(lines, start, scan.problems, run_id, mission_id)
    return scan


def _check_line(raw: bytes, number: int, problems: list[LogProblem], strict: bool) -> _Line:
    def problem(kind: ProblemKind, message: str, seq: int | None = None) -> _Line:
        problems.append(LogProblem(line=number, seq=seq, kind=kind, message=message))
        return _Line(number, None)

    try:
        text = raw.decode("utf-8")
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return problem("bad_json", "the line is not valid UTF-8 JSON")
    if not isinstance(obj, dict):
        return problem("bad_json", "the line is not a JSON object")
    seq = obj.get("seq") if isinstance(obj.get("seq"), int) else None
    event_type = obj.get("event_type")
    if isinstance(event_type, str) and event_type not in PAYLOAD_TYPES:
        return problem("unknown_event", f"unknown event type {event_type!r}", seq)
    try:
        event = Event.model_validate(obj)
    except ValidationError as exc:
        return problem("invalid_event", _first_error(exc), seq)
    try:
        PAYLOAD_TYPES[event.event_type].model_validate(event.payload)
    except ValidationError as exc:
        return problem("invalid_payload", f"{event.event_type}: {_first_error(exc)}", seq)
    body_text = _body_text(text, event.event_hash)
    computed = tagged_sha256(body_text) if body_text is not None else None
    if computed != event.event_hash or (strict and text != _canonical_or_none(obj)):
        problems.append(
            LogProblem(
                line=number,
                seq=event.seq,
                kind="tampered",
                message=f"event seq {event.seq} does not match its event_hash: it was edited",
            )
        )
    hashes = frozenset(h for h in (event.event_hash, computed) if h)
    return _Line(number, event, hashes)


def _body_text(text: str, event_hash: str) -> str | None:
    """The canonical JSON of the event without ``event_hash``, cut from its canonical line.

    Keys are sorted, so ``event_hash`` follows ``created_at`` (a string, where no unescaped
    quote can occur) and its removal leaves exactly the canonical body. Cutting instead of
    re-serialising halves the cost of verifying a log.
    """
    segment = ',"event_hash":' + encode_basestring(event_hash)
    at = text.find(segment)
    if at == -1:
        return None
    return text[:at] + text[at + len(segment) :]


def _check_order(
    lines: list[_Line],
    start: _Head,
    problems: list[LogProblem],
    run_id: str | None,
    mission_id: str | None,
) -> None:
    """Seq order, gaps, duplicates, hash links and one run/mission per log.

    A link is checked against the event whose seq is one less, wherever it stands, so a
    swapped pair is reported once as reordered rather than as a cascade of broken links.
    """
    hashes_by_seq: dict[int, frozenset[str]] = {}
    if start.hash:
        hashes_by_seq[start.seq] = frozenset({start.hash})
    seen: set[int] = set(range(1, start.seq + 1))
    highest = start.seq
    unreadable = 0
    explained_gaps: set[int] = set()

    def report(line: _Line, seq: int, kind: ProblemKind, message: str) -> None:
        problems.append(LogProblem(line=line.number, seq=seq, kind=kind, message=message))

    for line in lines:
        event = line.event
        if event is None:
            unreadable += 1
            continue
        if run_id is None:
            run_id, mission_id = event.run_id, event.mission_id
        if event.run_id != run_id or (mission_id and event.mission_id != mission_id):
            report(
                line,
                event.seq,
                "foreign_event",
                f"event seq {event.seq} belongs to run {event.run_id} / mission "
                f"{event.mission_id}, not {run_id} / {mission_id}",
            )
        if event.seq in seen:
            report(line, event.seq, "duplicate", f"seq {event.seq} appears a second time")
        else:
            if event.seq < highest:
                report(
                    line,
                    event.seq,
                    "reordered",
                    f"seq {event.seq} comes after seq {highest}: events are out of order",
                )
            elif unreadable and event.seq > highest + 1:
                # Unreadable lines stand where the missing seqs would be: already reported.
                explained_gaps.update(range(highest + 1, min(event.seq, highest + 1 + unreadable)))
            if event.seq == 1 and event.prev_hash is not None:
                report(line, 1, "chain_broken", "seq 1 must have prev_hash null")
            predecessor = hashes_by_seq.get(event.seq - 1)
            if event.seq > 1 and predecessor is not None and event.prev_hash not in predecessor:
                report(
                    line,
                    event.seq,
                    "chain_broken",
                    f"prev_hash of seq {event.seq} is not the hash of seq {event.seq - 1}",
                )
            seen.add(event.seq)
            hashes_by_seq[event.seq] = line.hashes
        highest = max(highest, event.seq)
        unreadable = 0
    for missing in sorted(set(range(1, highest + 1)) - seen - explained_gaps):
        problems.append(
            LogProblem(
                line=None,
                seq=missing,
                kind="deleted",
                message=f"event seq {missing} is missing from the log",
            )
        )
    problems.sort(key=lambda p: (p.line is None, p.line or 0, p.seq or 0))


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "event"
    return f"{where}: {error['msg']}"


# canonical_json's exact settings, with NaN/Infinity refused (they are not JSON and would not
# round-trip). One encoder object: json.dumps builds a new one per call, a third of the cost.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _strict_canonical(obj: Any) -> str:
    return _CANONICAL.encode(obj)


def _canonical_or_none(obj: Any) -> str | None:
    try:
        return _CANONICAL.encode(obj)
    except ValueError:  # NaN or Infinity in a line: not canonical JSON
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a loop builds many long-lived objects.

    Parsing or folding 100k events allocates objects that all stay alive; the collector would
    re-walk them again and again, making the loop superlinear. Nothing here makes cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def _reader_lock(path: Path) -> Iterator[None]:
    lock_path = str(path) + LOCK_SUFFIX
    if not os.access(path.parent, os.W_OK):
        yield
        return
    lock = FileLock(lock_path, timeout=5.0)
    try:
        lock.acquire(poll_interval=LOCK_POLL_SECONDS)
    except Timeout:
        yield  # a stuck writer must not stop an audit; a torn tail may then be reported
        return
    try:
        yield
    finally:
        lock.release()
