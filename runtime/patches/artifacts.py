"""A run's patch artifacts, rendered from its RunRecord and its blobs (pure).

``patch.diff`` and ``rollback.diff`` are the blobs the validated proposal names;
``review_packet.json`` is the packet :func:`review_packet` builds from the record. They are
projections like report.json: written at closing by the projection writer, and re-rendered
by the drift check. The loop's patch step builds the same packet from its live record for the
report it closes with.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from pydantic import ValidationError

from runtime.canonical import indented_json
from runtime.mission import MissionV1, Tier
from runtime.patches.intent import IntentError, PatchIntentV1, parse_intent
from runtime.patches.review import PacketInput, build_review_packet, render_markdown
from runtime.patches.verdict import PatchVerdict, patch_verdict
from runtime.record import RunRecord

PATCH_FILE = "patch.diff"
ROLLBACK_FILE = "rollback.diff"
PACKET_FILE = "review_packet.json"
PATCH_ARTIFACTS = (PATCH_FILE, ROLLBACK_FILE, PACKET_FILE)
A4_CAVEAT = "A4: the patch was validated, not applied or run"


def render_patch_artifacts(
    record: RunRecord, blobs: Mapping[str, str], folder: PurePath
) -> dict[str, str]:
    """The patch artifacts of ``record`` by file name (``folder``: the mission's directory,
    relative to the project). Nothing while the last proposal has no verdict, and nothing
    when a blob its validation names is missing (the drift check reports the files then)."""
    verdict = patch_verdict(record)
    if verdict is None:
        return {}
    validation = record.implementation.validation or {}
    diffs = {}
    if validation.get("ok"):
        names = {
            PATCH_FILE: validation.get("diff_sha256"),
            ROLLBACK_FILE: validation.get("rollback_sha256"),
        }
        diffs = {name: blobs.get(digest or "") for name, digest in names.items()}
        if None in diffs.values():
            return {}
    packet = review_packet(record, verdict, diffs.get(PATCH_FILE), folder)
    if packet is None:
        return diffs
    return {**diffs, PACKET_FILE: indented_json(packet, sort_keys=False)}


def review_packet(
    record: RunRecord, verdict: PatchVerdict, diff: str | None, folder: PurePath
) -> dict[str, Any] | None:
    """The review packet of the record's last proposal, ended with ``verdict`` (``diff``: its
    validated diff); None when the recorded mission does not read back as a MissionV1."""
    try:
        mission = MissionV1.model_validate(record.mission or {})
    except ValidationError:
        return None
    state = record.implementation
    validation = state.validation if state.validation and state.validation["ok"] else {}
    files = {"patch": PATCH_FILE, "rollback": ROLLBACK_FILE} if validation else {}
    # The denials the model had met when it proposed (validation follows the proposal).
    before = (state.validation or {}).get("seq")
    return build_review_packet(
        PacketInput(
            mission=mission,
            status=verdict.status,
            reasons=list(verdict.reasons),
            intent=_intent(state.intent),
            diff=diff if validation else None,
            diff_sha256=validation.get("diff_sha256"),
            rollback_sha256=validation.get("rollback_sha256"),
            changed_paths=list(validation.get("files_changed") or []),
            base_commit=(state.applied or {}).get("base_commit"),
            verification=state.verifications,
            report=state.report,
            denials=[
                d.model_dump(include={"tool_name", "reason_code", "message"})
                for d in record.denials
                if before is None or d.seq < before
            ],
            caveats=[A4_CAVEAT] if validation and mission.tier is Tier.A4 else [],
            artifacts={
                key: (folder / name).as_posix()
                for key, name in {**files, "review_packet": PACKET_FILE}.items()
            },
        )
    )


def report_section(packet: dict[str, Any]) -> dict[str, Any]:
    """What the final report's ``patch`` section carries of the packet, beyond the verdict."""
    return {
        "diff_sha256": packet.get("diff_sha256"),
        "rollback_sha256": packet.get("rollback_sha256"),
        "changed_paths": packet.get("changed_paths", []),
        "verification": packet.get("verification", []),
        "adequacy": packet.get("adequacy"),
        "artifacts": packet.get("artifacts", {}),
        "review_markdown": render_markdown(packet),
    }


def _intent(recorded: dict[str, Any] | None) -> PatchIntentV1 | None:
    try:
        return parse_intent(recorded) if recorded is not None else None
    except IntentError:
        return None
