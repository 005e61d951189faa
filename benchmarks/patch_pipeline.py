"""Patch pipeline figures: building diffs, validating intents, and the cost of A5 isolation.

Rows (median of ``--repeat`` runs, milliseconds):

- ``build N lines``: pure diff + rollback building for a one-line edit in an N-line file;
- ``validate``: the whole validation of that intent (scope, build, limits, secret scan,
  ``git apply --check``, forward-and-back round trip in a scratch copy);
- ``A5 step``: one full ``run_patch_step`` with a verification command that does nothing,
  i.e. what isolation itself costs (worktree add, copy owned files, apply, remove);

each beside its baseline: ``git apply --check`` alone for validation, ``git worktree add`` +
``remove`` alone for the A5 step, and ``difflib.unified_diff`` for building.

Run: ``python benchmarks/patch_pipeline.py [--lines 1000,10000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_opencode_bridge.harness import make_git_project
from runtime.eventlog import MissionEventLog, new_run_id
from runtime.mission import Tier, compile_mission, template
from runtime.patches.build import build_patch
from runtime.patches.intent import parse_intent
from runtime.patches.pipeline import run_patch_step
from runtime.patches.validate import run_git, validate_intent
from runtime.redact import Redactor


def source(lines: int) -> str:
    return "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(lines // 2))


def intent_for(text: str) -> dict[str, Any]:
    return {
        "edits": [
            {
                "path": "pkg/big.py",
                "operation": "replace_exact",
                "old_text": "    return x + 7\n",
                "new_text": "    return x + 8\n",
            }
        ],
        "rationale": "benchmark",
    }


def project(root: Path, text: str) -> Path:
    return make_git_project(root, {"pkg/big.py": text, ".gitignore": ".codex-oss/\n"})


def median_ms(action: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'figure':<28}{'ours ms':>10}{'baseline ms':>14}  baseline")
    for lines in (int(n) for n in args.lines.split(",")):
        measure(lines, args.repeat)


def measure(lines: int, repeat: int) -> None:
    """Print the three rows for an ``lines``-line file."""
    redactor = Redactor()
    text = source(lines)
    after = text.replace("    return x + 7\n", "    return x + 8\n", 1)
    intent = parse_intent(intent_for(text))
    build = median_ms(lambda: build_patch(intent.edits, {"pkg/big.py": text}), repeat)
    plain = median_ms(
        lambda: "".join(difflib.unified_diff(text.splitlines(True), after.splitlines(True))),
        repeat,
    )
    print(f"{f'build {lines} lines':<28}{build:>10.1f}{plain:>14.1f}  difflib only")
    with tempfile.TemporaryDirectory() as scratch:
        root = project(Path(scratch) / "p", text)
        data = template(Tier.A5, "bench", "bench", owned_paths=["pkg"])
        data["verification"] = {"commands": [[sys.executable, "-c", "pass"]]}
        mission = compile_mission(data).mission
        diff = build_patch(intent.edits, {"pkg/big.py": text}).diff
        validate = median_ms(lambda: validate_intent(root, mission, intent, redactor), repeat)
        check = median_ms(lambda: run_git(["apply", "--check", "-"], root, diff), repeat)
        print(
            f"{f'validate {lines} lines':<28}{validate:>10.1f}{check:>14.1f}  "
            "git apply --check only"
        )
        with MissionEventLog.create(root, new_run_id(), "bench") as log:

            def step() -> None:
                asyncio.run(
                    run_patch_step(
                        project_root=root,
                        mission=mission,
                        intent_data=intent_for(text),
                        round=1,
                        redactor=redactor,
                        report=None,
                        append=log.append,
                    )
                )

            a5 = median_ms(step, repeat)
        worktree = root / ".codex-oss/wt-baseline"

        def bare_worktree() -> None:
            add = ["git", "worktree", "add", "-q", "--detach", str(worktree)]
            subprocess.run(add, cwd=root, check=True)
            remove = ["git", "worktree", "remove", "--force", str(worktree)]
            subprocess.run(remove, cwd=root, check=True)

        bare = median_ms(bare_worktree, repeat)
        print(
            f"{f'A5 step {lines} lines':<28}{a5:>10.1f}{bare:>14.1f}  git worktree add+remove only"
        )


if __name__ == "__main__":
    main()
