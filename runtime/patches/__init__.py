"""Patches in escrow: A4 proposals and A5 isolated implementation, verification and rollback.

The mission loop calls :class:`PatchPipeline` (or :func:`run_patch_step`) for a
``propose_patch`` action; ``codex-oss promote`` / ``rollback`` call :func:`promote` and
:func:`rollback`. Everything else in this package is an implementation detail.
"""

from runtime.patches.intent import IntentError, PatchIntentV1, parse_intent
from runtime.patches.pipeline import PatchOutcome, PatchPipeline, run_patch_step
from runtime.patches.promote import PromotionRefused, patch_record, promote, rollback
from runtime.patches.review import build_review_packet, render_markdown

__all__ = [
    "IntentError",
    "PatchIntentV1",
    "PatchOutcome",
    "PatchPipeline",
    "PromotionRefused",
    "build_review_packet",
    "parse_intent",
    "patch_record",
    "promote",
    "render_markdown",
    "rollback",
    "run_patch_step",
]
