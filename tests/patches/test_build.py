"""Pure patch building: edits by intent, unified diff and rollback that git really applies."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.canonical import sha256_hex
from runtime.patches.build import (
    BinaryContent,
    BuiltPatch,
    FileChange,
    build_patch,
    decode_text,
    split_lines,
    unified_diff,
)
from runtime.patches.intent import EditV1
from runtime.patches.validate import prove_round_trip

SOURCE = (
    "def last(items):\n    return items[len(items)]\n\n\ndef first(items):\n    return items[0]\n"
)


def edit(**fields) -> EditV1:
    return EditV1.model_validate({"path": "pkg/mod.py", **fields})


def test_replace_exact_builds_a_diff_and_its_rollback():
    built = build_patch(
        [edit(operation="replace_exact", old_text="items[len(items)]", new_text="items[-1]")],
        {"pkg/mod.py": SOURCE},
    )
    assert built.ok, built.reasons
    assert "-    return items[len(items)]\n+    return items[-1]\n" in built.diff
    assert built.diff.startswith("diff --git a/pkg/mod.py b/pkg/mod.py\n")
    assert "+    return items[len(items)]\n" in built.rollback_diff
    assert prove_round_trip(built) == []


def test_insert_before_and_after_place_text_at_the_anchor():
    built = build_patch(
        [
            edit(operation="insert_before", anchor="def first", new_text="# head\n"),
            edit(operation="insert_after", anchor="return items[0]\n", new_text="# tail\n"),
        ],
        {"pkg/mod.py": SOURCE},
    )
    after = built.changes[0].after
    assert after is not None
    assert "\n# head\ndef first(items):" in after
    assert after.endswith("return items[0]\n# tail\n")


def test_an_anchor_that_matches_twice_is_refused_with_the_count():
    built = build_patch(
        [edit(operation="insert_after", anchor="(items):", new_text=" pass")],
        {"pkg/mod.py": SOURCE},
    )
    assert not built.ok
    assert built.reasons[0].startswith("anchor_ambiguous: edits[0]")
    assert "matches 2 times" in built.reasons[0]


def test_overlapping_occurrences_count_as_ambiguous():
    built = build_patch(
        [edit(operation="replace_exact", old_text="aa", new_text="b")], {"pkg/mod.py": "aaa\n"}
    )
    assert built.reasons[0].startswith("old_text_ambiguous")


def test_missing_old_text_is_refused():
    built = build_patch(
        [edit(operation="replace_exact", old_text="nope", new_text="x")], {"pkg/mod.py": SOURCE}
    )
    assert built.reasons[0].startswith("old_text_not_found")


def test_replace_range_keeps_the_line_ending_of_the_replaced_lines():
    text = "a\r\nb\r\nc\r\n"
    built = build_patch(
        [edit(operation="replace_range", start_line=2, end_line=2, new_text="B")],
        {"pkg/mod.py": text},
    )
    assert built.changes[0].after == "a\r\nB\r\nc\r\n"
    assert prove_round_trip(built) == []


def test_replace_range_beyond_the_file_is_refused():
    built = build_patch(
        [edit(operation="replace_range", start_line=2, end_line=9, new_text="x")],
        {"pkg/mod.py": SOURCE},
    )
    assert built.reasons[0].startswith("range_out_of_bounds")
    assert "has 6 lines" in built.reasons[0]


def test_append_to_a_file_without_final_newline_starts_a_new_line():
    built = build_patch([edit(operation="append", new_text="z\n")], {"pkg/mod.py": "x\ny"})
    assert built.changes[0].after == "x\ny\nz\n"
    assert "\\ No newline at end of file" in built.diff
    assert prove_round_trip(built) == []


def test_create_makes_a_new_file_and_rollback_deletes_it():
    built = build_patch(
        [EditV1(path="pkg/new.py", operation="create", new_text="X = 1\n")],
        {"pkg/new.py": None},
    )
    assert "new file mode 100644\n" in built.diff
    assert "--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1,1 @@\n+X = 1\n" in built.diff
    assert "deleted file mode 100644\n" in built.rollback_diff
    assert prove_round_trip(built) == []


def test_create_over_an_existing_file_is_refused():
    built = build_patch(
        [EditV1(path="pkg/mod.py", operation="create", new_text="x\n")], {"pkg/mod.py": SOURCE}
    )
    assert built.reasons[0].startswith("file_exists")


def test_editing_a_missing_file_is_refused():
    built = build_patch([edit(operation="append", new_text="x\n")], {"pkg/mod.py": None})
    assert built.reasons[0].startswith("file_missing")


def test_expected_sha256_pins_the_current_file():
    good = edit(
        operation="append", new_text="# ok\n", expected_sha256="sha256:" + sha256_hex(SOURCE)
    )
    assert build_patch([good], {"pkg/mod.py": SOURCE}).ok
    stale = edit(operation="append", new_text="# ok\n", expected_sha256="0" * 64)
    built = build_patch([stale], {"pkg/mod.py": SOURCE})
    assert built.reasons[0].startswith("base_mismatch")
    assert sha256_hex(SOURCE) in built.reasons[0]


def test_edits_that_change_nothing_are_refused():
    built = build_patch(
        [edit(operation="replace_exact", old_text="items[0]", new_text="items[0]")],
        {"pkg/mod.py": SOURCE},
    )
    assert built.reasons == [
        "no_change: the edits change nothing; propose edits that modify a file"
    ]


def test_later_edits_see_earlier_edits_of_the_same_file():
    built = build_patch(
        [
            edit(operation="replace_exact", old_text="items[0]", new_text="items[FIRST]"),
            edit(operation="replace_exact", old_text="items[FIRST]", new_text="items[1]"),
        ],
        {"pkg/mod.py": SOURCE},
    )
    assert built.ok
    assert "return items[1]\n" in (built.changes[0].after or "")


def test_paths_that_git_quotes_round_trip():
    change = FileChange('dir/na"me é\t.txt', "a\n", "b\n")
    built = BuiltPatch([change], unified_diff([change]), unified_diff([change.reversed()]), [])
    assert 'diff --git "a/dir/na\\"me \\303\\251\\t.txt"' in built.diff
    assert prove_round_trip(built) == []


def test_binary_content_is_refused_by_name():
    with pytest.raises(BinaryContent, match=r"bin\.dat: binary file"):
        decode_text("bin.dat", b"a\x00b")
    with pytest.raises(BinaryContent, match=r"latin\.txt: not UTF-8"):
        decode_text("latin.txt", b"caf\xe9")


def test_split_lines_splits_only_on_newline():
    assert split_lines("a\rb\x0cc\nd") == ["a\rb\x0cc\n", "d"]
    assert split_lines("") == []


lines = st.lists(
    st.sampled_from(["a", "b", "c", "def f():", "    return 1", "", " x", "\ttab", "é"]),
    max_size=30,
)


@st.composite
def texts(draw) -> str:
    body = "\n".join(draw(lines))
    return body + draw(st.sampled_from(["", "\n", "\r\n"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=texts(), after=texts())
def test_any_change_applies_forward_and_back_with_git(before, after):
    change = FileChange("f.txt", before, after)
    if before == after:
        assert unified_diff([change]) == ""
        return
    built = BuiltPatch([change], unified_diff([change]), unified_diff([change.reversed()]), [])
    assert prove_round_trip(built) == []
