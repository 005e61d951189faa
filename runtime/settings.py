"""Everything a user may tune, read once from the environment (names fixed by DESIGN.md)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OPENCODE_GO_BASE_URL = "https://opencode.ai/zen/go/v1"
UPSTREAM_KEY_FILE = Path(".codex-oss/env/opencode-go.env")


class GptStrategy(StrEnum):
    ERROR = "error"
    PASSTHROUGH = "passthrough"


class TraceMode(StrEnum):
    OFF = "off"
    SUMMARY = "summary"
    DETAILED = "detailed"


class Settings(BaseSettings):
    """Bridge and runtime settings; field names are the environment variable names."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    PROXY_API_KEY: str | None = None
    PROXY_PORT: int = Field(default=4000, ge=1, le=65535)
    UPSTREAM_BASE_URL: str = OPENCODE_GO_BASE_URL
    OPENCODE_GO_API_KEY: str | None = None
    # A model id per profile or alias; a new key adds a profile (runtime.registry.ProfileConfig).
    MODEL_MAP_JSON: dict[str, Any] = Field(default_factory=dict)
    FALLBACK_MODEL_MAP_JSON: dict[str, list[str]] = Field(default_factory=dict)
    MAX_GLOBAL_UPSTREAM_CONCURRENCY: int = Field(default=8, ge=1, le=1024)
    MODEL_CONCURRENCY_JSON: dict[str, int] = Field(default_factory=dict)
    REQUEST_DEADLINE_SECONDS: float = Field(default=600.0, gt=0)
    UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS: float = Field(default=120.0, gt=0)
    UPSTREAM_IDLE_TIMEOUT_SECONDS: float = Field(default=60.0, gt=0)
    UPSTREAM_QUEUE_TIMEOUT_SECONDS: float = Field(default=60.0, gt=0)
    GPT_MODEL_STRATEGY: GptStrategy = GptStrategy.ERROR
    UPSTREAM_STREAM: bool = False
    OSS_VISIBLE_TRACE: TraceMode = TraceMode.SUMMARY
    OSS_VISIBLE_TRACE_STREAM: bool = True
    OSS_VISIBLE_TRACE_MAX_EVENTS: int = Field(default=200, ge=0, le=100_000)
    OPENAI_BASE_URL: str = "https://api.openai.com/v1"
    OPENAI_API_KEY: str | None = None
    LOCAL_MODEL_BASE_URL: str = "http://127.0.0.1:4010/v1"

    @field_validator(
        "MODEL_MAP_JSON", "FALLBACK_MODEL_MAP_JSON", "MODEL_CONCURRENCY_JSON", mode="before"
    )
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return json.loads(value) if value else {}
        return value

    def secret_values(self) -> list[str]:
        """Configured keys whose values must never appear in text that leaves the runtime."""
        keys = (self.PROXY_API_KEY, self.OPENCODE_GO_API_KEY, self.OPENAI_API_KEY)
        return [key for key in keys if key and len(key) >= 8]


def load_settings(project: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the upstream key file of ``project`` as a fallback."""
    settings = Settings(**overrides)
    if settings.OPENCODE_GO_API_KEY is None and project is not None:
        key = read_key_file(project / UPSTREAM_KEY_FILE)
        if key:
            settings = settings.model_copy(update={"OPENCODE_GO_API_KEY": key})
    return settings


def read_key_file(path: Path) -> str | None:
    """``OPENCODE_GO_API_KEY=...`` (or a bare key) from an env file, if present."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        _, sep, value = line.partition("=")
        return (value if sep else line).strip().strip("'\"") or None
    return None
