"""The toolbox: one tool call at a time, gated by class, capped by budget, repeats cached.

:meth:`ProjectToolBox.run` checks the tool and its class against the mission, normalises the
arguments, serves a repeat from the cache (up to ``max_duplicate_actions`` times), hands the
call to its handler (read, search, listing, git modules) and redacts and caps what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, partial
from pathlib import Path

from runtime.events import ToolCallDenied, ToolObserved
from runtime.mission import MissionV1
from runtime.policy import DEFAULT_CRITICAL_ROOTS, ScopeDenied, ScopePolicy
from runtime.redact import Redactor
from runtime.tools import git, listing, read, search
from runtime.tools.arguments import normalise_arguments
from runtime.tools.caps import GREP_DEADLINE_SECONDS, MIN_OBSERVATION_BYTES
from runtime.tools.context import Handler, ToolContext
from runtime.tools.files import RedactedFiles
from runtime.tools.output import ToolRefused, cap_bytes
from runtime.tools.repository import GitView
from runtime.tools.specs import TOOL_CLASSES

__all__ = ["ProjectToolBox"]

_HANDLERS: dict[str, Handler] = {
    "read": read.read,
    "grep": search.grep,
    "ls": listing.ls,
    "git_status": git.git_status,
    "git_log": git.git_log,
    "git_show_stat": git.git_show_stat,
    "git_diff_stat": git.git_diff_stat,
}


class ProjectToolBox:
    """Runs the mission's tool calls against one project, within its scope and budgets."""

    def __init__(
        self,
        project_root: Path,
        mission: MissionV1,
        redactor: Redactor,
        *,
        critical_roots: Sequence[str] = DEFAULT_CRITICAL_ROOTS,
        max_observation_bytes_per_call: int = 16_384,
        max_grep_results: int = 50,
    ):
        self.policy = ScopePolicy(project_root, mission, critical_roots)
        self.project_root = self.policy.project_root
        self.mission = mission
        self.redactor = redactor
        self.files = RedactedFiles(redactor)
        self.max_observation_bytes_per_call = max_observation_bytes_per_call
        self.max_grep_results = max_grep_results
        self.grep_deadline_seconds = GREP_DEADLINE_SECONDS
        self.max_total_observation_bytes = _budget(mission.max_total_observation_bytes)
        self.max_files_to_inspect = _budget(mission.max_files_to_inspect)
        self.max_duplicate_actions = (
            mission.max_duplicate_actions if mission.max_duplicate_actions is not None else 2
        )
        self.observation_bytes = 0
        self._inspected: dict[str, None] = {}
        self._cache: dict[tuple, ToolObserved] = {}
        self._repeats: dict[tuple, int] = {}
        self._repository = cache(partial(GitView, self.project_root))

    @property
    def files_inspected(self) -> int:
        """Distinct files whose content a ``read`` returned."""
        return len(self._inspected)

    @property
    def inspected_paths(self) -> tuple[str, ...]:
        """Project-relative paths read so far, in the order first read."""
        return tuple(self._inspected)

    def run(self, call_id: int, tool_name: str, arguments: dict) -> ToolObserved | ToolCallDenied:
        """Run one tool call; a refusal of any kind comes back as ToolCallDenied."""
        # The arguments a denial shows, redacted when one is made: as given, then normalised.
        shown = arguments if isinstance(arguments, dict) else {}

        def deny(reason_code: str, message: str) -> ToolCallDenied:
            return ToolCallDenied(
                call_id=call_id,
                tool_name=str(tool_name),
                arguments=self.redactor.redact_obj(shown)[0],
                reason_code=reason_code,
                message=self.redactor.redact(message).text,
            )

        tool_class = TOOL_CLASSES.get(tool_name)
        if tool_class is None:
            return deny(
                "unknown_tool",
                f"There is no tool {tool_name!r}; use one of: {', '.join(TOOL_CLASSES)}.",
            )
        if tool_class not in self.mission.allowed_tool_classes:
            allowed = ", ".join(c.value for c in self.mission.allowed_tool_classes)
            return deny(
                "tool_class_not_allowed",
                f"{tool_name} is a {tool_class.value} tool and this mission allows only: "
                f"{allowed}.",
            )
        try:
            args = normalise_arguments(tool_name, arguments)
        except ValueError as exc:
            return deny("invalid_arguments", f"{exc}.")
        shown = args
        key = (tool_name, *args.items())  # normalised: ints and strings in parameter order
        remaining = self.max_total_observation_bytes - self.observation_bytes

        previous = self._cache.get(key)
        if previous is not None:
            repeats = self._repeats.get(key, 0)
            if repeats >= self.max_duplicate_actions:
                return deny(
                    "duplicate_action",
                    f"This exact {tool_name} call was already made {repeats + 1} times; its "
                    "result is in your earlier observations. Try something else.",
                )
            if previous.output_bytes > remaining:
                return deny("budget_exhausted", self._budget_message())
            self._repeats[key] = repeats + 1
            self.observation_bytes += previous.output_bytes
            return previous.model_copy(update={"call_id": call_id, "cached": True})

        if remaining < MIN_OBSERVATION_BYTES:
            return deny("budget_exhausted", self._budget_message())
        cap = min(self.max_observation_bytes_per_call, remaining)
        # Built per call, so a limit the box's owner changes between calls applies.
        context = ToolContext(
            self.policy,
            self.files,
            self._inspected,
            self.max_files_to_inspect,
            self._repository,
            self.max_grep_results,
            self.grep_deadline_seconds,
        )
        try:
            out = _HANDLERS[tool_name](context, args, cap)
        except (ScopeDenied, ToolRefused) as exc:
            return deny(exc.reason_code, exc.message)
        # Redact first and cut after, so a cut can never leave half a secret behind.
        if out.redacted:
            text, redactions = out.text, out.redactions
        else:
            redacted = self.redactor.redact(out.text)
            text, redactions = redacted.text, out.redactions + redacted.count
        text, cut = cap_bytes(text, cap)
        observed = ToolObserved(
            call_id=call_id,
            tool_name=tool_name,
            arguments=self.redactor.redact_obj(args)[0],
            path=out.path,
            start_line=out.start_line,
            end_line=out.end_line,
            output=text,
            output_bytes=len(text.encode("utf-8")),
            truncated=out.truncated or cut,
            redactions=redactions,
        )
        self.observation_bytes += observed.output_bytes
        self._cache[key] = observed
        return observed

    def _budget_message(self) -> str:
        return (
            f"The mission's observation budget ({self.max_total_observation_bytes} bytes) is "
            "spent; write your report from what you have observed."
        )


def _budget(value: int | None) -> int:
    # Uncompiled missions leave budgets None; compile_mission resolves them. Unlimited here.
    return value if value is not None else 1 << 62
