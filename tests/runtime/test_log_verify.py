"""The log verifier works on bytes alone: no file, no lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.canonical import canonical_json
from runtime.eventlog import MissionEventLog
from runtime.events import CommentaryEmitted
from runtime.log_verify import verify_bytes


def test_bytes_are_verified_without_touching_the_path(tmp_path: Path) -> None:
    log = MissionEventLog.create(tmp_path, "run-1", "m-1")
    for text in ("one", "two"):
        log.append(CommentaryEmitted(text=text))
    data = log.path.read_bytes()
    nowhere = tmp_path / "missing" / "events.jsonl"
    verification, events = verify_bytes(nowhere, data)
    assert verification.ok and verification.path == str(nowhere)
    assert [e.payload["text"] for e in events] == ["one", "two"]
    edited, _ = verify_bytes(nowhere, data.replace(b'"two"', b'"TWO"'))
    assert [p.kind for p in edited.problems] == ["tampered"] and not nowhere.exists()


def test_the_strict_encoding_refuses_what_is_not_json() -> None:
    assert canonical_json({"b": 1.5, "a": "é"}) == '{"a":"é","b":1.5}'
    assert canonical_json(float("nan")) == "NaN"
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")}, strict=True)
