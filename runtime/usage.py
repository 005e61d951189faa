"""Usage and delegation value of one mission, from what its log recorded (pure).

The OSS side is measured: the upstream's own token counts (``ModelCalled``). The GPT side is
estimated, with a model stated here so anyone can check or change it:

- **review cost**: what GPT reads to judge the work, the final message (summary, review packet,
  report JSON), at ``CHARS_PER_TOKEN`` characters per token;
- **displaced tokens**: what GPT would have read to do the work itself, the observations the
  OSS model read (``ToolObserved`` bytes, after redaction) at ``CHARS_PER_TOKEN`` bytes per
  token, plus ``TOKENS_PER_TOOL_TURN`` for each tool call it would have had to make.

A mission is **good** delegation value when it closed with usable work and displaced at least
``GOOD_RATIO`` times its review cost, **poor** when GPT must redo the work to trust it (no
usable outcome, an inadequate review packet, or a review that costs more than it displaced),
and **marginal** in between.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from runtime.answer import render_answer
from runtime.closure import Status
from runtime.patches.status import PASSED
from runtime.record import RunRecord

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and code under GPT tokenizers
TOKENS_PER_TOOL_TURN = 60  # a tool call and its framing in a GPT agent's transcript
GOOD_RATIO = 2.0
USABLE = frozenset({Status.COMPLETE, *PASSED})
DelegationValue = Literal["good", "marginal", "poor"]


class MissionUsage(BaseModel):
    """What one mission cost on each side, and whether delegating it paid off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mission_id: str | None
    run_id: str | None
    profile: str | None
    upstream_model: str | None
    tier: str | None
    status: str
    oss_model_calls: int
    oss_input_tokens: int
    oss_output_tokens: int
    observation_bytes: int
    tool_calls: int
    gpt_review_tokens: int
    gpt_displaced_tokens: int
    delegation_value: DelegationValue
    reasons: list[str]


def mission_usage(record: RunRecord) -> MissionUsage:
    """The usage of the run ``record`` folds (an unfinished run counts as it stands)."""
    route = record.route or {}
    report = record.report.report if record.report else {}
    review_tokens = estimate_tokens(render_answer(report) if report else "")  # with its packet
    observed = record.budgets_used.observation_bytes
    displaced = observed // CHARS_PER_TOKEN + TOKENS_PER_TOOL_TURN * len(record.tool_calls)
    value, reasons = delegation_value(record.status, report, review_tokens, displaced)
    return MissionUsage(
        mission_id=record.mission_id,
        run_id=record.run_id,
        profile=route.get("profile"),
        upstream_model=route.get("upstream_model"),
        tier=(record.mission or {}).get("tier"),
        status=record.status,
        oss_model_calls=record.model_calls.count,
        oss_input_tokens=record.model_calls.input_tokens,
        oss_output_tokens=record.model_calls.output_tokens,
        observation_bytes=observed,
        tool_calls=len(record.tool_calls),
        gpt_review_tokens=review_tokens,
        gpt_displaced_tokens=displaced,
        delegation_value=value,
        reasons=reasons,
    )


def delegation_value(
    status: str, report: dict[str, Any], review_tokens: int, displaced_tokens: int
) -> tuple[DelegationValue, list[str]]:
    """The verdict and its reasons (see the module docstring for the model)."""
    findings = [f for f in report.get("findings") or [] if isinstance(f, dict)]
    adequacy = (report.get("patch") or {}).get("adequacy") or {}
    reasons: list[str] = []
    if status not in USABLE and not findings:
        reasons.append(f"closed {status} with no accepted finding: GPT must redo the work")
    if adequacy.get("adequate") is False:
        gaps = "; ".join(adequacy.get("gaps") or [])
        reasons.append(f"the review packet is inadequate ({gaps}): GPT must redo the review")
    if review_tokens >= displaced_tokens:
        reasons.append(
            f"reviewing it ({review_tokens} tokens) costs GPT as much as doing it "
            f"({displaced_tokens} tokens)"
        )
    if reasons:
        return "poor", reasons
    ratio = displaced_tokens / max(review_tokens, 1)
    if status in USABLE and ratio >= GOOD_RATIO:
        return "good", [f"displaced {ratio:.1f}x its review cost with a {status} result"]
    return "marginal", [f"displaced {ratio:.1f}x its review cost; status {status}"]


def estimate_tokens(text: str) -> int:
    """GPT-side tokens of ``text`` under the ``CHARS_PER_TOKEN`` estimate."""
    return -(-len(text) // CHARS_PER_TOKEN)


def usage_document(record: RunRecord) -> dict[str, Any]:
    """``usage.json``: the mission's usage with the estimation model it was computed under."""
    return {
        **mission_usage(record).model_dump(mode="json"),
        "model": {
            "chars_per_token": CHARS_PER_TOKEN,
            "tokens_per_tool_turn": TOKENS_PER_TOOL_TURN,
            "good_ratio": GOOD_RATIO,
        },
    }
