"""Projections: the files a person or GPT reads, written from a fresh reduction of the log.

Each file carries a ``projection_stamp`` (run id, event count and head hash of the log prefix it
came from), is rendered deterministically from that prefix alone (and the run's blobs, which
it names by hash), and is written atomically (temp file, rename) but not fsynced: the log is
the authority and on disk first, so a projection a power cut left stale or missing is drift that
``audit-mission --repair`` re-renders from the log. The patch artifacts
(``patch.diff``, ``rollback.diff``, ``review_packet.json``) keep the bytes users and ``git
apply`` read, so their stamp is the ProjectionWritten event the log holds for them. So
:func:`check_drift` can re-render any projection from the log and compare bytes: a projection
edited by hand, left behind by a newer event, or stamped with a head the log does not hold is
reported as drift.

Rendering is pure; only :func:`write_projections`, :func:`check_drift` and :func:`run_blobs`
touch the disk.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from runtime.atomic import atomic_write_text
from runtime.blobs import blob_dir, read_blobs
from runtime.canonical import indented_json, tagged_sha256
from runtime.documents import DOCUMENT_NAMES, render_documents
from runtime.eventlog import MissionEventLog, check_plain_name
from runtime.events import Event, ProjectionWritten
from runtime.mission import BUDGET_FIELDS
from runtime.patches.artifacts import PATCH_ARTIFACTS, render_patch_artifacts
from runtime.record import RunRecord, reduce

MISSIONS_DIR = Path(".codex-oss") / "missions"
STAMP_KEY = "projection_stamp"
_MD_STAMP_PREFIX = f"<!-- {STAMP_KEY}: "
_MD_STAMP_SUFFIX = " -->"

RUN_RECORD = "run_record.json"
MISSION_SUMMARY = "mission_summary.json"
SUMMARY_MD = "summary.md"
REPORT = "report.json"
COMMENTARY = "visible_commentary.jsonl"
TRACE = "trace.jsonl"
PROJECTION_NAMES = (
    RUN_RECORD,
    MISSION_SUMMARY,
    SUMMARY_MD,
    REPORT,
    COMMENTARY,
    TRACE,
    *DOCUMENT_NAMES,
    *PATCH_ARTIFACTS,
)

DriftKind = Literal["missing", "unreadable", "unknown_head", "other_run", "stale", "mismatch"]


class Drift(BaseModel):
    """A projection that does not match what a fresh reduction of the log renders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: DriftKind
    message: str


def mission_dir(project_root: Path, mission_id: str) -> Path:
    """``<project>/.codex-oss/missions/<mission_id>``."""
    return Path(project_root) / MISSIONS_DIR / check_plain_name(mission_id, "mission_id")


def project_log(
    project_root: Path, log: MissionEventLog, live: tuple[list[Event], RunRecord] | None = None
) -> RunRecord:
    """Write the projections of ``log`` as it stands, then record in it that they were written.

    Called when a run closes and again whenever a later event (promote, rollback) changes
    what the projections say, so ``audit-mission`` finds them current. ``live``: the log's
    events and their fold when the caller kept them as it appended (a closing mission does),
    so the log is neither read nor folded again. Returns the RunRecord the projections were
    rendered from.
    """
    if live is not None and len(live[0]) == log.seq:
        events, record = live
    else:
        events = log.events()
        record = reduce(events)
    written = write_projections(project_root, events, record)
    log.append_all([(payload, "runtime") for payload in written])
    return record


def write_projections(
    project_root: Path, events: list[Event], record: RunRecord | None = None
) -> list[ProjectionWritten]:
    """Render every projection of ``events`` (folded as ``record``, if given) into the
    mission's directory, atomically.

    Returns one ProjectionWritten payload per file, for the caller to append to the log.
    """
    if not events:
        raise ValueError("no events to project; a run's log starts with MissionAdmitted")
    rendered = render_projections(events, record, run_blobs(project_root, events))
    directory = mission_dir(project_root, events[0].mission_id)
    for name, text in rendered.items():
        atomic_write_text(directory / name, text, durable=False)
    head = events[-1].event_hash
    return [
        ProjectionWritten(name=name, sha256=tagged_sha256(text.encode()), head_hash=head)
        for name, text in rendered.items()
    ]


def check_drift(project_root: Path, mission_id: str, events: list[Event]) -> list[Drift]:
    """Compare the mission's projections with fresh renderings of the log they were stamped from.

    A run appends ProjectionWritten events after stamping, so each file is re-rendered from the
    log prefix that ends at its own stamped head.
    """
    directory = mission_dir(project_root, mission_id)
    index_of = {event.event_hash: index for index, event in enumerate(events)}
    blobs = run_blobs(project_root, events)
    render = functools.cache(lambda length: render_projections(events[:length], blobs=blobs))
    anchor = _anchor_prefix(directory, events, index_of)
    expected = set(render(anchor)) if anchor is not None else set()
    drifts: list[Drift] = []
    for name in PROJECTION_NAMES:
        if not (directory / name).is_file():
            found = ("missing", f"{name} is missing") if name in expected else None
        else:
            found = _check_one(directory / name, name, events, index_of, render)
        if found is not None:
            drifts.append(Drift(name=name, kind=found[0], message=found[1]))
    return drifts


# --- rendering (pure) -----------------------------------------------------------------------


def render_projections(
    events: list[Event], record: RunRecord | None = None, blobs: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every projection of ``events`` by file name: deterministic text from the events and the
    blobs they name (``record``, when given, must be their fold; without ``blobs``, no diff)."""
    record = reduce(events) if record is None else record
    stamp = {
        "run_id": record.run_id,
        "mission_id": record.mission_id,
        "event_count": record.event_count,
        "head_hash": record.head_hash,
    }
    rendered = {
        RUN_RECORD: _json_text({STAMP_KEY: stamp, "record": record.model_dump(mode="json")}),
        MISSION_SUMMARY: _json_text({STAMP_KEY: stamp, **mission_summary(record)}),
        SUMMARY_MD: _stamp_md(stamp) + summary_markdown(record),
        COMMENTARY: _jsonl(
            stamp, ({"seq": c.seq, "kind": c.kind, "text": c.text} for c in record.commentary)
        ),
        TRACE: _jsonl(stamp, (trace_line(event) for event in events)),
    }
    if record.report is not None:
        rendered[REPORT] = _json_text({**record.report.report, STAMP_KEY: stamp})
    for name, document in render_documents(record).items():
        rendered[name] = _json_text({STAMP_KEY: stamp, **document})
    folder = MISSIONS_DIR / str(record.mission_id)
    return rendered | render_patch_artifacts(record, blobs or {}, folder)


def run_blobs(project_root: Path, events: list[Event]) -> dict[str, str]:
    """The blobs of the run that ``events`` name (the validated diffs), by hash."""
    named = [
        event.payload.get(key)
        for event in events
        if event.event_type == "PatchValidated"
        for key in ("diff_sha256", "rollback_sha256")
    ]
    return read_blobs(blob_dir(project_root, events[0].run_id), named) if named else {}


def mission_summary(record: RunRecord) -> dict[str, Any]:
    """The short machine summary: what was asked, how it closed, what it cost."""
    mission = record.mission or {}
    report = record.report
    budgets = {  # the first five, the budgets of a read (the ledger has them all)
        name: mission.get(name) for name in BUDGET_FIELDS[:5] if mission.get(name) is not None
    }
    implementation = record.implementation
    return {
        "mission_id": record.mission_id,
        "run_id": record.run_id,
        "tier": mission.get("tier"),
        "mode": mission.get("mode"),
        "objective": mission.get("objective"),
        "route": record.route,
        "status": record.status,
        "closure_reason": record.closure_reason,
        "closed_by": record.closed_by,
        "report_status": report.status if report else None,
        "confidence": report.report.get("confidence") if report else None,
        "findings": len(report.report.get("findings") or []) if report else 0,
        "downgrades": list(report.downgrades) if report else [],
        "model_calls": record.model_calls.model_dump(mode="json"),
        "tool_calls": len(record.tool_calls),
        "denials": [{"tool": d.tool_name, "reason": d.reason_code} for d in record.denials],
        "evidence_observations": len(record.evidence),
        "files_inspected": list(record.files_inspected),
        "budgets": budgets,
        "budgets_used": record.budgets_used.model_dump(mode="json"),
        "clamps": list(record.clamps),
        "patch": {
            "intent_rounds": implementation.intent_rounds,
            "validated": (implementation.validation or {}).get("ok"),
            "applied_in_isolation": implementation.applied is not None,
            "verifications": [
                {"argv": v.get("argv"), "exit_code": v.get("exit_code")}
                for v in implementation.verifications
            ],
            "promoted": implementation.promoted is not None,
            "rolled_back": implementation.rolled_back is not None,
        },
        "started_at": record.started_at,
        "finalized_at": record.finalized_at,
    }


def summary_markdown(record: RunRecord) -> str:
    """The human summary of a run."""
    mission = record.mission or {}
    lines = [
        f"# Mission {record.mission_id}",
        "",
        f"- Run: `{record.run_id}`",
        f"- Tier: {mission.get('tier', '?')} ({mission.get('mode', '?')})",
        f"- Status: **{record.status}**"
        + (f" ({record.closure_reason}, closed by {record.closed_by})" if record.closed_by else ""),
        f"- Model calls: {record.model_calls.count} "
        f"({record.model_calls.input_tokens} in / {record.model_calls.output_tokens} out tokens, "
        f"{record.model_calls.fallbacks} fallbacks)",
        f"- Tool calls: {len(record.tool_calls)}, denied: {len(record.denials)}, "
        f"observation bytes: {record.budgets_used.observation_bytes}",
        "",
        "## Objective",
        "",
        str(mission.get("objective", "")).strip() or "(none recorded)",
        "",
    ]
    if record.report is not None:
        report = record.report.report
        lines += ["## Report", "", f"Status: {record.report.status}", ""]
        for finding in report.get("findings") or []:
            if isinstance(finding, dict):
                refs = ", ".join(str(ref) for ref in finding.get("evidence_refs") or []) or "none"
                lines.append(f"- {finding.get('claim', '')} (evidence: {refs})")
        lines += [*(f"- Downgraded: {downgrade}" for downgrade in record.report.downgrades), ""]
    if record.files_inspected:
        lines += ["## Files inspected", "", *(f"- `{path}`" for path in record.files_inspected), ""]
    if record.denials:
        denied = [f"- {d.tool_name}: {d.reason_code} ({d.message})" for d in record.denials]
        lines += ["## Denied tool calls", "", *denied, ""]
    implementation = record.implementation
    if implementation.intent_rounds or implementation.validation:
        validation = implementation.validation or {}
        lines += [
            "## Patch",
            "",
            f"- Intent rounds: {implementation.intent_rounds}",
            f"- Validated: {validation.get('ok')}",
            f"- Files changed: {', '.join(validation.get('files_changed') or []) or 'none'}",
        ]
        for verification in implementation.verifications:
            argv = " ".join(verification.get("argv") or [])
            lines.append(f"- Verification `{argv}`: exit {verification.get('exit_code')}")
        lines.append("")
    if record.closure_detail:
        lines += ["## Closure", "", record.closure_detail, ""]
    return "\n".join(lines)


def trace_line(event: Event) -> dict[str, Any]:
    """One compact line per event: what happened, without the bulky payload."""
    payload = event.payload
    line: dict[str, Any] = {
        "seq": event.seq,
        "type": event.event_type,
        "source": event.source,
        "at": event.created_at,
    }
    describe = _TRACE_DETAIL.get(event.event_type)
    if describe is not None:
        line["detail"] = describe(payload)
    return line


_TRACE_DETAIL: dict[str, Callable[[dict[str, Any]], str]] = {
    "MissionAdmitted": lambda p: f"{p['mission'].get('tier')} via {p['route'].get('alias')}",
    "ModelCalled": lambda p: f"{p.get('model')} {p.get('outcome')}",
    "ModelActionProposed": lambda p: (
        f"turn {p.get('turn')} {(p.get('action') or {}).get('action_type')}"
        + ("" if p.get("valid") else " (invalid)")
    ),
    "ToolCallRequested": lambda p: f"#{p.get('call_id')} {p.get('tool_name')}",
    "ToolCallDenied": lambda p: f"#{p.get('call_id')} {p.get('tool_name')}: {p.get('reason_code')}",
    "ToolObserved": lambda p: (
        f"#{p.get('call_id')} {p.get('tool_name')} {p.get('path') or ''} "
        f"{p.get('output_bytes')} bytes"
    ).strip(),
    "CommentaryEmitted": lambda p: str(p.get("text", ""))[:120],
    "BudgetExhausted": lambda p: f"{p.get('budget')} {p.get('used')}/{p.get('limit')}",
    "ReportValidated": lambda p: str(p.get("status")),
    "PatchValidated": lambda p: "ok" if p.get("ok") else "rejected",
    "VerificationRan": lambda p: f"{' '.join(p.get('argv') or [])} -> {p.get('exit_code')}",
    "MissionFinalized": lambda p: f"{p.get('status')} ({p.get('closure_reason')})",
    "ProjectionWritten": lambda p: str(p.get("name")),
}


def _json_text(obj: Any) -> str:
    return indented_json(obj) + "\n"


def _jsonl(stamp: dict[str, Any], rows: Iterable[dict[str, Any]]) -> str:
    encode = _LINE_ENCODER.encode
    return "\n".join([encode({STAMP_KEY: stamp}), *map(encode, rows)]) + "\n"


# One for every line: json.dumps builds an encoder per call, a third of a short line's cost.
_LINE_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def _stamp_md(stamp: dict[str, Any]) -> str:
    return _MD_STAMP_PREFIX + json.dumps(stamp, sort_keys=True) + _MD_STAMP_SUFFIX + "\n"


# --- drift (reads files) --------------------------------------------------------------------


def read_stamp(path: Path) -> dict[str, Any] | None:
    """The projection stamp of a file written by :func:`write_projections`, or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        if path.suffix == ".md":
            first = text.split("\n", 1)[0]
            if not (first.startswith(_MD_STAMP_PREFIX) and first.endswith(_MD_STAMP_SUFFIX)):
                return None
            stamp = json.loads(first[len(_MD_STAMP_PREFIX) : -len(_MD_STAMP_SUFFIX)])
        elif path.suffix == ".jsonl":
            stamp = json.loads(text.split("\n", 1)[0]).get(STAMP_KEY)
        else:
            stamp = json.loads(text).get(STAMP_KEY)
    except (ValueError, AttributeError, RecursionError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _anchor_prefix(directory: Path, events: list[Event], index_of: dict[str, int]) -> int | None:
    """Length of the prefix the projection set should reflect, to know which files to expect."""
    stamp = read_stamp(directory / RUN_RECORD)
    if stamp is not None and stamp.get("head_hash") in index_of:
        return index_of[stamp["head_hash"]] + 1
    # No usable anchor: expect what the log up to its last non-projection event renders.
    for index in range(len(events) - 1, -1, -1):
        if events[index].event_type != "ProjectionWritten":
            return index + 1
    return None


def _check_one(
    path: Path,
    name: str,
    events: list[Event],
    index_of: dict[str, int],
    render: Callable[[int], dict[str, str]],
) -> tuple[DriftKind, str] | None:
    """The drift of the projection at ``path`` (its kind and message), or None."""
    stamp = _logged_stamp(name, events) if name in PATCH_ARTIFACTS else read_stamp(path)
    if stamp is None:
        what = "the log records no ProjectionWritten of it" if name in PATCH_ARTIFACTS else ""
        return "unreadable", f"{name} has no readable stamp{what and ': '}{what}"
    run_id = events[0].run_id if events else None
    if stamp.get("run_id") != run_id:
        return "other_run", f"{name} was written by run {stamp.get('run_id')}, not {run_id}"
    head = stamp.get("head_hash")
    if head not in index_of:
        return "unknown_head", (
            f"{name} is stamped with head {head}, which the log does not hold "
            "(the log lost events, or the file was forged)"
        )
    length = index_of[head] + 1
    fresh = render(length).get(name)
    if fresh is None or path.read_bytes() != fresh.encode("utf-8"):
        return "mismatch", f"{name} differs from a fresh reduction of the log up to seq {length}"
    later = [e for e in events[length:] if e.event_type != "ProjectionWritten"]
    if later:
        return "stale", (
            f"{name} reflects seq {length}, but the log holds {len(later)} newer "
            f"event(s) up to seq {events[-1].seq}"
        )
    return None


def _logged_stamp(name: str, events: list[Event]) -> dict[str, Any] | None:
    """The stamp of a projection that cannot carry one: the last ProjectionWritten of it."""
    for event in reversed(events):
        if event.event_type == "ProjectionWritten" and event.payload["name"] == name:
            return {"run_id": event.run_id, "head_hash": event.payload["head_hash"]}
    return None
