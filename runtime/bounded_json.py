"""JSON decoding with its nesting depth and value count bounded before the decoder runs.

Python's decoder recurses once per level, so 100,000 nested ``[`` end in ``RecursionError``
(and any later recursive walk of a merely deep document can too); a body of a million tiny
members costs hundreds of megabytes as objects. :func:`check_json_shape` measures both on the
bytes themselves, outside string literals, in a few C-speed passes: the innermost empty pairs
are peeled off once per level, so a deep document is refused after ``max_depth`` passes
whatever its length. :class:`JsonLimitError` is a ``json.JSONDecodeError``, so every caller that
already handles bad JSON handles it too.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Codex's requests nest 13 levels deep (tool schemas); MissionV1 and Actions fewer.
DEFAULT_MAX_DEPTH = 64
# A Codex request holds a few thousand values; a million would be ~100 MB of objects.
DEFAULT_MAX_VALUES = 200_000

# Every byte but quotes and structure, deleted by bytes.translate in one pass.
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{},:')
_STRING = re.compile(rb'"[^"]*"')
_ESCAPED_QUOTE_OR_BACKSLASH = re.compile(rb'\\[\\"]')
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")


class JsonLimitError(json.JSONDecodeError):
    """The text nests deeper or holds more values than allowed (nothing was decoded)."""


def loads_bounded(
    data: str | bytes | bytearray,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_values: int = DEFAULT_MAX_VALUES,
    **json_options: Any,
) -> Any:
    """``json.loads(data)`` once :func:`check_json_shape` has accepted it.

    Raises ``json.JSONDecodeError`` (a :class:`JsonLimitError` for the bounds) or
    ``UnicodeDecodeError`` for bytes that are not UTF-8.
    """
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    check_json_shape(text, max_depth=max_depth, max_values=max_values)
    return json.loads(text, **json_options)


def check_json_shape(
    text: str | bytes,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_values: int = DEFAULT_MAX_VALUES,
) -> None:
    """Raise :class:`JsonLimitError` if ``text`` nests deeper than ``max_depth`` or holds more
    than about ``max_values`` values; anything else (even invalid JSON) is left to the decoder.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    doc = text if isinstance(text, str) else ""
    # Counts over the raw text bound the real ones from above: most small texts stop here.
    if data.count(b"[") + data.count(b"{") <= max_depth and len(data) <= max_values:
        return
    skeleton = _skeleton(data)
    values = skeleton.count(b",") + skeleton.count(b":") + 1
    if values > max_values:
        raise JsonLimitError(
            f"JSON holds about {values} values, more than the {max_values} allowed", doc, 0
        )
    brackets = skeleton.translate(None, b",:")
    # A run of more openers than the bound is too deep whatever follows; checked on every
    # pass, it ends a deep document at once (each pass peels the siblings that hide a run).
    too_deep = re.compile(rb"[\[{]{%d}" % (max_depth + 1))
    for _ in range(max_depth):
        if not brackets:
            return
        if too_deep.search(brackets):
            raise JsonLimitError(f"JSON nests deeper than {max_depth} levels", doc, 0)
        peeled = _EMPTY_PAIR.sub(b"", brackets)
        if len(peeled) == len(brackets):
            break  # what is left does not pair up: invalid JSON, at most this deep
        brackets = peeled
    else:
        if _EMPTY_PAIR.search(brackets):
            raise JsonLimitError(f"JSON nests deeper than {max_depth} levels", doc, 0)
    # Unpaired brackets: the decoder reports the syntax error, provided it cannot recurse
    # further than the bound on the way there.
    if len(brackets) > max_depth:
        raise JsonLimitError(
            f"JSON nests deeper than {max_depth} levels (or its brackets do not pair up)", doc, 0
        )


def _skeleton(data: bytes) -> bytes:
    """The structural bytes of ``data`` outside string literals: brackets, commas, colons.

    Escaped backslashes and escaped quotes go first, so every quote left opens or closes a
    string; then everything but quotes and structure goes (C-speed passes), and the strings,
    now only quotes around structure characters, are cut out of what is left.
    """
    data = _ESCAPED_QUOTE_OR_BACKSLASH.sub(b"", data)
    # Most strings hold no structure character and shrink to "": one C pass removes those.
    skeleton = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    skeleton = _STRING.sub(b"", skeleton)
    unclosed = skeleton.find(b'"')
    # A string that never closes: the decoder stops there, so the count does too.
    return skeleton if unclosed == -1 else skeleton[:unclosed]
