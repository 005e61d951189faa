"""The event log's verifier: pure checks over a log's bytes, with no locking and no writing.

Every line's hash is checked over its exact bytes, then the chain, the order, one run and
mission per log, and the payload schemas; a strict scan also proves each line is canonical
JSON. Each problem is named: torn, bad_json, invalid_event, unknown_event, invalid_payload,
tampered, chain_broken, reordered, duplicate, deleted, foreign_event (and shrunk, which only
a writer watching the file can see). :mod:`runtime.eventlog` reads the file and locks it.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.canonical import canonical_json, tagged_sha256
from runtime.events import PAYLOAD_TYPES, Event

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


def verify_bytes(path: Path, data: bytes) -> tuple[LogVerification, list[Event]]:
    """The strict verification of a whole log read from ``path``, and the events it holds
    (trustworthy only when the verification is ``ok``)."""
    result = scan(data, strict=True)
    first = result.events[0] if result.events else None
    last = result.events[-1] if result.events else None
    verification = LogVerification(
        path=str(path),
        ok=not result.problems,
        event_count=len(result.events),
        head_hash=last.event_hash if last else None,
        run_id=first.run_id if first else None,
        mission_id=first.mission_id if first else None,
        problems=result.problems,
    )
    return verification, result.events


@dataclass(frozen=True)
class Head:
    """Where a log (or the part of it already checked) ends: last seq, its hash, byte size."""

    seq: int = 0
    hash: str | None = None
    offset: int = 0


@dataclass
class Scan:
    """What a scan read: the events, and every problem found."""

    events: list[Event] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)


@dataclass
class _Line:
    number: int
    event: Event | None  # None when the line could not be read as an event at all
    hashes: frozenset[str] = frozenset()  # hashes a successor may legitimately link to


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


@paused_gc()
def scan(
    data: bytes,
    *,
    start: Head | None = None,
    run_id: str | None = None,
    mission_id: str | None = None,
    strict: bool = False,
) -> Scan:
    """Verify ``data`` (whole lines of a log, continuing after ``start``).

    Every line's hash is checked over its exact bytes (the line minus its ``event_hash``), so
    any edited byte is caught. ``strict`` also re-encodes each event to prove the line is the
    canonical JSON the spec hashes: that only catches a writer that hashed non-canonical text
    (our writer cannot), costs a third of the scan, and so is left to :func:`verify_bytes`.
    """
    start = start or Head()
    result = Scan()
    lines: list[_Line] = []
    pieces = data.split(b"\n")
    tail = pieces.pop()
    # Lines and seqs agree in a verified log, so the head's seq is the line count before it.
    first_line = 1 + start.seq
    for index, raw in enumerate(pieces):
        line = _check_line(raw, first_line + index, result.problems, strict)
        lines.append(line)
        if line.event is not None:
            result.events.append(line.event)
    if tail:
        result.problems.append(
            LogProblem(
                line=first_line + len(pieces),
                seq=None,
                kind="torn",
                message=f"the last line ({len(tail)} bytes) has no newline: an interrupted append",
            )
        )
    _check_order(lines, start, result.problems, run_id, mission_id)
    return result


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
    start: Head,
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


def _canonical_or_none(obj: Any) -> str | None:
    try:
        return canonical_json(obj, strict=True)
    except ValueError:  # NaN or Infinity in a line: not canonical JSON
        return None
