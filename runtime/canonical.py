"""Canonical JSON and content hashes: the byte form everything hashed in the project uses."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# One encoder object each: json.dumps builds a new encoder per call, a third of the cost.
_ENCODERS = {
    strict: json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=not strict
    )
    for strict in (False, True)
}


def canonical_json(obj: Any, *, strict: bool = False) -> str:
    """Serialise ``obj`` the one way the event log and every hash agree on.

    ``strict`` refuses NaN and Infinity with ValueError: they are not JSON, and the event log
    must hold only lines any JSON reader round-trips.
    """
    return _ENCODERS[strict].encode(obj)


def sha256_hex(data: bytes | str) -> str:
    """Plain hex SHA-256 of bytes (text is hashed as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def tagged_sha256(data: bytes | str) -> str:
    """``"sha256:" + hexdigest``, the form hashes take in events and artifacts."""
    return "sha256:" + sha256_hex(data)
