"""What a tool handler works with (scope policy, redacted files, read budget, repository,
search limits): the toolbox builds one per call, so the handlers never import the toolbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.policy import ScopePolicy
from runtime.tools.files import RedactedFiles
from runtime.tools.output import Output
from runtime.tools.repository import GitView

__all__ = ["Handler", "ToolContext"]


@dataclass(frozen=True)
class ToolContext:
    """Everything a handler may use for one call."""

    policy: ScopePolicy
    files: RedactedFiles
    inspected: dict[str, None]  # files a read returned, in first-read order (the box's own)
    max_files_to_inspect: int
    repository: Callable[[], GitView]  # opened on the first git call, then reused
    max_grep_results: int
    grep_deadline_seconds: float


Handler = Callable[[ToolContext, dict[str, Any], int], Output]
