"""Everything a user may tune, read once from the environment (names fixed by DESIGN.md)."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

OPENCODE_GO_BASE_URL = "https://opencode.ai/zen/go/v1"
UPSTREAM_KEY_FILE = Path(".codex-oss/env/opencode-go.env")


class GptStrategy(StrEnum):
    ERROR = "error"
    PASSTHROUGH = "passthrough"


class TraceMode(StrEnum):
    OFF = "off"
    SUMMARY = "summary"
    DETAILED = "detailed"


class SettingsInvalid(ValueError):
    """A setting from the environment that cannot be used: which one, what is wrong, an example.

    ``str()`` is one line a command can print as is (the value itself is never echoed: it may
    be a key).
    """

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        self.problem = problem
        self.example = SETTING_EXAMPLES.get(variable, f"unset {variable} to use its default")
        super().__init__(f"bad setting {variable}: {problem}; for example {self.example}")


# One working value per variable whose format is easy to get wrong (shell syntax).
SETTING_EXAMPLES: dict[str, str] = {
    "PROXY_PORT": "PROXY_PORT=4000",
    "MODEL_MAP_JSON": """MODEL_MAP_JSON='{"kimi": "kimi-k2.6"}'""",
    "FALLBACK_MODEL_MAP_JSON": """FALLBACK_MODEL_MAP_JSON='{"kimi-k2.6": ["deepseek-v4-pro"]}'""",
    "MODEL_CONCURRENCY_JSON": """MODEL_CONCURRENCY_JSON='{"kimi-k2.6": 4}'""",
    "MAX_GLOBAL_UPSTREAM_CONCURRENCY": "MAX_GLOBAL_UPSTREAM_CONCURRENCY=8",
    "REQUEST_DEADLINE_SECONDS": "REQUEST_DEADLINE_SECONDS=600",
    "UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS": "UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS=120",
    "UPSTREAM_IDLE_TIMEOUT_SECONDS": "UPSTREAM_IDLE_TIMEOUT_SECONDS=60",
    "UPSTREAM_QUEUE_TIMEOUT_SECONDS": "UPSTREAM_QUEUE_TIMEOUT_SECONDS=60",
    "GPT_MODEL_STRATEGY": "GPT_MODEL_STRATEGY=error (or passthrough)",
    "UPSTREAM_STREAM": "UPSTREAM_STREAM=false",
    "OSS_VISIBLE_TRACE": "OSS_VISIBLE_TRACE=summary (or off, detailed)",
    "OSS_VISIBLE_TRACE_STREAM": "OSS_VISIBLE_TRACE_STREAM=true",
    "OSS_VISIBLE_TRACE_MAX_EVENTS": "OSS_VISIBLE_TRACE_MAX_EVENTS=200",
}


class Settings(BaseSettings):
    """Bridge and runtime settings; field names are the environment variable names.

    A value that cannot be used raises :class:`SettingsInvalid` naming the variable.
    """

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

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except SettingsError as exc:  # a complex (JSON) field pydantic-settings cannot decode
            found = re.search(r'field "([^"]+)"', str(exc))
            cause = exc.__cause__
            problem = f"not valid JSON ({cause})" if cause else str(exc)
            raise SettingsInvalid(found.group(1) if found else "?", problem) from None
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            variable, *inside = [str(part) for part in error["loc"]] or ["?"]
            where = f"at {'.'.join(inside)}: " if inside else ""
            raise SettingsInvalid(variable, where + _problem(error)) from None

    def secret_values(self) -> list[str]:
        """Configured keys whose values must never appear in text that leaves the runtime."""
        keys = (self.PROXY_API_KEY, self.OPENCODE_GO_API_KEY, self.OPENAI_API_KEY)
        return [key for key in keys if key and len(key) >= 8]


def _problem(error: Any) -> str:
    """pydantic's message for one error, lowercased to read inside a sentence."""
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


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
