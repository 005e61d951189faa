"""Source-pack recovery: evidence kept when a read-only mission's synthesis fails.

When the model stalls, loops, answers prose or its provider fails after the runtime has
already recorded observations, the runtime does not throw them away with a FAILED report: it
packs what it observed (the refs and short excerpts of the text the model was shown) into an
explicit recovery report. The report carries ``synthesis_status: SOURCE_PACK_RECOVERY``, makes
no claim of its own (no findings), and is never above PARTIAL: it is preserved evidence for
GPT to read, not a native-looking success. Pure: it reads only the evidence index.
"""

from __future__ import annotations

from typing import Any

from runtime.closure import SYNTHESIS_FAILED, Status
from runtime.evidence import EvidenceIndex
from runtime.mission import MissionV1, Tier
from runtime.record import EvidenceEntry

SYNTHESIS_STATUS = "SOURCE_PACK_RECOVERY"
READ_ONLY_TIERS = frozenset({Tier.A2, Tier.A3})
MAX_SOURCES = 8
EXCERPT_LINES = 12
EXCERPT_CHARS = 1200


def recoverable(mission: MissionV1, reason: str, evidence: EvidenceIndex) -> bool:
    """Whether a closure for ``reason`` should be a source-pack recovery report."""
    return (
        mission.tier in READ_ONLY_TIERS
        and reason in SYNTHESIS_FAILED
        and any(seen.text.strip() for seen in evidence.observations.values())
    )


def recovery_status(status: Status) -> Status:
    """FAILED becomes PARTIAL (the evidence is useful); nothing is ever raised above that."""
    return Status.PARTIAL if status is Status.FAILED else status


def recovery_report(report: dict[str, Any], evidence: EvidenceIndex) -> dict[str, Any]:
    """``report`` (the runtime's own, with no findings) with the source pack added."""
    pack = source_pack(evidence)
    return {
        **report,
        "status": recovery_status(Status(report["status"])).value,
        "synthesis_status": SYNTHESIS_STATUS,
        "source_pack": pack,
        "caveats": [
            "SOURCE_PACK_RECOVERY: the model's synthesis did not complete; these are the "
            f"excerpts the runtime recorded ({len(pack)} of {len(evidence.observations)} "
            "observations), not findings",
            *report.get("caveats", []),
        ],
    }


def source_pack(evidence: EvidenceIndex) -> list[dict[str, Any]]:
    """The first ``MAX_SOURCES`` observations with text, each with a ref and a short excerpt."""
    pack = []
    for seq in sorted(evidence.observations):
        seen = evidence.observations[seq]
        if seen.text.strip():
            pack.append({"ref": source_ref(seen), "tool": seen.tool_name, "excerpt": excerpt(seen)})
        if len(pack) == MAX_SOURCES:
            break
    return pack


def source_ref(seen: EvidenceEntry) -> str:
    """A ref the report validator resolves: the file range read, else the event."""
    if seen.tool_name == "read" and seen.path and seen.start_line and seen.end_line:
        return f"file:{seen.path}#L{seen.start_line}-L{seen.end_line}"
    return f"event:{seen.seq}"


def excerpt(seen: EvidenceEntry) -> str:
    """The first lines of what the model was shown, bounded."""
    lines = seen.text.splitlines()
    head = "\n".join(lines[:EXCERPT_LINES])[:EXCERPT_CHARS]
    more = len(lines) > EXCERPT_LINES or len(head) < len("\n".join(lines[:EXCERPT_LINES]))
    return head + ("\n..." if more else "")
