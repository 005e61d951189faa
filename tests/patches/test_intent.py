"""PatchIntentV1: strict, and every error names the edit and the field."""

from __future__ import annotations

import pytest

from runtime.patches.intent import IntentError, Operation, parse_intent


def errors_of(data) -> list[str]:
    with pytest.raises(IntentError) as caught:
        parse_intent(data)
    return caught.value.errors


def test_a_complete_intent_parses():
    intent = parse_intent(
        {
            "edits": [
                {"path": "./src/a.py", "operation": "append", "new_text": "x\n"},
                {"path": "src/b.py", "operation": "create", "new_text": "y\n"},
                {"path": "src/a.py", "operation": "replace_range", "start_line": 1,
                 "end_line": 2, "new_text": "", "expected_sha256": "sha256:" + "A" * 64},
            ],
            "rationale": "why",
            "verification_plan": [["python", "-m", "pytest"]],
        }
    )  # fmt: skip
    assert intent.paths() == ["src/a.py", "src/b.py"]
    assert intent.edits[2].operation is Operation.REPLACE_RANGE
    assert intent.edits[2].expected_sha256 == "a" * 64


def test_unknown_fields_are_errors():
    assert errors_of({"edits": [], "diff": "--- a"}) == [
        "patch.edits: List should have at least 1 item after validation, not 0",
        "patch.diff: unknown field (not part of patch_intent.v1)",
    ]


def test_a_raw_diff_is_not_an_edit():
    errors = errors_of({"edits": [{"path": "a.py", "operation": "diff", "new_text": "x"}]})
    assert errors[0].startswith("patch.edits.0.operation:")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"operation": "insert_before", "new_text": "x"}, "needs anchor"),
        ({"operation": "replace_exact", "old_text": "", "new_text": "x"}, "non-empty old_text"),
        ({"operation": "replace_range", "start_line": 3, "end_line": 2, "new_text": ""},
         "end_line 2 is before start_line 3"),
        ({"operation": "append", "new_text": "x", "anchor": "y"}, "does not take anchor"),
        ({"operation": "create", "new_text": "x", "expected_sha256": "0" * 64},
         "expected_sha256 does not apply"),
        ({"operation": "create", "new_text": ""}, "non-empty new_text"),
        ({"operation": "append", "new_text": "x", "expected_sha256": "abc"}, "64 hex digits"),
    ],
)  # fmt: skip
def test_operation_rules_name_the_problem(edit, message):
    errors = errors_of({"edits": [{"path": "a.py", **edit}]})
    assert message in " ".join(errors)
    assert errors[0].startswith("patch.edits.0")


@pytest.mark.parametrize("path", ["../x.py", "/etc/passwd", "a\\b.py", "a\x00b"])
def test_paths_that_leave_the_project_are_refused(path):
    errors = errors_of({"edits": [{"path": path, "operation": "append", "new_text": "x"}]})
    assert errors[0].startswith("patch.edits.0.path:")


def test_shell_strings_in_the_verification_plan_are_refused():
    errors = errors_of(
        {
            "edits": [{"path": "a.py", "operation": "append", "new_text": "x"}],
            "verification_plan": ["pytest -q"],
        }
    )
    assert "shell string 'pytest -q'" in errors[0]
    assert "['pytest', '-q']" in errors[0]


def test_a_non_object_patch_is_refused():
    assert errors_of("--- a/x\n+++ b/x\n") == ["patch: must be a JSON object, got str"]


def test_the_package_exports_a_small_public_api():
    import runtime.patches

    assert runtime.patches.__all__ == [
        "IntentError",
        "PatchIntentV1",
        "PatchOutcome",
        "PatchPipeline",
        "PatchStatus",
        "PromotionRefused",
        "build_review_packet",
        "parse_intent",
        "patch_state",
        "promote",
        "render_markdown",
        "rollback",
        "run_patch_step",
    ]
    assert all(hasattr(runtime.patches, name) for name in runtime.patches.__all__)
