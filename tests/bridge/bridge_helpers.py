"""Helpers shared by the bridge tests (a uniquely named module: conftest names collide)."""

from __future__ import annotations

from typing import Any

from runtime.settings import Settings

LOCAL_KEY = "local-test-key-0123456789"


def bridge_settings(upstream_url: str, **overrides: Any) -> Settings:
    """Settings for a test bridge: the scripted upstream, a local key, no env file."""
    values: dict[str, Any] = {
        "PROXY_API_KEY": LOCAL_KEY,
        "UPSTREAM_BASE_URL": upstream_url,
        "OPENCODE_GO_API_KEY": "upstream-test-key-9876543210",
        "LOCAL_MODEL_BASE_URL": upstream_url,
        "REQUEST_DEADLINE_SECONDS": 20,
        "OPENAI_API_KEY": None,
    }
    values.update(overrides)
    return Settings(**values)
