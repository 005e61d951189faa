"""Canary replay: run a recorded canary mission against the current runtime.

A canary is a folder under ``canaries/`` whose ``canary.json`` names the handoff, the scripted
model turns, the fixture repository and the expected results (status, the promoted diff, the
promoted files). A replay materialises the repository as a fresh git project, plays the turns
through :class:`~bridge.scripted_upstream.ScriptedUpstream` over real HTTP
into ``runtime.runner.run_mission``, promotes a verified patch and rolls it back, then reduces
the event log and normalises the RunRecord so two replays of the same runtime compare equal.

The proof pack ``proof_packs/test_proof_canaries.py`` compares the normalised record with a
syrupy snapshot. After an intended change, re-record and review the diffs:

- the canary's expected files: ``python -m pytest_opencode_bridge.replay canaries/NAME --write``
- the snapshot: ``pytest proof_packs/test_proof_canaries.py --snapshot-update``
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syrupy.extensions.amber import AmberSnapshotExtension

from pytest_opencode_bridge.harness import MissionRunner, make_git_project
from runtime.patches.status import PatchStatus

__all__ = [
    "CANARY_SCHEMA",
    "Canary",
    "CanaryError",
    "RecordSnapshotExtension",
    "Replay",
    "breadcrumb",
    "discover_canaries",
    "normalise_record",
    "replay",
    "write_expected",
]

CANARY_SCHEMA = "canary.v1"
PYTHON_PLACEHOLDER = "{python}"
PROJECT_PLACEHOLDER = "{project}"
DURATION_PLACEHOLDER = "{duration}"
PROMOTED_STATUS = PatchStatus.VERIFIED

# Keys whose values change from one replay to the next (ids, clocks, latencies, hashes over
# those, command output with timings and install paths) or with every added event (seq).
VOLATILE_KEYS = frozenset(
    {
        "run_id",
        "seq",
        "requested_seq",
        "outcome_seq",
        "created_at",
        "started_at",
        "updated_at",
        "finalized_at",
        "head_hash",
        "latency_ms",
        "duration_ms",
        # the fixture commit's hash depends on the time it was committed
        "base_commit",
        "output",
        "output_tail",
        # the prompt shows the verification argv, so its size follows the interpreter's path
        "input_tokens",
        "output_tokens",
    }
)
# Durations inside rendered text, e.g. the review's "(exit 0, 0.4s)".
_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s)\b")
_REQUIRED = ("name", "alias", "repo", "handoff", "script")
_DIFF_CONTEXT = 3
_KEY_LINE = re.compile(r"^(\s*)'([^']+)': ")


class CanaryError(ValueError):
    """A canary folder that cannot be replayed; the message names the file and field."""


@dataclass(frozen=True)
class Canary:
    """One canary folder and its manifest (``canary.json``)."""

    root: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, root: Path) -> Canary:
        """Read and check ``root/canary.json``."""
        source = root / "canary.json"
        try:
            manifest = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise CanaryError(f"{source}: not found; a canary folder needs canary.json") from error
        except json.JSONDecodeError as error:
            raise CanaryError(f"{source}: invalid JSON ({error})") from error
        _check_manifest(manifest, source)
        return cls(root, manifest)

    @property
    def name(self) -> str:
        """The canary's name (also its folder name)."""
        return str(self.manifest["name"])

    @property
    def expected(self) -> Mapping[str, Any]:
        """The manifest's ``expected`` table."""
        return self.manifest["expected"]

    def data(self, key: str) -> Any:
        """A JSON file the manifest names, with ``{python}`` filled in."""
        text = (self.root / self.manifest[key]).read_text(encoding="utf-8")
        return substitute(json.loads(text), {PYTHON_PLACEHOLDER: sys.executable})

    def expected_path(self, key: str) -> Path:
        """The file the manifest's ``expected.<key>`` names."""
        return self.root / self.expected[key]

    def expected_files(self) -> dict[str, str]:
        """``{project path: expected text}`` of the files as promoted."""
        return {
            path: (self.root / stored).read_text(encoding="utf-8")
            for path, stored in self.expected.get("promoted_files", {}).items()
        }

    def repo_files(self) -> dict[str, str]:
        """The fixture repository's files, by relative path."""
        repo = self.root / self.manifest["repo"]
        return {
            path.relative_to(repo).as_posix(): path.read_text(encoding="utf-8")
            for path in _files(repo)
        }

    def proof_files(self, repo_root: Path) -> list[str]:
        """Every file of the canary, relative to ``repo_root`` (what a claim's proof reads)."""
        return [path.relative_to(repo_root).as_posix() for path in _files(self.root)]


def _files(folder: Path) -> list[Path]:
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]


@dataclass
class Replay:
    """What one replay produced."""

    status: str
    record: dict[str, Any]
    patch_diff: str
    promoted_files: dict[str, str]
    restored: bool | None
    final_text: str


def discover_canaries(root: Path) -> list[Canary]:
    """Every canary under ``root`` (folders holding ``canary.json``), by name."""
    return [Canary.load(path.parent) for path in sorted(root.glob("*/canary.json"))]


async def replay(
    canary: Canary, workdir: Path, *, script: Mapping[str, Any] | None = None
) -> Replay:
    """Run the canary's mission on a fresh copy of its repository under ``workdir``.

    A verified patch is then promoted (its files are read back) and rolled back (``restored``
    says whether the workspace came back byte for byte). ``script`` replaces the recorded
    model turns, to see how a different model answer changes the record.
    """
    from runtime.eventlog import load_events
    from runtime.patches import promote, rollback
    from runtime.record import reduce

    original = canary.repo_files()
    project = make_git_project(workdir / canary.name, original)
    handoff = canary.data("handoff")
    text = f"Please do this.\n<OSS_HANDOFF_JSON>{json.dumps(handoff)}</OSS_HANDOFF_JSON>"
    run = await MissionRunner().run(
        project,
        script if script is not None else canary.data("script"),
        alias=canary.manifest["alias"],
        handoff=text,
    )
    diff_path = run.outcome.artifacts / "patch.diff"
    patch_diff = diff_path.read_text(encoding="utf-8") if diff_path.is_file() else ""
    promoted: dict[str, str] = {}
    restored: bool | None = None
    if run.outcome.status == PROMOTED_STATUS:
        promote(project, handoff["mission_id"])
        promoted = {
            path: (project / path).read_text(encoding="utf-8")
            for path in canary.expected.get("promoted_files", {})
        }
        rollback(project, handoff["mission_id"])
        restored = all(
            (project / path).read_text(encoding="utf-8") == original.get(path) for path in promoted
        )
    record = reduce(load_events(run.log_path)).model_dump(mode="json")
    return Replay(
        status=run.outcome.status,
        record=normalise_record(record, project=project),
        patch_diff=patch_diff,
        promoted_files=promoted,
        restored=restored,
        final_text=run.outcome.final_text,
    )


def normalise_record(record: Mapping[str, Any], *, project: Path | None = None) -> dict[str, Any]:
    """The parts of a RunRecord that two replays of the same runtime share.

    Dropped: ids, timestamps, log hashes, latencies, durations, token counts, command output,
    event sequence numbers. Kept: mission, route, clamps, statuses, closure, actions, tool
    calls, denials, evidence ranges, budgets, the report, the patch state and its diff hashes
    (content-addressed, so deterministic), commentary, projection names. This interpreter's
    path becomes ``{python}``, ``project`` becomes ``{project}``, durations in text become
    ``{duration}``.
    """
    data = dict(record)
    evidence = data.get("evidence") or {}
    # Keyed by seq; as a list in log order the ranges survive an added event.
    data["evidence"] = [evidence[key] for key in sorted(evidence, key=int)]
    data["projections"] = [item["name"] for item in data.get("projections") or []]
    values = {sys.executable: PYTHON_PLACEHOLDER}
    if project is not None:
        values[str(project)] = PROJECT_PLACEHOLDER
        values[str(project.resolve())] = PROJECT_PLACEHOLDER
    return _scrub(data, values)


def _scrub(obj: Any, values: Mapping[str, str]) -> Any:
    if isinstance(obj, Mapping):
        return {
            key: _scrub(value, values) for key, value in obj.items() if key not in VOLATILE_KEYS
        }
    if isinstance(obj, list | tuple):
        return [_scrub(item, values) for item in obj]
    if isinstance(obj, str):
        for old, new in sorted(values.items(), key=lambda item: -len(item[0])):
            obj = obj.replace(old, new)
        return _DURATION.sub(DURATION_PLACEHOLDER, obj)
    return obj


def substitute(obj: Any, values: Mapping[str, str]) -> Any:
    """``obj`` with every string equal to a placeholder replaced by its value."""
    if isinstance(obj, str):
        return values.get(obj, obj)
    if isinstance(obj, list):
        return [substitute(item, values) for item in obj]
    if isinstance(obj, dict):
        return {key: substitute(value, values) for key, value in obj.items()}
    return obj


class RecordSnapshotExtension(AmberSnapshotExtension):
    """syrupy's amber snapshots, with a drift diff that shows every change.

    syrupy's own diff shows a window of lines around the first change only, so in a record of
    hundreds of lines a later change can go unseen. This one shows every hunk, each headed by
    the keys that lead to it (``@@ tool_calls > arguments @@``). The stored format is amber,
    unchanged. Use it with ``snapshot.use_extension(RecordSnapshotExtension)``.
    """

    def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
        """``- snapshot`` / ``+ replay`` lines of every hunk, with a breadcrumb header."""
        old = str(snapshot_data).splitlines()
        new = str(serialized_data).splitlines()
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for group in matcher.get_grouped_opcodes(_DIFF_CONTEXT):
            changed = next(op for op in group if op[0] != "equal")
            yield f"@@ {breadcrumb(old, changed[1]) or '(top)'} @@"
            for tag, i1, i2, j1, j2 in group:
                if tag == "equal":
                    yield from (f"  {line}" for line in old[i1:i2])
                    continue
                yield from (f"- {line}" for line in old[i1:i2])
                yield from (f"+ {line}" for line in new[j1:j2])


def breadcrumb(lines: list[str], index: int) -> str:
    """The dict keys enclosing ``lines[index]`` in an amber dump, outermost first."""
    keys: list[str] = []
    start = min(index, len(lines) - 1)
    if start < 0:
        return ""
    indent = len(lines[start]) - len(lines[start].lstrip())
    for line in reversed(lines[:start]):
        match = _KEY_LINE.match(line)
        if match and len(match.group(1)) < indent:
            keys.append(match.group(2))
            indent = len(match.group(1))
    return " > ".join(reversed(keys))


def write_expected(canary: Canary, result: Replay) -> None:
    """Overwrite the canary's expected diff and promoted files with ``result``."""
    canary.expected_path("promoted_diff").write_text(result.patch_diff, encoding="utf-8")
    for path, text in result.promoted_files.items():
        target = canary.root / canary.expected["promoted_files"][path]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _check_manifest(manifest: Any, source: Path) -> None:
    if not isinstance(manifest, dict):
        raise CanaryError(f"{source}: must hold a JSON object")
    if manifest.get("schema_version") != CANARY_SCHEMA:
        raise CanaryError(
            f"{source}: schema_version must be {CANARY_SCHEMA!r}, "
            f"got {manifest.get('schema_version')!r}"
        )
    for key in _REQUIRED:
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise CanaryError(f"{source}: {key} must be a non-empty string")
    if manifest["name"] != source.parent.name:
        raise CanaryError(
            f"{source}: name {manifest['name']!r} must match the folder {source.parent.name!r}"
        )
    for key in ("handoff", "script"):
        if not (source.parent / manifest[key]).is_file():
            raise CanaryError(f"{source}: {key} names {manifest[key]!r}, which is not a file")
    if not (source.parent / manifest["repo"]).is_dir():
        raise CanaryError(f"{source}: repo names {manifest['repo']!r}, which is not a folder")
    expected = manifest.get("expected")
    if not isinstance(expected, dict):
        raise CanaryError(f"{source}: expected must be an object")
    if not isinstance(expected.get("status"), str):
        raise CanaryError(f"{source}: expected.status must be a string (e.g. 'VERIFIED')")
    if not isinstance(expected.get("promoted_diff"), str):
        raise CanaryError(f"{source}: expected.promoted_diff must name a file")
    files = expected.get("promoted_files", {})
    if not isinstance(files, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in files.items()
    ):
        raise CanaryError(f"{source}: expected.promoted_files must map paths to files")


def main(argv: list[str]) -> int:
    """``python -m pytest_opencode_bridge.replay CANARY_DIR [--write]``: replay one canary,
    print its answer, and with ``--write`` re-record its expected diff and files."""
    paths = [arg for arg in argv if not arg.startswith("--")]
    if len(paths) != 1 or set(argv) - {*paths, "--write"}:
        print(main.__doc__, file=sys.stderr)
        return 2
    try:
        canary = Canary.load(Path(paths[0]))
    except CanaryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="canary-"))
    try:
        result = asyncio.run(replay(canary, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(result.final_text)
    if "--write" in argv:
        write_expected(canary, result)
        print(f"wrote the expected files of {canary.root}")
        print("now: pytest proof_packs/test_proof_canaries.py --snapshot-update, and review")
    return 0 if result.status == canary.expected["status"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
