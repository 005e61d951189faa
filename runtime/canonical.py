"""Canonical JSON and content hashes: the byte form everything hashed in the project uses."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
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


def indented_json(obj: Any, *, sort_keys: bool = True) -> str:
    """``json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False)`` byte for byte (a
    projection must read as older versions wrote it), through orjson where that is the same:
    not for floats of 1e-5 to 1e-9 (``0.00001``, ``2.5e-8``, looked for anywhere: a false alarm
    costs only time), integers beyond 64 bits, non-string keys or lone surrogates. NaN and
    Infinity (null to orjson) never get here: the event log refuses them."""
    orjson = _orjson()
    if orjson is not None:
        sort = orjson.OPT_SORT_KEYS if sort_keys else 0
        with contextlib.suppress(TypeError):  # orjson.JSONEncodeError
            data = orjson.dumps(obj, option=orjson.OPT_INDENT_2 | sort)
            if b"0.0000" not in data and not _ONE_DIGIT_EXPONENT.search(data):
                return data.decode()
    return json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False)


_ONE_DIGIT_EXPONENT = re.compile(rb"e-\d(?!\d)")


@functools.cache
def _orjson() -> Any:
    """orjson, imported when first needed (15 ms), or None where it spells the other floats
    otherwise than the stdlib (it did before 3.11.7: 1.2e30 for 1.2e+30)."""
    import orjson

    probe = [1e16, 1.5e300, 1e-10, 2.5e-300, 0.0001, 0.1, 1e15, 123456789.125, 2**64 - 1]
    return orjson if orjson.dumps(probe) == canonical_json(probe).encode() else None


def sha256_hex(data: bytes | str) -> str:
    """Plain hex SHA-256 of bytes (text is hashed as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def tagged_sha256(data: bytes | str) -> str:
    """``"sha256:" + hexdigest``, the form hashes take in events and artifacts."""
    return "sha256:" + sha256_hex(data)
