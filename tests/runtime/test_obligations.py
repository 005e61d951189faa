"""Open-investigation obligations: derived questions, coverage, answers (pure)."""

from __future__ import annotations

import pytest

from runtime.evidence import EvidenceIndex
from runtime.mission import MissionContractError, Mode, Tier, compile_mission, template
from runtime.obligations import answer_graph, questions_of, unanswered
from runtime.record import EvidenceEntry

OBJECTIVE = "Where is the retry limit configured? Which module calls the retry loop?"


def mission(objective: str = OBJECTIVE, **fields):
    data = template(Tier.A3, objective, "m-open", **fields)
    data["mode"] = "open_investigation"
    return compile_mission(data).mission


def evidence(text: str) -> EvidenceIndex:
    index = EvidenceIndex()
    index.observations[3] = EvidenceEntry(
        seq=3, call_id=1, tool_name="read", path="net.py", start_line=1, end_line=3, text=text
    )
    return index


NET = "RETRY_LIMIT = 5\ndef fetch():\n    return retry_loop(get, RETRY_LIMIT)"


def test_questions_come_from_the_objective_sentences_that_ask() -> None:
    assert questions_of(mission()) == [
        "Where is the retry limit configured?",
        "Which module calls the retry loop?",
    ]
    assert questions_of(mission("Map the retry code. List its callers.")) == [
        "Map the retry code.",
        "List its callers.",
    ]


def test_explicit_questions_win_and_need_open_mode() -> None:
    assert questions_of(mission(questions=["Who owns retries?"])) == ["Who owns retries?"]
    data = template(Tier.A3, OBJECTIVE, "m-x", questions=["Who owns retries?"])
    with pytest.raises(MissionContractError, match="questions is only for mode open_investigation"):
        compile_mission(data)


def test_tier_a3_open_is_a3_in_open_mode() -> None:
    data = template(Tier.A3, OBJECTIVE, "m-y")
    data["tier"], data["mode"] = "A3-open", None
    compiled = compile_mission({k: v for k, v in data.items() if v is not None}).mission
    assert (compiled.tier, compiled.mode) == (Tier.A3, Mode.OPEN_INVESTIGATION)


def test_a_quoted_finding_answers_its_question_and_evidence_marks_the_other() -> None:
    findings = [
        {
            "claim": "The retry limit is configured as RETRY_LIMIT in net.py",
            "quote": "RETRY_LIMIT = 5",
            "evidence_refs": ["file:net.py#L1-L3"],
        }
    ]
    graph = answer_graph(mission(), evidence(NET), findings)
    assert [item["state"] for item in graph] == ["answered", "evidence_seen"]
    assert graph[0]["answered_by_findings"] == [1]
    assert graph[1]["evidence_refs"] == ["event:3"]
    assert unanswered(graph) == ["q2 (Which module calls the retry loop?)"]


def test_a_finding_without_a_quote_answers_nothing_in_an_open_investigation() -> None:
    findings = [{"claim": "The retry limit is configured in net.py", "evidence_refs": ["event:3"]}]
    graph = answer_graph(mission(), evidence(NET), findings)
    assert graph[0]["state"] == "evidence_seen"


def test_nothing_read_leaves_every_question_open() -> None:
    graph = answer_graph(mission(), EvidenceIndex(), [])
    assert {item["state"] for item in graph} == {"open"}
