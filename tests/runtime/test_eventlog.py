"""MissionEventLog: chain, durability, crash repair, cross-process appends, tamper detection."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runtime.canonical import canonical_json
from runtime.eventlog import (
    EventLogCorrupted,
    EventLogError,
    MissionEventLog,
    load_events,
    new_run_id,
    run_log_path,
    verify_log,
)
from runtime.events import (
    CommentaryEmitted,
    Event,
    EventSource,
    MissionAdmitted,
    ModelCalled,
    Payload,
    Route,
)

REPO = Path(__file__).resolve().parents[2]


def _log_with(tmp_path: Path, count: int) -> MissionEventLog:
    log = MissionEventLog.create(tmp_path, "run-1", "m-1")
    for index in range(count):
        log.append(CommentaryEmitted(text=f"step {index}"))
    return log


def _body(event: Event) -> dict[str, Any]:
    """The event without its event_hash: what the hash covers."""
    return {key: value for key, value in event.model_dump().items() if key != "event_hash"}


def _spec_hash(body: dict[str, Any]) -> str:
    """The design's formula, written out: sha256 of the canonical JSON, tagged."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _kinds(path: Path) -> set[str]:
    return {problem.kind for problem in verify_log(path).problems}


def test_create_makes_the_run_directory(tmp_path: Path) -> None:
    log = MissionEventLog.create(tmp_path, "run-1", "m-1")
    assert log.path == tmp_path / ".codex-oss" / "runs" / "run-1" / "events.jsonl"
    assert log.path == run_log_path(tmp_path, "run-1")
    assert log.path.is_file() and log.seq == 0 and log.head_hash is None


def test_create_refuses_a_run_that_has_events(tmp_path: Path) -> None:
    _log_with(tmp_path, 1)
    with pytest.raises(EventLogError, match="already has an event log"):
        MissionEventLog.create(tmp_path, "run-1", "m-1")


@pytest.mark.parametrize("run_id", ["", "..", "a/b"])
def test_run_ids_must_be_plain_names(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(ValueError, match="plain name"):
        run_log_path(tmp_path, run_id)


def test_events_are_chained_and_canonical(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    events = log.events()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash is None
    assert events[1].prev_hash == events[0].event_hash
    assert events[2].prev_hash == events[1].event_hash
    for event, raw in zip(events, _lines(log.path), strict=True):
        assert raw.decode().rstrip("\n") == canonical_json(event.model_dump())
        assert event.event_hash == _spec_hash(_body(event))
    assert log.head_hash == events[-1].event_hash and log.seq == 3


def test_append_returns_the_event_it_wrote(tmp_path: Path) -> None:
    log = MissionEventLog.create(tmp_path, "run-1", "m-1")
    route = Route(alias="mission-a3-kimi", profile="kimi", upstream_model="kimi-k2.6")
    event = log.append(MissionAdmitted(mission={"tier": "A3"}, route=route), source="bridge")
    assert event.event_type == "MissionAdmitted" and event.source == "bridge"
    assert event.payload["route"]["alias"] == "mission-a3-kimi"
    assert load_events(log.path) == [event]


def test_created_at_is_utc_with_zone(tmp_path: Path) -> None:
    event = _log_with(tmp_path, 1).events()[0]
    assert event.created_at.endswith("+00:00")


def test_non_json_payload_values_are_refused(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 0)
    bad = ModelCalled(call_index=1, model="m", profile="p", outcome="ok", latency_ms=float("nan"))
    with pytest.raises(EventLogError, match="not JSON"):
        log.append(bad)
    assert log.path.read_bytes() == b""


def test_bad_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EventLogError, match="source"):
        _log_with(tmp_path, 0).append(CommentaryEmitted(text="x"), source="nobody")  # type: ignore[arg-type]


def test_append_all_writes_its_events_in_order_and_chained(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 1)
    written = log.append_all(
        [(CommentaryEmitted(text="a"), "runtime"), (CommentaryEmitted(text="b"), "test")]
    )
    assert [(e.seq, e.source) for e in written] == [(2, "runtime"), (3, "test")]
    assert load_events(log.path)[1:] == written
    assert written[1].prev_hash == written[0].event_hash and verify_log(log.path).ok


def test_an_unsynced_append_is_in_the_file_at_once_and_survives_a_killed_writer(
    tmp_path: Path,
) -> None:
    log = _log_with(tmp_path, 1)
    script = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from runtime.eventlog import MissionEventLog
        from runtime.events import CommentaryEmitted

        log = MissionEventLog.open(Path(sys.argv[1]))
        log.append_all([(CommentaryEmitted(text="unsynced"), "runtime")], sync=False)
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no sync
        """
    )
    killed = subprocess.run([sys.executable, "-c", script, str(log.path)], cwd=REPO)
    assert killed.returncode == -signal.SIGKILL
    events = log.events()  # this handle catches up on what the killed one wrote
    assert [e.payload["text"] for e in events] == ["step 0", "unsynced"]
    assert verify_log(log.path).ok
    log.append_all([(CommentaryEmitted(text="later"), "runtime")], sync=False)
    log.sync()
    log.close()
    assert [e.payload["text"] for e in load_events(log.path)][-1] == "later"


def test_then_derives_events_that_follow_in_the_same_append(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 1)
    written = log.append_all(
        [(CommentaryEmitted(text="event"), "model"), (CommentaryEmitted(text="last"), "test")],
        then=lambda e: [(CommentaryEmitted(text=f"about {e.seq}"), "runtime")],
    )
    assert [(e.seq, e.source, e.payload["text"]) for e in written] == [
        (2, "model", "event"),
        (3, "runtime", "about 2"),
        (4, "test", "last"),
    ]
    assert load_events(log.path)[1:] == written and log.seq == 4


def test_a_batch_with_a_bad_event_writes_none_of_it(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 1)
    bad = ModelCalled(call_index=1, model="m", profile="p", outcome="ok", latency_ms=float("inf"))
    with pytest.raises(EventLogError, match="not JSON"):
        log.append_all([(CommentaryEmitted(text="fine"), "runtime"), (bad, "runtime")])

    def broken_commentary(event: Event) -> list[tuple[Payload, EventSource]]:
        raise RuntimeError("the narrator broke")

    with pytest.raises(RuntimeError, match="narrator"):
        log.append_all([(CommentaryEmitted(text="fine"), "runtime")], then=broken_commentary)
    assert len(_lines(log.path)) == 1 and log.seq == 1
    assert log.append(CommentaryEmitted(text="next")).seq == 2


def test_an_append_waits_for_the_lock_and_then_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime import eventlog

    log = _log_with(tmp_path, 1)
    monkeypatch.setattr(eventlog, "LOCK_TIMEOUT_SECONDS", 0.05)
    with open(str(log.path) + ".lock", "a") as holder:  # another writer holds the lock
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(EventLogError, match="stayed locked"):
            log.append(CommentaryEmitted(text="blocked"))
    assert log.append(CommentaryEmitted(text="free again")).seq == 2


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    first = _log_with(tmp_path, 5)
    first.close()
    log = MissionEventLog.open(first.path)
    assert (log.run_id, log.mission_id, log.seq) == ("run-1", "m-1", 5)
    log.append(CommentaryEmitted(text="after reopen"))
    assert verify_log(log.path).ok and verify_log(log.path).event_count == 6


def test_open_of_an_empty_log_needs_a_mission_id_to_append(tmp_path: Path) -> None:
    path = MissionEventLog.create(tmp_path, "run-1", "m-1").path
    log = MissionEventLog.open(path)
    with pytest.raises(EventLogError, match="mission_id"):
        log.append(CommentaryEmitted(text="x"))
    MissionEventLog.open(path, mission_id="m-1").append(CommentaryEmitted(text="x"))
    assert load_events(path)[0].mission_id == "m-1"


def test_open_refuses_another_missions_log(tmp_path: Path) -> None:
    path = _log_with(tmp_path, 1).path
    with pytest.raises(EventLogError, match="belongs to mission m-1"):
        MissionEventLog.open(path, mission_id="m-2")


def test_two_handles_in_one_process_interleave(tmp_path: Path) -> None:
    a = _log_with(tmp_path, 1)
    b = MissionEventLog.open(a.path)
    b.append(CommentaryEmitted(text="from b"))
    a.append(CommentaryEmitted(text="from a"))  # a catches up with b's event first
    assert [e.payload["text"] for e in load_events(a.path)] == ["step 0", "from b", "from a"]
    assert verify_log(a.path).ok


def test_torn_tail_is_moved_aside_and_the_prefix_kept(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    log.close()
    with open(log.path, "ab") as handle:
        handle.write(b'{"seq":4,"event_id":"half')
    assert _kinds(log.path) == {"torn"}
    assert len(load_events(log.path)) == 3  # readers skip an unfinished line
    reopened = MissionEventLog.open(log.path)
    assert reopened.seq == 3
    assert log.path.with_name("events.jsonl.broken").read_bytes() == (
        b'{"seq":4,"event_id":"half\n'
    )
    reopened.append(CommentaryEmitted(text="after repair"))
    assert verify_log(log.path).ok and verify_log(log.path).event_count == 4


def test_a_writer_repairs_a_tail_torn_by_another_process(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 2)
    with open(log.path, "ab") as handle:
        handle.write(b'{"torn')
    log.append(CommentaryEmitted(text="next"))
    assert [e.seq for e in load_events(log.path)] == [1, 2, 3]
    assert verify_log(log.path).ok


def test_open_refuses_a_tampered_log(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    lines = _lines(log.path)
    lines[1] = lines[1].replace(b"step 1", b"step X")
    log.path.write_bytes(b"".join(lines))
    with pytest.raises(EventLogCorrupted, match="tampered at line 2"):
        MissionEventLog.open(log.path)


def test_append_notices_a_log_that_shrank(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    log.path.write_bytes(b"".join(_lines(log.path)[:2]))
    with pytest.raises(EventLogCorrupted, match="shrunk"):
        log.append(CommentaryEmitted(text="x"))


# --- verify_log: each kind of damage is named -------------------------------------------


def test_clean_log_verifies(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 4)
    result = verify_log(log.path)
    assert result.ok and result.problems == []
    assert (result.event_count, result.head_hash, result.run_id) == (4, log.head_hash, "run-1")


def test_empty_log_verifies(tmp_path: Path) -> None:
    path = MissionEventLog.create(tmp_path, "run-1", "m-1").path
    result = verify_log(path)
    assert result.ok and result.event_count == 0 and result.head_hash is None


def test_edited_payload_is_tampered(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    lines = _lines(log.path)
    lines[1] = lines[1].replace(b"step 1", b"step 9")
    log.path.write_bytes(b"".join(lines))
    problems = verify_log(log.path).problems
    assert [(p.kind, p.line, p.seq) for p in problems] == [("tampered", 2, 2)]


def test_every_single_byte_flip_is_detected(tmp_path: Path) -> None:
    """Each bit-0 flip of every byte of a middle event (its newline included) is caught."""
    log = _log_with(tmp_path, 1)
    log.append(ModelCalled(call_index=1, model="k", profile="kimi", outcome="ok", latency_ms=1.5))
    log.append(CommentaryEmitted(text="last"))
    original = log.path.read_bytes()
    first, middle = (len(line) for line in _lines(log.path)[:2])
    for position in range(first, first + middle):
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        log.path.write_bytes(bytes(damaged))
        assert not verify_log(log.path).ok, f"flip at byte {position} went unnoticed"


def test_edited_hash_is_tampered_without_a_cascade(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    events = load_events(log.path)
    lines = _lines(log.path)
    old = events[0].event_hash.encode()
    lines[0] = lines[0].replace(old, old[:-4] + b"0000")
    log.path.write_bytes(b"".join(lines))
    assert [(p.kind, p.seq) for p in verify_log(log.path).problems] == [("tampered", 1)]


def test_deleted_line_is_reported(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 5)
    lines = _lines(log.path)
    del lines[2]
    log.path.write_bytes(b"".join(lines))
    problems = verify_log(log.path).problems
    assert [(p.kind, p.seq) for p in problems] == [("deleted", 3)]


def test_deleted_first_line_is_reported(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    log.path.write_bytes(b"".join(_lines(log.path)[1:]))
    assert [(p.kind, p.seq) for p in verify_log(log.path).problems] == [("deleted", 1)]


def test_swapped_adjacent_lines_are_reordered(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 5)
    lines = _lines(log.path)
    lines[1], lines[2] = lines[2], lines[1]
    log.path.write_bytes(b"".join(lines))
    problems = verify_log(log.path).problems
    assert [(p.kind, p.line, p.seq) for p in problems] == [("reordered", 3, 2)]


def test_swapped_distant_lines_are_reordered(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 8)
    lines = _lines(log.path)
    lines[1], lines[6] = lines[6], lines[1]
    log.path.write_bytes(b"".join(lines))
    kinds = _kinds(log.path)
    assert kinds == {"reordered"}


def test_duplicated_line_is_reported(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    lines = _lines(log.path)
    log.path.write_bytes(b"".join([*lines, lines[1]]))
    assert [(p.kind, p.seq) for p in verify_log(log.path).problems] == [("duplicate", 2)]


def test_forged_event_with_a_correct_hash_breaks_the_chain(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    events = load_events(log.path)
    body = _body(events[1])
    body["payload"] = {"text": "forged", "kind": "progress"}
    body["event_hash"] = _spec_hash(body)
    lines = _lines(log.path)
    lines[1] = (canonical_json(body) + "\n").encode()
    log.path.write_bytes(b"".join(lines))
    assert [(p.kind, p.seq) for p in verify_log(log.path).problems] == [("chain_broken", 3)]


def test_garbage_line_is_bad_json_and_not_also_deleted(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    lines = _lines(log.path)
    lines[1] = b"not json at all\n"
    log.path.write_bytes(b"".join(lines))
    assert [(p.kind, p.line) for p in verify_log(log.path).problems] == [("bad_json", 2)]


def _append_hashed_copy(log: MissionEventLog, **changes: Any) -> None:
    """Append a copy of event 1 as seq 2, changed and correctly hashed: only its content lies."""
    body = _body(load_events(log.path)[0])
    body.update(seq=2, prev_hash=log.head_hash, **changes)
    body["event_hash"] = _spec_hash(body)
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write(canonical_json(body) + "\n")


def test_unknown_event_type_is_reported(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 1)
    _append_hashed_copy(log, event_type="SomethingNew")
    assert _kinds(log.path) == {"unknown_event"}


def test_payload_that_breaks_its_model_is_invalid_payload(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 1)
    _append_hashed_copy(log, payload={"text": "x", "surprise": 1})
    problems = verify_log(log.path).problems
    assert [p.kind for p in problems] == ["invalid_payload"]
    assert "surprise" in problems[0].message


def test_event_of_another_run_is_foreign(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 1)
    _append_hashed_copy(log, run_id="run-other")
    assert _kinds(log.path) == {"foreign_event"}


def test_non_canonical_but_equal_line_is_tampered(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 2)
    lines = _lines(log.path)
    lines[0] = (json.dumps(json.loads(lines[0]), indent=1).replace("\n", "") + "\n").encode()
    log.path.write_bytes(b"".join(lines))
    assert _kinds(log.path) == {"tampered"}


def test_load_events_raises_with_the_problems(tmp_path: Path) -> None:
    log = _log_with(tmp_path, 3)
    lines = _lines(log.path)
    del lines[1]
    log.path.write_bytes(b"".join(lines))
    with pytest.raises(EventLogCorrupted) as info:
        load_events(log.path)
    assert info.value.problems[0].kind == "deleted"


def test_run_ids_sort_by_time_and_are_unique() -> None:
    ids = [new_run_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert [i.split("-")[0] for i in ids] == sorted(i.split("-")[0] for i in ids)


# --- real processes ----------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runtime.eventlog import MissionEventLog
    from runtime.events import CommentaryEmitted

    path, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    log = MissionEventLog.open(path, mission_id="m-1")
    for index in range(count):
        event = log.append(CommentaryEmitted(text=f"{name} {index}"))
        print(event.seq, event.event_hash, flush=True)  # printed only once acknowledged
    """
)

# Appends batches of three events: one write each, which no other writer's event may split.
_BATCH_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runtime.eventlog import MissionEventLog
    from runtime.events import CommentaryEmitted

    path, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    log = MissionEventLog.open(path, mission_id="m-1")
    for index in range(count):
        log.append_all([(CommentaryEmitted(text=f"{name} {index}"), "test")] * 3)
    """
)

# Dies with SIGKILL halfway through writing its line: a crash in the middle of an append.
_TORN_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from runtime import eventlog
    from runtime.events import CommentaryEmitted

    def half_then_die(fd, data):
        os.write(fd, bytes(data)[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    log = eventlog.MissionEventLog.open(Path(sys.argv[1]))
    log.append(CommentaryEmitted(text="complete"))
    eventlog.write_all = half_then_die
    log.append(CommentaryEmitted(text="never finished"))
    """
)


def _python(code: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def test_sigkill_mid_append_loses_no_acknowledged_event(tmp_path: Path) -> None:
    path = _log_with(tmp_path, 1).path
    writer = _python(_WRITER, str(path), "w", "100000", stdout=subprocess.PIPE)
    assert writer.stdout is not None
    acknowledged: list[tuple[int, str]] = []
    for raw in writer.stdout:
        seq, event_hash = raw.split()
        acknowledged.append((int(seq), event_hash))
        if len(acknowledged) == 300:
            writer.send_signal(signal.SIGKILL)
            break
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    log = MissionEventLog.open(path)  # repairs a torn tail if the kill landed mid-write
    assert verify_log(path).ok
    on_disk = {(e.seq, e.event_hash) for e in log.events()}
    assert set(acknowledged) <= on_disk
    log.append(CommentaryEmitted(text="life goes on"))
    assert verify_log(path).ok


def test_sigkill_halfway_through_a_line_leaves_a_repairable_log(tmp_path: Path) -> None:
    path = _log_with(tmp_path, 2).path
    writer = _python(_TORN_WRITER, str(path))
    assert writer.wait(timeout=30) == -signal.SIGKILL
    assert _kinds(path) == {"torn"}
    log = MissionEventLog.open(path)
    assert [e.payload["text"] for e in log.events()] == ["step 0", "step 1", "complete"]
    broken = path.with_name("events.jsonl.broken").read_bytes()
    assert broken.startswith(b'{"created_at"') and broken.endswith(b"\n")
    log.append(CommentaryEmitted(text="after the crash"))
    assert verify_log(path).ok and verify_log(path).event_count == 4


def test_two_processes_append_a_thousand_events_each(tmp_path: Path) -> None:
    path = MissionEventLog.create(tmp_path, "run-1", "m-1").path
    writers = [
        _python(_WRITER, str(path), name, "1000", stdout=subprocess.DEVNULL)
        for name in ("alpha", "beta")
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    result = verify_log(path)
    assert result.ok, result.problems[:3]
    assert result.event_count == 2000
    texts = [e.payload["text"] for e in load_events(path)]
    for name in ("alpha", "beta"):
        mine = [t for t in texts if t.startswith(name)]
        assert mine == [f"{name} {i}" for i in range(1000)]  # each writer's order is kept
    assert os.path.getsize(path) == sum(len(line) for line in _lines(path))


def test_batches_from_two_processes_are_never_split(tmp_path: Path) -> None:
    path = MissionEventLog.create(tmp_path, "run-1", "m-1").path
    writers = [_python(_BATCH_WRITER, str(path), name, "300") for name in ("alpha", "beta")]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    assert verify_log(path).ok
    texts = [e.payload["text"] for e in load_events(path)]
    assert len(texts) == 1800
    assert all(texts[i] == texts[i + 1] == texts[i + 2] for i in range(0, 1800, 3))
