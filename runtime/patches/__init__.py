"""Patches in escrow: A4 proposals and A5 isolated implementation, verification and rollback.

The mission loop calls :class:`PatchPipeline` (or :func:`run_patch_step`) for a
``propose_patch`` action; ``codex-oss promote`` / ``rollback`` call :func:`promote` and
:func:`rollback`. Everything else in this package is an implementation detail.

The names are imported on first use: ``runtime.patches.status`` is imported by the loop, the
usage score and the CLI, and must not load the pipeline (nor cycle through the projections).
"""

from __future__ import annotations

from runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "runtime.patches.intent": ("IntentError", "PatchIntentV1", "parse_intent"),
        "runtime.patches.pipeline": ("PatchOutcome", "PatchPipeline", "run_patch_step"),
        "runtime.patches.promotion": ("PromotionRefused", "promote", "rollback"),
        "runtime.patches.review": ("build_review_packet", "render_markdown"),
        "runtime.patches.status": ("PatchStatus",),
        "runtime.patches.verdict": ("patch_state",),
    },
)
