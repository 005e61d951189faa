"""Handoff extraction: the one ``<OSS_HANDOFF_JSON>{...}</OSS_HANDOFF_JSON>`` block of a request.

The block is looked for in user messages first; other roles are searched only when no user
message holds one, and developer/system text last (their instructions often *describe* the
block, so they must not win over the user's). Within the chosen role there must be exactly one
block. Every failure is a :class:`HandoffError` whose ``code`` says which rule failed and whose
message says how to fix it; no input makes the parser raise anything else.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from runtime.bounded_json import JsonLimitError, loads_bounded

OPEN_TAG = "<OSS_HANDOFF_JSON>"
CLOSE_TAG = "</OSS_HANDOFF_JSON>"
MAX_HANDOFF_BYTES = 64 * 1024

HandoffErrorCode = Literal[
    "no_handoff", "multiple_handoffs", "malformed_json", "not_an_object", "oversized_handoff"
]

# A model or a person may wrap the JSON in a Markdown fence inside the tags; that is harmless.
_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)\r?\n?```\Z", re.DOTALL)
_LAST_ROLES = frozenset({"developer", "system"})
# The name JSON gives a decoded value's type (what is neither is a number).
_JSON_KINDS = {list: "array", str: "string", bool: "boolean", type(None): "null"}


class HandoffError(ValueError):
    """A request's handoff block is missing, repeated, malformed or too big."""

    def __init__(self, code: HandoffErrorCode, message: str):
        self.code: HandoffErrorCode = code
        self.message = message
        super().__init__(f"{code}: {message}")


def extract_handoff_from_text(text: str) -> dict[str, Any]:
    """The JSON object of the single handoff block in ``text``."""
    if not isinstance(text, str):
        raise HandoffError("no_handoff", f"expected text, got {type(text).__name__}")
    return _parse_single(_blocks(text), has_open_tag=OPEN_TAG in text, where="the text")


def extract_handoff_from_items(items: list[dict[str, Any]] | str) -> dict[str, Any]:
    """The handoff of a Responses ``input``: a string, or a list of input items.

    Message texts are grouped by role: user, then any other role, then developer and system.
    The first group holding an opening tag is the one searched, and it must hold exactly one
    complete block.
    """
    if isinstance(items, str):
        return extract_handoff_from_text(items)
    if not isinstance(items, list):
        raise HandoffError(
            "no_handoff", f"input must be a string or a list of items, not {type(items).__name__}"
        )
    groups: dict[str, list[str]] = {"user": [], "other": [], "last": []}
    for item in items:
        role, texts = _message_texts(item)
        if role is None:
            continue
        group = "user" if role == "user" else "last" if role in _LAST_ROLES else "other"
        groups[group].extend(texts)
    for group, label in (
        ("user", "user messages"),
        ("other", "assistant messages"),
        ("last", "developer/system messages"),
    ):
        texts = groups[group]
        if any(OPEN_TAG in text for text in texts):
            blocks = [block for text in texts for block in _blocks(text)]
            return _parse_single(blocks, has_open_tag=True, where=f"the {label}")
    raise HandoffError(
        "no_handoff",
        f"no {OPEN_TAG} block in any input message; put the mission JSON between "
        f"{OPEN_TAG} and {CLOSE_TAG} in the user message",
    )


def _blocks(text: str) -> list[str]:
    """Contents of complete blocks, in order; one linear scan (a regex could go quadratic on
    thousands of unclosed tags)."""
    blocks: list[str] = []
    position = 0
    while (start := text.find(OPEN_TAG, position)) != -1:
        end = text.find(CLOSE_TAG, start + len(OPEN_TAG))
        if end == -1:
            break
        blocks.append(text[start + len(OPEN_TAG) : end])
        position = end + len(CLOSE_TAG)
    return blocks


def _parse_single(blocks: list[str], *, has_open_tag: bool, where: str) -> dict[str, Any]:
    if not blocks:
        if has_open_tag:
            raise HandoffError(
                "no_handoff",
                f"{where} open {OPEN_TAG} but never close it; end the block with {CLOSE_TAG}",
            )
        raise HandoffError(
            "no_handoff",
            f"no {OPEN_TAG} block in {where}; put the mission JSON between {OPEN_TAG} and "
            f"{CLOSE_TAG}",
        )
    if len(blocks) > 1:
        raise HandoffError(
            "multiple_handoffs",
            f"{where} hold {len(blocks)} {OPEN_TAG} blocks; send exactly one mission per request",
        )
    return _parse_block(blocks[0])


def _parse_block(block: str) -> dict[str, Any]:
    size = len(block.encode("utf-8", errors="surrogatepass"))
    if size > MAX_HANDOFF_BYTES:
        raise HandoffError(
            "oversized_handoff",
            f"the handoff block is {size} bytes, more than {MAX_HANDOFF_BYTES}; state the "
            "mission briefly and let the runtime read the files",
        )
    body = block.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body:
        raise HandoffError(
            "malformed_json", "the handoff block is empty; put one JSON object between the tags"
        )
    try:
        value = loads_bounded(
            body, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant
        )
    except JsonLimitError as exc:
        raise HandoffError(
            "malformed_json", f"the handoff block is not acceptable JSON: {exc.msg}"
        ) from None
    except json.JSONDecodeError as exc:
        raise HandoffError(
            "malformed_json",
            f"the handoff block is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); send one JSON object",
        ) from None
    except (ValueError, RecursionError) as exc:
        # Duplicate keys, NaN/Infinity, absurd nesting or integers with thousands of digits.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise HandoffError(
            "malformed_json", f"the handoff block is not acceptable JSON: {reason}"
        ) from None
    if not isinstance(value, dict):
        raise HandoffError(
            "not_an_object",
            f"the handoff block holds a JSON {_JSON_KINDS.get(type(value), 'number')}; it must "
            'be one object {"schema_version": "oss_agent_mission.v1", ...}',
        )
    return value


def _message_texts(item: Any) -> tuple[str | None, list[str]]:
    """(role, texts) of a message input item; (None, []) for anything that is not a message."""
    is_message = isinstance(item, dict) and item.get("type", "message") == "message"
    role = item.get("role") if is_message else None
    if not isinstance(role, str):
        return None, []
    content = item.get("content")
    if isinstance(content, str):
        return role, [content]
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
    return role, texts


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
