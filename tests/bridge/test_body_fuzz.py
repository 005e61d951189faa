"""A fuzz set against a real bridge process: no input reaches a 5xx, memory stays bounded.

Before the body bound, 100,000 nested ``[`` (or nested objects inside ``input``) got HTTP 500
``internal bridge error: RecursionError`` and a traceback in the bridge's log. The set: deep
nesting (bodies, ``input``, handoff JSON in the input text, model output the runtime parses),
huge strings, many keys, invalid UTF-8, wrong types at every level of a Codex capture, and
truncated bodies. The bridge's peak RSS (VmHWM) is read from /proc after the set.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import handoff_text
from runtime.bounded_json import DEFAULT_MAX_DEPTH
from tests.bridge.codex_captures import capture_body
from tests.patches.test_bridge_crash import AUTH, real_bridge

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs procfs")

RAW = "ocg-kimi-k2.6"
MISSION = "mission-a3-kimi"
DEEP = 100_000
# Whatever the set does, the bridge process must stay under this (it idles near 60 MiB; the
# biggest body allowed is 32 MiB, held as bytes, text and JSON once each).
PEAK_RSS_LIMIT_MIB = 450
# The model answers every turn with JSON nested far beyond any bound.
SCRIPT = {"*": {"turns": [{"content": "[" * DEEP}], "repeat_last": True}}


def capture() -> dict[str, Any]:
    body = capture_body("exec_command_turn1.full.json")
    return {**body, "model": RAW}


def _body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _paths(obj: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a value in ``obj`` (dict keys and list indexes)."""
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _paths(value, (*prefix, index))


def _replaced(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = dict(obj) if isinstance(obj, dict) else list(obj)
    copy[head] = _replaced(obj[head], tuple(rest), value)
    return copy


def wrong_type_bodies() -> Iterator[tuple[str, bytes]]:
    """The capture with one value replaced by each wrong type: every path down to depth 3,
    and a sample of paths at every deeper level."""
    base = capture()
    by_depth: dict[int, list[tuple]] = {}
    for path in _paths(base):
        by_depth.setdefault(len(path), []).append(path)
    chooser = random.Random(12)
    for depth, paths in sorted(by_depth.items()):
        chosen = paths if depth <= 3 else chooser.sample(paths, min(len(paths), 6))
        for path in chosen:
            for wrong in (None, 7, "x", [], {}, True, [[[]]]):
                yield f"wrong {wrong!r} at {path}", _body(_replaced(base, path, wrong))


def nested_objects(depth: int) -> str:
    """JSON text of ``depth`` objects nested in one another (too deep for json.dumps)."""
    return '{"a": ' * depth + "{}" + "}" * depth


def with_input(model: str, input_json: str) -> bytes:
    return ('{"model": "' + model + '", "input": ' + input_json + "}").encode()


def fuzz_set() -> Iterator[tuple[str, bytes, set[int]]]:
    """(name, body, acceptable statuses) for every case."""
    ok_or_400 = {200, 400}
    yield "deep [ unclosed", b"[" * DEEP, {400}
    yield "deep [] closed", b"[" * DEEP + b"]" * DEEP, {400}
    yield "deep {} in input", with_input(RAW, f"[{nested_objects(DEEP)}]"), {400}
    yield "deep {} in mission input", with_input(MISSION, f"[{nested_objects(5000)}]"), {400}
    yield "deep [] as input", with_input(RAW, "[" * DEEP + "]" * DEEP), {400}
    yield "just over the depth bound", with_input(RAW, nested_objects(DEFAULT_MAX_DEPTH)), {400}
    handoff = "<OSS_HANDOFF_JSON>" + "[" * 30_000 + "]" * 30_000 + "</OSS_HANDOFF_JSON>"
    yield "deep handoff JSON in the input text", _body({"model": MISSION, "input": handoff}), {400}
    deep_handoff_obj = '<OSS_HANDOFF_JSON>{"a": ' * 1 + '{"b": ' * 20_000 + "1" + "}" * 20_001
    yield "deep handoff object", _body({"model": MISSION, "input": deep_handoff_obj}), {400}
    # A valid mission whose model answers 100,000 nested [: the runtime's parser must cope.
    yield "deep model output", _body({"model": MISSION, "input": handoff_text()}), {200}
    yield "huge string (30 MB)", _body({"model": RAW, "input": "x" * 30_000_000}), ok_or_400
    yield "over the size limit (40 MB)", _body({"model": RAW, "input": "x" * 40_000_000}), {413}
    many = {f"k{i}": i for i in range(1_000_000)}
    yield "a million keys", _body({"model": RAW, "input": "hi", "metadata": many}), {400}
    yield "a million items", _body({"model": RAW, "input": [0] * 1_000_000}), {400}
    yield "invalid UTF-8", b'{"model": "' + RAW.encode() + b'", "input": "\xff\xfe"}', {400}
    yield "UTF-16", json.dumps({"model": RAW, "input": "hi"}).encode("utf-16"), {400}
    yield "not JSON", b"\x00\x01garbage", {400}
    yield "empty body", b"", {400}
    yield "a bare string", b'"hello"', {400}
    yield (
        "huge integer",
        b'{"model": "' + RAW.encode() + b'", "max_output_tokens": ' + (b"9" * 100_000) + b"}",
        {400},
    )
    whole = _body(capture())
    for cut in (1, 10, len(whole) // 3, len(whole) // 2, len(whole) - 2):
        yield f"truncated at {cut}", whole[:cut], {400}
    for name, body in wrong_type_bodies():
        yield name, body, ok_or_400


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_fuzz_set_never_gets_a_5xx_and_memory_stays_bounded(tmp_path: Path):
    project = tmp_path / "served"
    project.mkdir()
    failures: list[str] = []
    counts: dict[int, int] = {}
    with (
        ScriptedUpstream.in_thread(SCRIPT) as upstream,
        real_bridge(tmp_path, project, upstream) as (bridge, base_url),
        httpx.Client(base_url=base_url, headers=AUTH, timeout=120) as client,
    ):
        idle = peak_rss_mib(bridge.pid)
        for name, body, acceptable in fuzz_set():
            answer = client.post(
                "/v1/responses", content=body, headers={"Content-Type": "application/json"}
            )
            counts[answer.status_code] = counts.get(answer.status_code, 0) + 1
            text = answer.text
            if answer.status_code not in acceptable:
                failures.append(f"{name}: HTTP {answer.status_code} {text[:200]}")
            elif answer.status_code >= 400:
                message = answer.json()["error"]["message"]
                assert message and "internal" not in message, (name, message)
        peak = peak_rss_mib(bridge.pid)
        assert client.get("/health").status_code == 200  # still serving
    log_text = "".join(p.read_text(errors="replace") for p in tmp_path.glob("bridge-*.out"))
    print(f"\nfuzz set: {sum(counts.values())} requests, statuses {sorted(counts.items())}; ")
    print(f"bridge peak RSS {peak:.0f} MiB (idle {idle:.0f} MiB)")
    assert failures == [], "\n".join(failures)
    assert "Traceback" not in log_text
    assert peak < PEAK_RSS_LIMIT_MIB
