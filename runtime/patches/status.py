"""A patch's status: the one spelling of the words a patch mission answers with.

Kept free of imports so the loop, the usage score and the CLI can name a status without
loading the patch pipeline.
"""

from __future__ import annotations

from enum import StrEnum


class PatchStatus(StrEnum):
    """How one patch proposal ended (the report's ``status`` in an A4+ mission)."""

    VALIDATED = "VALIDATED"  # A4: built and checked, never run
    VERIFIED = "VERIFIED"  # A5/A6: applied in isolation and every verification passed
    VERIFICATION_FAILED = "VERIFICATION_FAILED"
    REJECTED = "REJECTED"
    ESCALATE = "ESCALATE"
    FAILED = "FAILED"


# A patch that passed the checks its tier asks for.
PASSED = frozenset({PatchStatus.VALIDATED, PatchStatus.VERIFIED})
