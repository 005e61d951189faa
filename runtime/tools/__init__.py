"""The project toolbox: the only code that reads the project on a mission's behalf.

:class:`ProjectToolBox` runs one tool call at a time and answers with an event payload: a
:class:`~runtime.events.ToolObserved` holding redacted, capped output, or a
:class:`~runtime.events.ToolCallDenied` with a reason code and a plain message. It never
raises for a model's mistake. Every path goes through :class:`~runtime.policy.ScopePolicy`
before a byte is read; listings and searches silently leave out what the policy hides.

Budgets it enforces: bytes per observation and per mission, distinct files read, grep results,
and repeated calls (served from the cache up to ``max_duplicate_actions`` times, then denied).
The tool-call count and the clock are the loop's to enforce.

Modules: ``specs`` (tool classes, parameters, JSON specs), ``arguments`` (normalisation),
``box`` (dispatch, class gating, budgets, duplicate cache), the handlers ``read``, ``listing``,
``search`` and ``git`` (each given a ``context``, not the box), ``repository`` (git queries),
``files`` (file access, redacted-file cache), ``output`` (what handlers return), ``caps``.
"""

from __future__ import annotations

from runtime.tools.arguments import normalise_arguments
from runtime.tools.box import ProjectToolBox
from runtime.tools.output import ToolRefused
from runtime.tools.search import SearchPattern, compile_search_pattern
from runtime.tools.specs import MISTAKE_REASON_CODES, TOOL_CLASSES, TOOL_SPECS

__all__ = [
    "MISTAKE_REASON_CODES",
    "TOOL_CLASSES",
    "TOOL_SPECS",
    "ProjectToolBox",
    "SearchPattern",
    "ToolRefused",
    "compile_search_pattern",
    "normalise_arguments",
]
