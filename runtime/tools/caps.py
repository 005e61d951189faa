"""Fixed caps on what one tool call may read, scan or show.

The mission's own budgets (observation bytes, files inspected, repeats) live on MissionV1 and
are enforced by :class:`~runtime.tools.box.ProjectToolBox`; these bound a single call.
"""

from __future__ import annotations

DEFAULT_READ_LINES = 1000
MAX_READ_FILE_BYTES = 4 * 1024 * 1024
MAX_LINE_CHARS = 2000
MAX_PATTERN_CHARS = 256
MAX_GREP_FILE_BYTES = 1024 * 1024
MAX_GREP_FILES = 5000
MAX_GREP_SCAN_BYTES = 64 * 1024 * 1024
GREP_DEADLINE_SECONDS = 5.0
MAX_CONTEXT_LINES = 5
MAX_LS_ENTRIES = 500
MAX_GIT_LOG = 50
MAX_STATUS_ENTRIES = 500
BINARY_SNIFF_BYTES = 8192
# Below this many bytes of mission budget nothing useful fits: the call is refused instead.
MIN_OBSERVATION_BYTES = 128
