"""Reading the keys of a model's JSON object tolerantly: each key mapped to the field it
names (or dropped, noted), a field given twice refused. Shared by the Action reader and the
report reader, which differ only in how a key is mapped and in the error they raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def canonical_keys(
    data: dict[str, Any],
    field_of: Callable[[str], str | None],
    *,
    twice: Callable[[str], Exception],
    notes: list[str],
    where: str,
) -> tuple[dict[str, Any], list[str]]:
    """``data`` with each key renamed to ``field_of(key)``; the keys that name no field are
    left out and returned. A rename is noted; a field reached twice raises ``twice(message)``."""
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in data.items():
        canonical = field_of(str(key))
        if canonical is None:
            dropped.append(str(key))
            continue
        if canonical in out:
            raise twice(f"{where}field {canonical!r} is given twice (as {key!r})")
        if canonical != key:
            notes.append(f"{where}key {key!r} read as {canonical!r}")
        out[canonical] = value
    return out, dropped
