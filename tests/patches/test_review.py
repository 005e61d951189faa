"""The review packet says what a reviewer needs, and says when it is not enough."""

from __future__ import annotations

from runtime.mission import Tier
from runtime.patches.intent import parse_intent
from runtime.patches.review import PacketInput, build_review_packet, render_markdown
from tests.patches.fixture_repo import PYTEST, good_intent, mission_of

DIFF = "diff --git a/calc/stats.py b/calc/stats.py\n--- a/calc/stats.py\n+++ b/calc/stats.py\n"
REPORT = {
    "findings": [{"claim": "range stops early", "evidence_refs": ["file:calc/stats.py#L4-L6"]}],
    "caveats": ["only the one function was read"],
    "uncertainties": ["callers not checked"],
}


def ran(argv, exit_code, timed_out, duration_ms, output) -> dict:
    """One verification command as VerificationRan records it."""
    return dict(
        argv=argv, exit_code=exit_code, timed_out=timed_out, duration_ms=duration_ms, output=output
    )


def packet_input(**overrides) -> PacketInput:
    values = dict(
        mission=mission_of(Tier.A5),
        status="VERIFIED",
        reasons=[],
        intent=parse_intent(good_intent()),
        diff=DIFF,
        diff_sha256="sha256:d",
        rollback_sha256="sha256:r",
        changed_paths=["calc/stats.py"],
        verification=[ran(PYTEST, 0, False, 812.0, "2 passed")],
        report=REPORT,
    )
    values.update(overrides)
    return PacketInput(**values)


def test_a_complete_packet_carries_every_section_and_is_adequate():
    packet = build_review_packet(packet_input())
    assert packet["task"] == "Fix the off-by-one in calc.stats.moving_sum"
    assert packet["requirements"]["owned_paths"] == ["calc"]
    assert packet["requirements"]["verification_commands"] == [PYTEST]
    assert packet["diff"] == DIFF and packet["diff_sha256"] == "sha256:d"
    assert packet["verification"][0]["passed"] is True
    assert packet["caveats"] == ["only the one function was read", "callers not checked"]
    assert packet["model_claims"]["findings"][0]["claim"] == "range stops early"
    assert packet["model_claims"]["rationale"].startswith("range() stops")
    assert packet["adequacy"] == {"adequate": True, "gaps": []}


def test_missing_verification_evidence_and_rationale_make_it_inadequate():
    bare = parse_intent({"edits": good_intent()["edits"]})
    packet = build_review_packet(packet_input(verification=[], report=None, intent=bare))
    gaps = " ".join(packet["adequacy"]["gaps"])
    assert packet["adequacy"]["adequate"] is False
    assert "no verification ran" in gaps
    assert "no evidence references" in gaps
    assert "no rationale or findings" in gaps


def test_a_failed_command_raises_a_question_and_a_gap():
    failed = ran(PYTEST, 1, False, 900.0, "1 failed")
    packet = build_review_packet(packet_input(status="VERIFICATION_FAILED", verification=[failed]))
    assert any("fail (exited 1)" in q for q in packet["review_questions"])
    assert "verification failed" in " ".join(packet["adequacy"]["gaps"])


def test_unpinned_edits_and_untested_changes_raise_questions():
    intent = good_intent()
    intent["edits"][0]["expected_sha256"] = None
    packet = build_review_packet(packet_input(intent=parse_intent(intent)))
    questions = " ".join(packet["review_questions"])
    assert "not pinned to a base hash" in questions
    assert "No test changed" in questions


def test_markdown_is_compact_and_points_at_promotion():
    text = render_markdown(build_review_packet(packet_input()))
    assert text.startswith("### Patch review: VERIFIED (fix-moving-sum, A5)")
    assert "passed (exit 0, 0.8s)" in text
    assert "```diff\n" + DIFF.rstrip("\n") + "\n```" in text
    assert "codex-oss promote fix-moving-sum`" in text
    assert "INADEQUATE" not in text


def test_markdown_for_a4_asks_for_the_explicit_flag():
    packet = build_review_packet(
        packet_input(mission=mission_of(Tier.A4), status="VALIDATED", verification=[])
    )
    assert "codex-oss promote fix-moving-sum --allow-unverified" in render_markdown(packet)


def test_a_large_diff_is_referenced_not_inlined():
    big = DIFF + "+x\n" * 5000
    text = render_markdown(build_review_packet(packet_input(diff=big)))
    assert "```diff" not in text and "see patch.diff" in text
