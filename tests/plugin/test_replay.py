"""Canary replay (pytest_opencode_bridge.replay): loading canaries, normalising RunRecords,
re-recording, and drift against the committed snapshot showing as a readable diff."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.amber.serializer import AmberDataSerializer

from pytest_opencode_bridge.replay import (
    Canary,
    CanaryError,
    RecordSnapshotExtension,
    breadcrumb,
    discover_canaries,
    main,
    normalise_record,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
CANARIES = ROOT / "canaries"
SNAPSHOT = ROOT / "proof_packs" / "__snapshots__" / "test_proof_canaries.ambr"


def raw_record(project: Path) -> dict[str, Any]:
    """A RunRecord-shaped dict carrying every kind of value the normaliser must handle."""
    return {
        "run_id": "20260101T000000Z-abcd",
        "status": "VERIFIED",
        "started_at": "2026-01-01T00:00:00+00:00",
        "head_hash": "sha256:00",
        "model_calls": {"count": 2, "latency_ms": 12.5, "input_tokens": 900, "ok": 2},
        "actions": [{"seq": 4, "turn": 1, "tool_name": "read"}],
        "evidence": {
            "11": {"seq": 11, "path": "b.py", "start_line": 1, "end_line": 3},
            "6": {"seq": 6, "path": "a.py", "start_line": 2, "end_line": 9},
        },
        "implementation": {
            "applied": {"seq": 23, "base_commit": "8d24785", "diff_sha256": "sha256:1f"},
            "verifications": [
                {"argv": [sys.executable, "-m", "pytest"], "exit_code": 0, "output": "1 passed"}
            ],
        },
        "commentary": [{"seq": 2, "text": f"verification {sys.executable} -m pytest: exit 0"}],
        "report": {"review": f"ran in {project}/src (exit 0, 0.4s) in 120ms"},
        "projections": [{"seq": 32, "name": "report.json", "sha256": "sha256:ab"}],
    }


def test_normalise_drops_ids_clocks_hashes_of_the_log_and_command_output(tmp_path):
    record = normalise_record(raw_record(tmp_path), project=tmp_path)

    assert "run_id" not in record and "started_at" not in record and "head_hash" not in record
    assert record["model_calls"] == {"count": 2, "ok": 2}
    assert record["actions"] == [{"turn": 1, "tool_name": "read"}]
    applied = record["implementation"]["applied"]
    assert applied == {"diff_sha256": "sha256:1f"}  # the content hash stays
    assert "output" not in record["implementation"]["verifications"][0]
    assert record["projections"] == ["report.json"]


def test_normalise_keeps_evidence_ranges_in_log_order_without_seq(tmp_path):
    record = normalise_record(raw_record(tmp_path), project=tmp_path)

    assert record["evidence"] == [
        {"path": "a.py", "start_line": 2, "end_line": 9},
        {"path": "b.py", "start_line": 1, "end_line": 3},
    ]


def test_normalise_replaces_the_interpreter_the_project_and_durations(tmp_path):
    record = normalise_record(raw_record(tmp_path), project=tmp_path)

    argv = record["implementation"]["verifications"][0]["argv"]
    assert argv == ["{python}", "-m", "pytest"]
    assert record["commentary"] == [{"text": "verification {python} -m pytest: exit 0"}]
    assert record["report"]["review"] == "ran in {project}/src (exit 0, {duration}) in {duration}"
    assert str(tmp_path) not in json.dumps(record)


def amber(data: Any) -> str:
    return AmberDataSerializer.serialize(data)


def test_the_drift_diff_shows_changes_far_apart_each_under_its_keys():
    recorded = {"calls": [{"n": n} for n in range(300)], "status": "VERIFIED"}
    replayed = {"calls": [{"n": n} for n in range(300)], "status": "REJECTED"}
    replayed["calls"][0] = {"n": -1}

    lines = list(RecordSnapshotExtension().diff_lines(amber(replayed), amber(recorded)))

    assert lines.count("@@ calls @@") == 1 and lines.count("@@ (top) @@") == 1
    assert "-       'n': 0," in lines and "+       'n': -1," in lines
    assert "-   'status': 'VERIFIED'," in lines and "+   'status': 'REJECTED'," in lines
    assert len(lines) < 30  # only the hunks, not the 1,200 unchanged lines


def test_breadcrumb_names_the_enclosing_keys():
    lines = amber({"outer": {"inner": {"leaf": 1}}}).splitlines()
    leaf = next(index for index, line in enumerate(lines) if "'leaf'" in line)
    assert breadcrumb(lines, leaf) == "outer > inner"


def test_the_repository_canaries_are_discovered():
    names = [canary.name for canary in discover_canaries(CANARIES)]
    assert "fix-page-count" in names


def copy_canary(tmp_path: Path, name: str = "fix-page-count") -> Path:
    target = tmp_path / "canaries" / name
    shutil.copytree(CANARIES / name, target)
    return target


def edit_manifest(root: Path, **changes: Any) -> None:
    path = root / "canary.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"schema_version": "canary.v0"}, "schema_version must be 'canary.v1'"),
        ({"name": "other"}, "name 'other' must match the folder 'fix-page-count'"),
        ({"script": "missing.json"}, "script names 'missing.json', which is not a file"),
        ({"alias": ""}, "alias must be a non-empty string"),
        ({"expected": {"promoted_diff": "promoted.diff"}}, "expected.status must be a string"),
    ],
)
def test_a_bad_manifest_names_the_field(tmp_path, changes, fragment):
    root = copy_canary(tmp_path)
    edit_manifest(root, **changes)
    with pytest.raises(CanaryError, match=r"canary\.json") as error:
        Canary.load(root)
    assert fragment in str(error.value)


def test_a_folder_without_canary_json_is_a_clear_error(tmp_path):
    with pytest.raises(CanaryError, match=r"a canary folder needs canary\.json"):
        Canary.load(tmp_path)


def test_write_re_records_the_expected_diff_and_files(tmp_path, capsys):
    root = copy_canary(tmp_path)
    (root / "promoted.diff").write_text("stale\n", encoding="utf-8")
    (root / "expected/src/pager/paginate.py").write_text("stale\n", encoding="utf-8")

    assert main([str(root), "--write"]) == 0

    original = CANARIES / "fix-page-count"
    assert (root / "promoted.diff").read_text() == (original / "promoted.diff").read_text()
    promoted = "expected/src/pager/paginate.py"
    assert (root / promoted).read_text() == (original / promoted).read_text()
    assert "--snapshot-update" in capsys.readouterr().out


def test_the_entry_point_refuses_unknown_options(capsys):
    assert main([str(CANARIES / "fix-page-count"), "--rewrite"]) == 2
    assert "CANARY_DIR" in capsys.readouterr().err


DRIFTED_PACK = """\
import pytest

from pytest_opencode_bridge.replay import Canary, RecordSnapshotExtension, replay

CANARY = Canary.load(__import__("pathlib").Path({root!r}))


@pytest.mark.parametrize("canary", [CANARY], ids=lambda canary: canary.name)
async def test_canary_replays_to_its_snapshot(canary, tmp_path, snapshot):
    script = canary.data("script")
    # The model now greps for a looser pattern: the runtime records a different tool call.
    script["kimi-k2.6"][0]["action"]["arguments"]["pattern"] = "page_count"
    result = await replay(canary, tmp_path, script=script)
    expected = snapshot.use_extension(RecordSnapshotExtension)
    # The message carries the whole diff: pytest shortens its own explanation unless -vv.
    assert result.record == expected, "\\n".join(expected.get_assert_diff())
"""


def test_a_drifted_replay_fails_against_the_snapshot_with_a_diff_naming_the_field(
    pytester: pytest.Pytester,
):
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\naddopts = "-p no:cacheprovider"\n'
    )
    snapshots = pytester.mkdir("__snapshots__")
    shutil.copy(SNAPSHOT, snapshots / SNAPSHOT.name)
    pytester.makepyfile(
        test_proof_canaries=DRIFTED_PACK.format(root=str(CANARIES / "fix-page-count"))
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "Full output truncated" not in text.split("assert [+ received]")[0]
    # syrupy's diff: the recorded value on a "-" line, the replayed one on a "+" line
    result.stdout.re_match_lines([r"^E?\s*-\s+'pattern': 'def page_count',$"])
    result.stdout.re_match_lines([r"^E?\s*\+\s+'pattern': 'page_count',$"])
    assert "searching src for 'page_count'" in text
    # every hunk is shown without -vv, headed by the keys that lead to it
    result.stdout.fnmatch_lines(["*@@ tool_calls > arguments @@*"])
