"""The evidence a report may cite: what the run's tool calls showed, indexed by reference.

A view of the RunRecord (:meth:`EvidenceIndex.of`), not a second fold of the log: report
validation, open-investigation obligations and source-pack recovery read it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from runtime.grounding import cited_lines
from runtime.policy import BLOCKED_REASON_CODES
from runtime.record import EvidenceEntry, RunRecord

FILE_REF = re.compile(r"^file:(?P<path>[^#\s]+)#L(?P<start>\d+)(?:-L?(?P<end>\d+))?$")
EVENT_REF = re.compile(r"^event:(?P<seq>\d+)$")


@dataclass
class EvidenceIndex:
    """Everything report validation needs from the log, as its RunRecord holds it."""

    observations: dict[int, EvidenceEntry] = field(default_factory=dict)  # by event seq
    denied_paths: set[str] = field(default_factory=set)
    blocked_paths: set[str] = field(default_factory=set)  # denied for scope, not by mistake
    files_read: list[str] = field(default_factory=list)
    commands_run: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, record: RunRecord) -> EvidenceIndex:
        """The evidence ``record`` holds, indexed for validation (a view, not a second fold)."""
        index = cls(
            observations=dict(record.evidence),
            files_read=list(record.files_inspected),
            commands_run=[seen.command for seen in record.evidence.values()],
        )
        for denial in record.denials:
            path = denial.arguments.get("path")
            if isinstance(path, str):
                index.denied_paths.add(path.removeprefix("./"))
                if denial.reason_code in BLOCKED_REASON_CODES:
                    index.blocked_paths.add(posixpath.normpath(path))
        return index

    def lookup(self, ref: str) -> tuple[bool, str | None, list[str]]:
        """Whether ``ref`` points at something recorded, the path it names (if any), and the
        text it points at as the model was shown it (line numbers removed)."""
        if match := EVENT_REF.match(ref):
            seen = self.observations.get(int(match["seq"]))
            return seen is not None, None, [cited_lines(seen.text)] if seen else []
        if match := FILE_REF.match(ref):
            path = match["path"].removeprefix("./")
            start = int(match["start"])
            end = int(match["end"] or start)
            if end < start:
                return False, path, []
            texts = [
                cited_lines(seen.text, start, end)
                for seen in self.observations.values()
                if seen.path == path
                and seen.start_line is not None
                and seen.end_line is not None
                and seen.start_line <= start
                and end <= seen.end_line
            ]
            return bool(texts), path, texts
        return False, None, []
