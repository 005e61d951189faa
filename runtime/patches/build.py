"""Pure patch building: apply intent edits to file text, then write the unified diff and its
reverse (the rollback) in the form ``git apply`` reads.

No I/O here: callers pass the current content of each file and get text back, so every rule
(anchor matched exactly once, base hash pinned, rollback restoring the exact prior bytes) can
be tested in memory.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runtime.canonical import sha256_hex
from runtime.patches.intent import EditV1, Operation

CONTEXT_LINES = 3
NULL_BLOB = "0" * 40
NEW_FILE_MODE = "100644"


@dataclass(frozen=True)
class FileChange:
    """One file before and after a patch; ``None`` means the file does not exist."""

    path: str
    before: str | None
    after: str | None

    def reversed(self) -> FileChange:
        """The change that undoes this one."""
        return FileChange(self.path, self.after, self.before)


@dataclass(frozen=True)
class BuiltPatch:
    """The outcome of building: changed files, the diff, the rollback diff, and why not."""

    changes: list[FileChange]
    diff: str
    rollback_diff: str
    reasons: list[str]

    @property
    def ok(self) -> bool:
        return not self.reasons and bool(self.changes)


class BinaryContent(ValueError):
    """A file's bytes are not text the patch pipeline can edit (NUL byte or not UTF-8)."""


def decode_text(path: str, data: bytes) -> str:
    """``data`` as UTF-8 text, or BinaryContent naming ``path``."""
    if b"\x00" in data:
        raise BinaryContent(f"{path}: binary file (NUL byte); binary patches are not allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BinaryContent(
            f"{path}: not UTF-8 text (byte {exc.start}); binary patches are not allowed"
        ) from None


def build_patch(edits: Sequence[EditV1], originals: Mapping[str, str | None]) -> BuiltPatch:
    """Apply ``edits`` in order to ``originals`` (path -> current text, None when absent).

    Every edit is checked; the reasons name the edit by index and path. A file whose edits
    fail is left out of the diff, and any reason makes the whole patch unusable.
    """
    current: dict[str, str | None] = {}
    failed: set[str] = set()
    reasons: list[str] = []
    for index, edit in enumerate(edits):
        where = f"edits[{index}] ({edit.operation.value} {edit.path})"
        if edit.path in failed:
            continue
        if edit.path not in originals:
            reasons.append(f"not_loaded: {where}: the runtime did not load this file")
            failed.add(edit.path)
            continue
        original = originals[edit.path]
        if edit.expected_sha256 is not None:
            actual = None if original is None else sha256_hex(original)
            if actual != edit.expected_sha256:
                found = "the file does not exist" if actual is None else f"it is {actual}"
                reasons.append(
                    f"base_mismatch: {where}: expected_sha256 {edit.expected_sha256} does not "
                    f"match the current file ({found}); re-read it and pin its current hash"
                )
                failed.add(edit.path)
                continue
        text = current.get(edit.path, original)
        try:
            current[edit.path] = apply_edit(edit, text, created_here=edit.path in current)
        except EditRejected as exc:
            reasons.append(f"{exc.code}: {where}: {exc}")
            failed.add(edit.path)
    changes = [
        FileChange(path, originals[path], after)
        for path, after in current.items()
        if path not in failed and after != originals[path]
    ]
    if not changes and not reasons:
        reasons.append("no_change: the edits change nothing; propose edits that modify a file")
    diff = unified_diff(changes)
    rollback = unified_diff([change.reversed() for change in reversed(changes)])
    return BuiltPatch(changes=changes, diff=diff, rollback_diff=rollback, reasons=reasons)


class EditRejected(ValueError):
    """One edit cannot be applied to the file as it is; ``code`` names the rule."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def apply_edit(edit: EditV1, text: str | None, *, created_here: bool = False) -> str:
    """``text`` after ``edit`` (pure). ``created_here``: an earlier edit created the file."""
    op = edit.operation
    if op is Operation.CREATE:
        if text is not None:
            raise EditRejected(
                "file_exists",
                "the file already exists; use replace_exact or replace_range to change it"
                if not created_here
                else "the file was already created by an earlier edit",
            )
        assert edit.new_text is not None
        return edit.new_text
    if text is None:
        raise EditRejected("file_missing", "the file does not exist; use 'create' to add it")
    new_text = edit.new_text or ""
    if op in (Operation.INSERT_BEFORE, Operation.INSERT_AFTER):
        assert edit.anchor is not None
        at = find_once(text, edit.anchor, "anchor")
        if op is Operation.INSERT_AFTER:
            at += len(edit.anchor)
        return text[:at] + new_text + text[at:]
    if op is Operation.REPLACE_EXACT:
        assert edit.old_text is not None
        at = find_once(text, edit.old_text, "old_text")
        return text[:at] + new_text + text[at + len(edit.old_text) :]
    if op is Operation.REPLACE_RANGE:
        assert edit.start_line is not None and edit.end_line is not None
        return replace_lines(text, edit.start_line, edit.end_line, new_text)
    if op is Operation.APPEND:
        # Appending to a file without a final newline would glue onto its last line.
        separator = "\n" if text and not text.endswith("\n") else ""
        return text + separator + new_text
    raise EditRejected("invalid_intent", f"unknown operation {op!r}")  # pragma: no cover


def find_once(text: str, needle: str, field: str) -> int:
    """Offset of the only occurrence of ``needle`` (overlaps count), or EditRejected."""
    first = text.find(needle)
    if first < 0:
        raise EditRejected(
            f"{field}_not_found", f"{field} not found in the file; copy it exactly from a read"
        )
    second = text.find(needle, first + 1)
    if second >= 0:
        count = 2
        while (second := text.find(needle, second + 1)) >= 0:
            count += 1
        first_line = text.count("\n", 0, first) + 1
        raise EditRejected(
            f"{field}_ambiguous",
            f"{field} matches {count} times (first at line {first_line}); it must match "
            "exactly once, so include more surrounding text",
        )
    return first


def replace_lines(text: str, start: int, end: int, new_text: str) -> str:
    """Replace 1-based inclusive lines ``start..end`` with ``new_text``.

    A replacement that does not end with a newline gets the line ending of the last replaced
    line, so a model that sends lines without their terminator does not join two lines.
    """
    lines = split_lines(text)
    if end > len(lines):
        raise EditRejected(
            "range_out_of_bounds",
            f"lines {start}-{end} are out of range; the file has {len(lines)} lines",
        )
    last = lines[end - 1]
    ending = "\r\n" if last.endswith("\r\n") else "\n" if last.endswith("\n") else ""
    if new_text and ending and not new_text.endswith("\n"):
        new_text += ending
    return "".join(lines[: start - 1]) + new_text + "".join(lines[end:])


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` with their ``\\n`` kept; only ``\\n`` ends a line (as in git)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def unified_diff(changes: Sequence[FileChange], context: int = CONTEXT_LINES) -> str:
    """A git-style unified diff of ``changes`` (``git apply`` accepts it); ``""`` if none."""
    return "".join(file_diff(change, context) for change in changes)


def file_diff(change: FileChange, context: int = CONTEXT_LINES) -> str:
    """The ``diff --git`` section of one file."""
    before = change.before
    after = change.after
    if before == after:
        return ""
    a_name = quote_path("a/" + change.path)
    b_name = quote_path("b/" + change.path)
    header = [f"diff --git {a_name} {b_name}\n"]
    old_blob = NULL_BLOB if before is None else git_blob_sha1(before)
    new_blob = NULL_BLOB if after is None else git_blob_sha1(after)
    if before is None:
        header.append(f"new file mode {NEW_FILE_MODE}\n")
    elif after is None:
        header.append(f"deleted file mode {NEW_FILE_MODE}\n")
    header.append(f"index {old_blob}..{new_blob}\n")
    header.append(f"--- {'/dev/null' if before is None else a_name}\n")
    header.append(f"+++ {'/dev/null' if after is None else b_name}\n")
    a_lines = split_lines(before or "")
    b_lines = split_lines(after or "")
    body: list[str] = []
    matcher = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2 = group[0][1], group[-1][2]
        j1, j2 = group[0][3], group[-1][4]
        body.append(f"@@ -{hunk_range(i1, i2 - i1)} +{hunk_range(j1, j2 - j1)} @@\n")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                body.extend(diff_line(" ", line) for line in a_lines[a1:a2])
                continue
            body.extend(diff_line("-", line) for line in a_lines[a1:a2])
            body.extend(diff_line("+", line) for line in b_lines[b1:b2])
    return "".join(header + body)


def hunk_range(start: int, length: int) -> str:
    """``start,length`` as a hunk header writes it (an empty side names the line before)."""
    return f"{start + 1 if length else start},{length}"


def diff_line(mark: str, line: str) -> str:
    """One diff body line; a last line without newline gets git's marker."""
    if line.endswith("\n"):
        return mark + line
    return mark + line + "\n\\ No newline at end of file\n"


def git_blob_sha1(text: str) -> str:
    """The git object id of ``text`` as a blob."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def quote_path(name: str) -> str:
    """``name`` quoted the way git quotes unusual paths in diff headers."""
    raw = name.encode("utf-8")
    if not any(b < 0x20 or b >= 0x7F or b in (0x22, 0x5C) for b in raw):
        return name
    escapes = {
        0x07: "\\a",
        0x08: "\\b",
        0x09: "\\t",
        0x0A: "\\n",
        0x0B: "\\v",
        0x0C: "\\f",
        0x0D: "\\r",
        0x22: '\\"',
        0x5C: "\\\\",
    }
    out = []
    for b in raw:
        if b in escapes:
            out.append(escapes[b])
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\{b:03o}")
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


def added_lines(diff: str) -> list[str]:
    """The text of every ``+`` line of ``diff`` (headers excluded)."""
    lines = []
    in_hunk = False
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            in_hunk = False
        elif line.startswith("@@ "):
            in_hunk = True
        elif in_hunk and line.startswith("+"):
            lines.append(line[1:])
    return lines
