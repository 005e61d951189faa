"""How long ``codex-oss --help`` and a few light commands take, beside ``python -c pass``.

A user types ``codex-oss --help`` first, and scripts call ``codex-oss claim-status`` or
``mission template`` in loops; both should cost little more than starting Python. The target
is ``codex-oss --help`` under 0.3 s; the baseline, measured in the same run on the same
machine, is the bare interpreter start-up.

Run: ``.venv/bin/python benchmarks/cli_startup.py``
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

TARGET_SECONDS = 0.3
CASES: list[tuple[str, list[str]]] = [
    ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
    ("codex-oss --help", [sys.executable, "-m", "bridge.cli", "--help"]),
    ("codex-oss mission --help", [sys.executable, "-m", "bridge.cli", "mission", "--help"]),
    ("codex-oss certify --help", [sys.executable, "-m", "bridge.cli", "certify", "--help"]),
    (
        "codex-oss mission template --tier A3",
        [sys.executable, "-m", "bridge.cli", "mission", "template", "--tier", "A3"],
    ),
]


def wall_seconds(argv: list[str], rounds: int = 7) -> float:
    """Median wall time of ``rounds`` runs of ``argv`` (output discarded, exit code checked)."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    """Print one line per case; exit 1 when ``codex-oss --help`` misses the target."""
    results = {name: wall_seconds(argv) for name, argv in CASES}
    baseline = results[CASES[0][0]]
    for name, seconds in results.items():
        print(f"{name:40} {seconds * 1000:7.1f} ms  ({seconds / baseline:4.1f}x baseline)")
    helped = results["codex-oss --help"]
    verdict = "meets" if helped < TARGET_SECONDS else "MISSES"
    print(f"codex-oss --help {verdict} the {TARGET_SECONDS * 1000:.0f} ms target")
    return 0 if helped < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
