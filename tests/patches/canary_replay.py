"""Replay a recorded canary (``canaries/<name>/``) against the current runtime.

A canary directory is self-describing: ``canary.json`` names the handoff, the scripted model
turns, the fixture repository and the expected results (status, a normalised RunRecord, the
promoted diff and the promoted files). The replay materialises the repository as a fresh git
project, runs the mission through the real runner against the scripted upstream over real
HTTP, promotes the patch, and returns everything a test compares.

Re-record the expected files after an intended change (then review the diff):
``python -m tests.patches.canary_replay canaries/fix-page-count --write``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_opencode_bridge.harness import MissionRunner, make_git_project
from runtime.eventlog import load_events
from runtime.record import reduce

PYTHON_PLACEHOLDER = "{python}"


@dataclass(frozen=True)
class Canary:
    """One canary directory and its manifest."""

    root: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, root: Path) -> Canary:
        return cls(root, json.loads((root / "canary.json").read_text(encoding="utf-8")))

    def data(self, key: str) -> Any:
        """A JSON file the manifest names, with the placeholders filled in."""
        text = (self.root / self.manifest[key]).read_text(encoding="utf-8")
        return substitute(json.loads(text), {PYTHON_PLACEHOLDER: sys.executable})

    def expected_path(self, key: str) -> Path:
        return self.root / self.manifest["expected"][key]

    def repo_files(self) -> dict[str, str]:
        repo = self.root / self.manifest["repo"]
        return {
            path.relative_to(repo).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(repo.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        }


@dataclass
class Replay:
    """What one replay produced."""

    status: str
    record: dict[str, Any]
    patch_diff: str
    promoted_files: dict[str, str]
    final_text: str


def substitute(obj: Any, values: dict[str, str]) -> Any:
    """``obj`` with every string equal to a placeholder replaced by its value."""
    if isinstance(obj, str):
        return values.get(obj, obj)
    if isinstance(obj, list):
        return [substitute(item, values) for item in obj]
    if isinstance(obj, dict):
        return {key: substitute(value, values) for key, value in obj.items()}
    return obj


async def replay(canary: Canary, workdir: Path) -> Replay:
    """Run the canary's mission on a fresh copy of its repository, then promote the patch."""
    from runtime.patches.promote import promote

    project = make_git_project(workdir / canary.manifest["name"], canary.repo_files())
    handoff = canary.data("handoff")
    text = f"Please do this.\n<OSS_HANDOFF_JSON>{json.dumps(handoff)}</OSS_HANDOFF_JSON>"
    run = await MissionRunner().run(
        project, canary.data("script"), alias=canary.manifest["alias"], handoff=text
    )
    patch_diff = (run.outcome.artifacts / "patch.diff").read_text(encoding="utf-8")
    if run.outcome.status == "VERIFIED":
        promote(project, handoff["mission_id"])
    expected_files = canary.manifest["expected"].get("promoted_files", {})
    promoted = {path: (project / path).read_text(encoding="utf-8") for path in expected_files}
    events = load_events(run.log_path)
    return Replay(
        status=run.outcome.status,
        record=normalise_record(reduce(events).model_dump(mode="json")),
        patch_diff=patch_diff,
        promoted_files=promoted,
        final_text=run.outcome.final_text,
    )


def normalise_record(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of a RunRecord that must not change between replays (no ids, times, hashes
    of the log, latencies or command output), with this machine's Python put back as
    ``{python}``."""
    impl = record["implementation"]
    validation = impl.get("validation") or {}
    stable = {
        "mission_id": record["mission_id"],
        "status": record["status"],
        "closure_reason": record["closure_reason"],
        "closed_by": record["closed_by"],
        "model_calls": record["model_calls"]["count"],
        "actions": [
            {key: action[key] for key in ("turn", "action_type", "tool_name", "valid")}
            for action in record["actions"]
        ],
        "tool_calls": [
            {key: call[key] for key in ("tool_name", "arguments", "status")}
            for call in record["tool_calls"]
        ],
        "denials": [denial["reason_code"] for denial in record["denials"]],
        "files_inspected": record["files_inspected"],
        "report_status": (record.get("report") or {}).get("status"),
        "implementation": {
            "intent_rounds": impl["intent_rounds"],
            "intent": impl["intent"],
            "validation": {
                key: validation.get(key)
                for key in (
                    "ok",
                    "reasons",
                    "escalate",
                    "diff_sha256",
                    "files_changed",
                    "patch_bytes",
                    "base_sha256",
                    "result_sha256",
                )
            },
            "applied": _pick(impl.get("applied"), ("worktree", "diff_sha256")),
            "verifications": [
                _pick(v, ("argv", "exit_code", "timed_out")) for v in impl["verifications"]
            ],
            # (their seq moves with every commentary line, so it is left out)
            "rollback": _without_seq(impl.get("rollback")),
            "promoted": _without_seq(impl.get("promoted")),
            "rolled_back": _without_seq(impl.get("rolled_back")),
        },
    }
    return substitute(stable, {sys.executable: PYTHON_PLACEHOLDER})


def _without_seq(data: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if data is None else {k: v for k, v in data.items() if k != "seq"}


def _pick(data: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    return None if data is None else {key: data.get(key) for key in keys}


def write_expected(canary: Canary, result: Replay) -> None:
    """Overwrite the canary's expected files with ``result`` (for an intended change)."""
    canary.expected_path("run_record").write_text(
        json.dumps(result.record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    canary.expected_path("promoted_diff").write_text(result.patch_diff, encoding="utf-8")
    for path, text in result.promoted_files.items():
        target = canary.root / canary.manifest["expected"]["promoted_files"][path]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    """``python -m tests.patches.canary_replay CANARY_DIR [--write]``."""
    canary = Canary.load(Path(argv[0]))
    workdir = Path(tempfile.mkdtemp(prefix="canary-"))
    try:
        result = asyncio.run(replay(canary, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(result.final_text)
    if "--write" in argv:
        write_expected(canary, result)
        print(f"wrote the expected files of {canary.root}")
    return 0 if result.status == canary.manifest["expected"]["status"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
