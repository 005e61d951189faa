"""Open-investigation obligations (A3-open): the questions a report must answer, and whether
the evidence and the findings answer them. Pure: it reads the mission, the evidence index and
the findings validation kept.

The questions are the mission's ``questions``, else those of its objective (its sentences that
end in ``?``, else its sentences and clauses). A question is **answered** when a finding that
validation accepted, and that quotes the lines it cites, shares enough distinctive words with
it; that is the stricter check of an open investigation (a finding accepted on shared words
alone answers nothing). It has **evidence_seen** when some observation holds its words, and is
**open** otherwise. COMPLETE needs every question answered (the sufficiency check).
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any

from runtime.grounding import distinctive_terms, quoted_text
from runtime.mission import MissionV1

if TYPE_CHECKING:  # report.py imports this module
    from runtime.evidence import EvidenceIndex

MAX_DERIVED = 6
_SENTENCE_END = re.compile(r"(?<=[?.!;:])\s+|\n+")


def questions_of(mission: MissionV1) -> list[str]:
    """The questions the mission's report must answer."""
    if mission.questions:
        return list(mission.questions)
    pieces = [p.strip() for p in _SENTENCE_END.split(mission.objective) if p.strip()]
    pieces = [p for p in pieces if distinctive_terms(p)]
    asked = [p for p in pieces if p.endswith("?")]
    return (asked or pieces or [mission.objective.strip()])[:MAX_DERIVED]


def answer_graph(
    mission: MissionV1, evidence: EvidenceIndex, findings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each question with its state, the findings that answer it and the evidence that bears
    on it (refs), in the order the questions were asked."""
    graph = []
    for index, question in enumerate(questions_of(mission)):
        wanted = distinctive_terms(question)
        answered_by = [
            number
            for number, finding in enumerate(findings, start=1)
            if _quoted(finding) and _covers(wanted, _finding_terms(finding))
        ]
        seen = [
            f"event:{seq}"
            for seq, observed in sorted(evidence.observations.items())
            if _covers(wanted, distinctive_terms(observed.text))
        ]
        state = "answered" if answered_by else "evidence_seen" if seen else "open"
        graph.append(
            {
                "id": f"q{index + 1}",
                "question": question,
                "terms": sorted(wanted),
                "state": state,
                "answered_by_findings": answered_by,
                "evidence_refs": seen[:8],
            }
        )
    return graph


def unanswered(graph: list[dict[str, Any]]) -> list[str]:
    """``q<n> (<question>)`` for every question the findings left unanswered."""
    return [f"{item['id']} ({item['question']})" for item in graph if item["state"] != "answered"]


def _finding_terms(finding: dict[str, Any]) -> set[str]:
    return distinctive_terms(f"{finding.get('claim', '')} {finding.get('quote', '')}")


def _quoted(finding: dict[str, Any]) -> bool:
    """Accepted through a verbatim quote (validation checked it against the cited lines)."""
    return bool(quoted_text(str(finding.get("quote") or "")))


def _covers(wanted: set[str], offered: set[str]) -> bool:
    """Whether ``offered`` holds enough of ``wanted``: half of it, at most two words needed."""
    if not wanted:
        return False
    needed = max(1, min(2, math.ceil(len(wanted) / 2)))
    matched = sum(1 for term in wanted if any(_same_word(term, other) for other in offered))
    return matched >= needed


def _same_word(a: str, b: str) -> bool:
    """Equal, or sharing a long common prefix ("retry" / "retri" from "retries")."""
    if a == b:
        return True
    common = len(os.path.commonprefix([a, b]))  # noqa: RUF071 (words, not paths)
    return common >= 4 and common >= 0.75 * min(len(a), len(b))
