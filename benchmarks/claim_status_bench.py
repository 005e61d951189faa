"""Benchmark: ``codex-oss claim-status`` with 1,000 claim artifacts present.

Target (issue 6): answer in under 0.5 s. Prints the in-process evaluation time and the wall
time of the whole command (interpreter start, imports, hashing the code once, reading every
artifact), beside that target.

    .venv/bin/python benchmarks/claim_status_bench.py [--artifacts 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bridge.claims import (
    TestOutcome,
    build_artifact,
    project_status,
    write_artifact,
)
from bridge.tree_hashes import tree_hashes

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5


def make_artifacts(claims_dir: Path, count: int) -> None:
    """``count`` supported artifacts proven on the code as it is now, 5 tests each."""
    hashes = tree_hashes(ROOT)
    now = datetime.now(UTC)
    for index in range(count):
        tests = [
            TestOutcome(f"proof_packs/test_bench_{index}.py::test_{n}", "passed", 0.01)
            for n in range(5)
        ]
        artifact = build_artifact(
            f"bench-claim-{index:04d}",
            tests,
            depends_on=("runtime", "bridge"),
            source_hashes=hashes,
            when=now,
            run_id="bench",
            git_commit=None,
            python_version="3",
            pytest_version="9",
        )
        artifact["proof_files"] = {"proof_packs/conftest.py": "0" * 64}
        write_artifact(claims_dir, artifact)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        claims_dir = Path(folder) / "claims"
        make_artifacts(claims_dir, options.artifacts)

        in_process = []
        for _ in range(options.repeat):
            start = time.perf_counter()
            statuses = project_status(ROOT, claims_dir=claims_dir)
            in_process.append(time.perf_counter() - start)
        assert len(statuses) >= options.artifacts

        command = [
            sys.executable, "-c", "from bridge.cli import main; main()",
            "claim-status", "--project", str(ROOT), "--claims-dir", str(claims_dir),
        ]  # fmt: skip
        whole = []
        for _ in range(options.repeat):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            whole.append(time.perf_counter() - start)
        assert done.returncode in (0, 1), done.stderr

    print(f"claim-status with {options.artifacts} artifacts ({options.repeat} runs, median)")
    print(f"  evaluation in process : {statistics.median(in_process) * 1000:7.1f} ms")
    print(f"  whole command         : {statistics.median(whole) * 1000:7.1f} ms")
    print(f"  target                : {TARGET_SECONDS * 1000:7.1f} ms")
    verdict = "within" if statistics.median(whole) < TARGET_SECONDS else "OVER"
    print(f"  {verdict} target")


if __name__ == "__main__":
    main()
