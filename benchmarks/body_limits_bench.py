"""What the request-body bound costs, beside decoding the same body (the baseline).

Every ``POST`` body passes :func:`runtime.bounded_json.check_json_shape` before any route
decodes it. On real Codex requests (the captures, 10-48 KB) the check should cost about as
much as ``json.loads`` of the body, well under a millisecond, and refuse an absurd body
(100,000 nested ``[``, a million keys) faster than the decoder would fail on it.

Run: ``.venv/bin/python benchmarks/body_limits_bench.py``
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from runtime.bounded_json import JsonLimitError, check_json_shape

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "codex-0.169.0"


def timed_us(work: Callable[[], object], rounds: int = 7, inner: int = 50) -> float:
    """Median microseconds of one call of ``work``."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            work()
        samples.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(samples)


def refused(body: bytes) -> Callable[[], object]:
    def work() -> None:
        try:
            check_json_shape(body)
        except JsonLimitError:
            return
        raise AssertionError("not refused")

    return work


def main() -> None:
    print(f"{'body':44}{'KB':>6}{'check us':>10}{'json.loads us':>15}{'ratio':>7}")
    for path in sorted(CAPTURES.glob("*.json")):
        body = json.dumps(json.loads(path.read_text())["body"]).encode()
        check = timed_us(lambda body=body: check_json_shape(body))
        loads = timed_us(lambda body=body: json.loads(body))
        ratio = check / loads
        print(f"{path.stem:44}{len(body) / 1024:>6.0f}{check:>10.0f}{loads:>15.0f}{ratio:>7.2f}")
    deep = b"[" * 100_000 + b"]" * 100_000
    many = json.dumps({f"k{i}": i for i in range(1_000_000)}).encode()
    for name, body in (("100,000 nested [ (refused)", deep), ("a million keys (refused)", many)):
        check = timed_us(refused(body), rounds=3, inner=3)
        print(f"{name:44}{len(body) / 1024:>6.0f}{check:>10.0f}{'-':>15}{'':>7}")


if __name__ == "__main__":
    main()
