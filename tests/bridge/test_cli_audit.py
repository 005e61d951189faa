"""``codex-oss verify-log | show-summary | show-trace | audit-mission`` against real logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from runtime.blobs import blob_dir, write_blob
from runtime.canonical import tagged_sha256
from runtime.eventlog import MissionEventLog
from runtime.events import (
    CommentaryEmitted,
    MissionAdmitted,
    MissionFinalized,
    PatchIntentProposed,
    PatchValidated,
    ReportValidated,
    RollbackRecorded,
    Route,
)
from runtime.mission import Tier, compile_mission, template
from runtime.projections import mission_dir, write_projections
from runtime.recovery import own_run
from tests.observations import observed_read

CODEX_OSS = Path(sys.executable).with_name("codex-oss")
ROUTE = Route(alias="mission-a3-kimi", profile="kimi", upstream_model="kimi-k2.6")
REPORT = {"status": "COMPLETE", "confidence": "HIGH", "findings": []}


def _mission_run(project: Path, run_id: str = "run-1", *, project_it: bool = True) -> Path:
    log = MissionEventLog.create(project, run_id, "m-1")
    log.append(MissionAdmitted(mission={"tier": "A3", "objective": "Find it"}, route=ROUTE))
    for index in range(4):
        log.append(observed_read(f"f{index}.py", "x", call_id=index, end_line=5))
        log.append(CommentaryEmitted(text=f"read f{index}.py"))
    log.append(ReportValidated(status="COMPLETE", report=REPORT))
    log.append(MissionFinalized(status="COMPLETE", closure_reason="answer_found"))
    if project_it:
        for payload in write_projections(project, log.events()):
            log.append(payload)
    return log.path


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _codex_oss(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [str(CODEX_OSS), *args], capture_output=True, text=True, timeout=60, check=False
    )


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# --- verify-log through the real console script ------------------------------------------


def test_verify_log_accepts_an_intact_log(tmp_path: Path) -> None:
    _mission_run(tmp_path)
    done = _codex_oss("verify-log", "run-1", "--project", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: ")


def test_verify_log_detects_a_flipped_byte(tmp_path: Path) -> None:
    path = _mission_run(tmp_path)
    data = bytearray(path.read_bytes())
    # Flip one bit inside the payload of event 5 ("read f1.py" becomes "read f0.py").
    position = data.index(b'"text":"read f1.py"') + len('"text":"read f')
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    done = _codex_oss("verify-log", str(path), "--json")
    assert done.returncode == 1
    problems = json.loads(done.stdout)["problems"]
    assert [(p["kind"], p["seq"]) for p in problems] == [("tampered", 5)]


def test_verify_log_detects_a_deleted_line(tmp_path: Path) -> None:
    path = _mission_run(tmp_path)
    lines = _lines(path)
    del lines[4]
    path.write_bytes(b"".join(lines))
    done = _codex_oss("verify-log", str(path.parent), "--json")
    assert done.returncode == 1
    assert [(p["kind"], p["seq"]) for p in json.loads(done.stdout)["problems"]] == [("deleted", 5)]


def test_verify_log_detects_two_swapped_lines(tmp_path: Path) -> None:
    path = _mission_run(tmp_path)
    lines = _lines(path)
    lines[2], lines[3] = lines[3], lines[2]
    path.write_bytes(b"".join(lines))
    done = _codex_oss("verify-log", "run-1", "--project", str(tmp_path))
    assert done.returncode == 1
    assert "reordered" in done.stdout and "seq 3 comes after seq 4" in done.stdout


def test_verify_log_of_an_unknown_run_is_a_usage_error(tmp_path: Path) -> None:
    code, output = _cli("verify-log", "no-such-run", "--project", str(tmp_path))
    assert code == 2 and "neither a log file nor a run id" in output


# --- show-summary / show-trace -------------------------------------------------------------


def test_show_summary_prints_the_markdown(tmp_path: Path) -> None:
    _mission_run(tmp_path)
    code, output = _cli("show-summary", "m-1", "--project", str(tmp_path))
    assert code == 0 and "# Mission m-1" in output


def test_show_summary_defaults_to_the_latest_mission_and_has_json(tmp_path: Path) -> None:
    _mission_run(tmp_path)
    code, output = _cli("show-summary", "--project", str(tmp_path), "--json")
    assert code == 0 and json.loads(output)["status"] == "COMPLETE"


def test_show_summary_of_nothing_is_a_usage_error(tmp_path: Path) -> None:
    assert _cli("show-summary", "--project", str(tmp_path))[0] == 2
    assert _cli("show-summary", "nope", "--project", str(tmp_path))[0] == 2


def test_show_trace_prints_one_line_per_event(tmp_path: Path) -> None:
    _mission_run(tmp_path)
    code, output = _cli("show-trace", "m-1", "--project", str(tmp_path))
    lines = output.splitlines()
    assert code == 0 and len(lines) == 11
    assert "MissionAdmitted" in lines[0] and "A3 via mission-a3-kimi" in lines[0]


# --- audit-mission ---------------------------------------------------------------------------


def _audit(project: Path) -> tuple[int, dict[str, object]]:
    code, output = _cli("audit-mission", "m-1", "--project", str(project), "--json")
    return code, json.loads(output)


def _failed(document: dict[str, object]) -> dict[str, list[str]]:
    checks = document["checks"]
    assert isinstance(checks, list)
    return {c["name"]: c["problems"] for c in checks if not c["ok"]}


def test_audit_of_a_clean_mission_passes(tmp_path: Path) -> None:
    _mission_run(tmp_path)
    code, document = _audit(tmp_path)
    assert code == 0 and document["ok"] is True and _failed(document) == {}
    code, output = _cli("audit-mission", "m-1", "--project", str(tmp_path))
    assert code == 0 and output.startswith("OK: mission m-1, run run-1")


def test_audit_reports_a_broken_chain(tmp_path: Path) -> None:
    path = _mission_run(tmp_path)
    lines = _lines(path)
    del lines[2]
    path.write_bytes(b"".join(lines))
    code, document = _audit(tmp_path)
    assert code == 1 and "log chain" in _failed(document)


def test_audit_reports_an_edited_projection(tmp_path: Path) -> None:
    _mission_run(tmp_path)
    summary = mission_dir(tmp_path, "m-1") / "summary.md"
    summary.write_text(summary.read_text().replace("COMPLETE", "FAILED"))
    code, document = _audit(tmp_path)
    assert code == 1
    assert _failed(document) == {
        "projection drift": [
            "summary.md: mismatch: summary.md differs from a fresh reduction of the log up to "
            "seq 11"
        ]
    }


def test_audit_repair_rerenders_drifted_projections_from_the_log(tmp_path: Path) -> None:
    _mission_run(tmp_path)
    directory = mission_dir(tmp_path, "m-1")
    report, summary = directory / "report.json", directory / "summary.md"
    before = _unstamped(report), _unstamped(summary)
    report.unlink()  # as a power cut may leave it
    summary.write_text(summary.read_text().replace("COMPLETE", "FAILED"))
    done = _codex_oss("audit-mission", "m-1", "--repair", "--project", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repaired: 2 projection(s) re-rendered" in done.stderr
    assert done.stdout.startswith("OK: mission m-1")
    assert (_unstamped(report), _unstamped(summary)) == before  # the stamp names the new head
    assert _audit(tmp_path)[0] == 0


def _unstamped(path: Path) -> str:
    """A projection without its stamp (the first line of summary.md, a key of report.json)."""
    if path.suffix == ".md":
        return path.read_text().split("\n", 1)[1]
    return json.dumps({**json.loads(path.read_text()), "projection_stamp": None})


def test_audit_repair_leaves_a_broken_log_alone(tmp_path: Path) -> None:
    path = _mission_run(tmp_path)
    (mission_dir(tmp_path, "m-1") / "report.json").unlink()
    lines = _lines(path)
    del lines[2]
    path.write_bytes(b"".join(lines))
    code, output = _cli("audit-mission", "m-1", "--repair", "--project", str(tmp_path))
    assert code == 1 and "repaired" not in output
    assert not (mission_dir(tmp_path, "m-1") / "report.json").exists()
    assert len(_lines(path)) == len(lines)


def test_audit_repair_leaves_a_running_missions_log_alone(tmp_path: Path) -> None:
    path = _mission_run(tmp_path)
    (mission_dir(tmp_path, "m-1") / "report.json").unlink()
    lines = _lines(path)
    with own_run(path):  # as the runner holds it while the mission runs
        code, output = _cli("audit-mission", "m-1", "--repair", "--project", str(tmp_path))
    assert code == 1 and "still running" in output
    assert not (mission_dir(tmp_path, "m-1") / "report.json").exists()
    assert _lines(path) == lines


def test_audit_reports_a_run_without_projections(tmp_path: Path) -> None:
    _mission_run(tmp_path, project_it=False)
    code, document = _audit(tmp_path)
    failed = _failed(document)
    assert code == 1 and "projection drift" in failed and "artifacts" in failed


def _patch_run(project: Path, diff: str, rollback: str) -> Path:
    """An A4 run whose validated diff and rollback are blobs of the run, projected."""
    mission = compile_mission(template(Tier.A4, "Fix x", "m-1", owned_paths=["x"])).mission
    log = MissionEventLog.create(project, "run-1", "m-1")
    log.append(MissionAdmitted(mission=mission.model_dump(mode="json"), route=ROUTE))
    log.append(PatchIntentProposed(intent={"edits": []}))
    hashes = {"diff_sha256": tagged_sha256(diff), "rollback_sha256": tagged_sha256(rollback)}
    for text in (diff, rollback):
        write_blob(blob_dir(project, "run-1"), text)
    log.append(PatchValidated(ok=True, files_changed=["x"], **hashes))
    log.append(RollbackRecorded(**hashes, proven=True))
    log.append(MissionFinalized(status="VALIDATED", closure_reason="patch_validated"))
    for payload in write_projections(project, log.events()):
        log.append(payload)
    return mission_dir(project, "m-1")


def test_the_patch_artifacts_are_projections_the_audit_checks(tmp_path: Path) -> None:
    diff, rollback = "--- a/x\n+++ b/x\n", "--- b/x\n+++ a/x\n"
    directory = _patch_run(tmp_path, diff, rollback)
    assert (directory / "patch.diff").read_text() == diff
    assert (directory / "rollback.diff").read_text() == rollback
    assert json.loads((directory / "review_packet.json").read_text())["status"] == "VALIDATED"
    assert _audit(tmp_path)[0] == 0

    (directory / "patch.diff").write_text(diff + "+sneaky\n")
    code, document = _audit(tmp_path)
    assert code == 1
    assert _failed(document) == {
        "projection drift": [
            "patch.diff: mismatch: patch.diff differs from a fresh reduction of the log up to seq 5"
        ]
    }


def test_audit_reports_a_missing_patch_artifact_and_a_missing_blob(tmp_path: Path) -> None:
    diff, rollback = "--- a/x\n+++ b/x\n", "--- b/x\n+++ a/x\n"
    directory = _patch_run(tmp_path, diff, rollback)
    (directory / "review_packet.json").unlink()
    assert _failed(_audit(tmp_path)[1]) == {
        "projection drift": ["review_packet.json: missing: review_packet.json is missing"]
    }
    (blob_dir(tmp_path, "run-1") / tagged_sha256(rollback).removeprefix("sha256:")).unlink()
    failed = _failed(_audit(tmp_path)[1])
    assert failed["artifacts"] == [
        f"the blob {tagged_sha256(rollback)} the log names is missing or changed"
    ]
    assert "rollback.diff: mismatch" in " ".join(failed["projection drift"])


def test_audit_finds_the_run_without_projections_to_point_at_it(tmp_path: Path) -> None:
    _mission_run(tmp_path, "run-1")
    (mission_dir(tmp_path, "m-1") / "run_record.json").unlink()
    code, document = _audit(tmp_path)
    assert str(document["log"]).endswith("run-1/events.jsonl")
    assert code == 1  # run_record.json is missing


@pytest.mark.parametrize("mission_id", ["unknown", "../x"])
def test_audit_of_an_unknown_mission_is_a_usage_error(tmp_path: Path, mission_id: str) -> None:
    assert _cli("audit-mission", mission_id, "--project", str(tmp_path))[0] == 2
