"""ProjectToolBox on a real project and a real git repository (GitPython) in tmp_path."""

from __future__ import annotations

import time
from pathlib import Path

import git
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.events import ToolCallDenied, ToolObserved
from runtime.mission import Tier, compile_mission, template
from runtime.redact import Redactor
from runtime.tools import (
    TOOL_CLASSES,
    TOOL_SPECS,
    ProjectToolBox,
    compile_search_pattern,
    normalise_arguments,
)
from runtime.tools.caps import DEFAULT_READ_LINES, MIN_OBSERVATION_BYTES
from runtime.tools.files import read_regular_file, split_lines
from runtime.tools.read import line_window

SECRET = "sk-proj-" + "Zq8XvT3LmN0pR5sW7yA2bC4dE6fG"
CONFIGURED = "configured-upstream-key-42"


def mission(**fields):
    return compile_mission(template(Tier.A3, "investigate", "m-tools", **fields)).mission


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    src = root / "src"
    src.mkdir(parents=True)
    (src / "app.py").write_text(
        "".join(f"def f{i}():\n    return {i}\n" for i in range(1, 51))  # 100 lines
    )
    (src / "config.py").write_text(
        f'API_KEY = "{SECRET}"\nUPSTREAM = "{CONFIGURED}"\nRISK = "risk-tier"\n'
    )
    (src / "data.bin").write_bytes(b"\x00\x01binary needle\x00")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text("needle in the guide\n")
    (root / ".env").write_text("needle=1\n")
    (root / "deploy").mkdir()
    (root / "deploy" / "run.sh").write_text("needle deploy\n")
    repo = git.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Tester")
        config.set_value("user", "email", "tester@example.invalid")
    (root / ".gitignore").write_text(".env\n")
    repo.index.add([".gitignore", "src/app.py", "src/config.py", "docs/guide.md"])
    repo.index.commit("first commit")
    (root / "docs" / "guide.md").write_text("needle in the guide\nsecond line\n")
    repo.index.add(["docs/guide.md"])
    repo.index.commit("second commit: extend the guide")
    return root


def toolbox(root: Path, **fields) -> ProjectToolBox:
    options = {
        key: fields.pop(key)
        for key in ("max_observation_bytes_per_call", "max_grep_results", "critical_roots")
        if key in fields
    }
    return ProjectToolBox(root, mission(**fields), Redactor([CONFIGURED]), **options)


def observed(result) -> ToolObserved:
    assert isinstance(result, ToolObserved), result
    return result


def refused(result, reason_code: str) -> ToolCallDenied:
    assert isinstance(result, ToolCallDenied), result
    assert result.reason_code == reason_code, result.message
    return result


# -- specs and arguments ---------------------------------------------------------------------


def test_every_tool_has_a_spec_and_a_class():
    assert set(TOOL_SPECS) == set(TOOL_CLASSES)
    assert TOOL_SPECS["read"]["parameters"]["required"] == ["path"]
    assert TOOL_SPECS["grep"]["parameters"]["additionalProperties"] is False


def test_aliases_are_mapped_and_defaults_filled():
    args = normalise_arguments("read", {"file_path": "./src/app.py", "start": "3", "line_end": 9})
    assert args == {"path": "src/app.py", "start_line": 3, "end_line": 9}
    assert normalise_arguments("grep", {"query": "x", "limit": 5})["max_results"] == 5
    assert normalise_arguments("git_show_stat", {"sha": "abc123"}) == {"rev": "abc123"}
    assert normalise_arguments("git_log", {"n": 500}) == {"limit": 50}  # clamped


def test_unknown_arguments_are_named():
    with pytest.raises(ValueError, match=r"unknown argument.*recursive"):
        normalise_arguments("ls", {"path": ".", "recursive": True})


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("read", {}, "'path' is required"),
        ("read", {"path": "a", "start_line": True}, "not a boolean"),
        ("read", {"path": "a", "start_line": 0}, "at least 1"),
        ("read", {"path": "a", "start_line": 9, "end_line": 3}, "before start_line"),
        ("read", {"path": 7}, "must be a string"),
        ("grep", {"pattern": ""}, "must not be empty"),
        ("ls", {"path": ".", "dir": "src"}, "given twice"),
    ],
)
def test_bad_arguments_are_rejected_with_the_field(tool, arguments, message):
    with pytest.raises(ValueError, match=message):
        normalise_arguments(tool, arguments)


def test_invalid_arguments_become_a_denial(project: Path):
    result = toolbox(project).run(1, "read", {"path": "src/app.py", "colour": "red"})
    assert "colour" in refused(result, "invalid_arguments").message


def test_unknown_tool_is_denied(project: Path):
    refused(toolbox(project).run(1, "shell", {"cmd": "ls"}), "unknown_tool")


def test_tool_class_outside_the_mission_is_denied(project: Path):
    box = toolbox(project, allowed_tool_classes=["read", "list"])
    denial = refused(box.run(1, "grep", {"pattern": "x"}), "tool_class_not_allowed")
    assert "search" in denial.message


# -- read ------------------------------------------------------------------------------------


def test_read_returns_numbered_lines_and_the_range_returned(project: Path):
    result = observed(
        toolbox(project).run(1, "read", {"path": "src/app.py", "start_line": 3, "end_line": 4})
    )
    assert result.path == "src/app.py"
    assert (result.start_line, result.end_line) == (3, 4)
    assert result.output == "3\tdef f2():\n4\t    return 2\n"
    assert result.output_bytes == len(result.output.encode())


def test_read_cap_reports_the_real_last_line(project: Path):
    box = toolbox(project, max_observation_bytes_per_call=400)
    result = observed(box.run(1, "read", {"path": "src/app.py"}))
    assert result.truncated
    assert result.output_bytes <= 400
    last = result.output.splitlines()[-2]  # the line before the continuation note
    assert last.startswith(f"{result.end_line}\t")
    assert f"start_line={result.end_line + 1}" in result.output


def test_read_redacts_secrets_and_configured_keys(project: Path):
    result = observed(toolbox(project).run(1, "read", {"path": "src/config.py"}))
    assert SECRET not in result.output
    assert CONFIGURED not in result.output
    assert "risk-tier" in result.output
    assert result.redactions == 2


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (".env", "secret_path"),
        (".ENV", "secret_path"),
        ("../outside.txt", "path_escape"),
        (".git/config", "git_internals"),
        ("deploy/run.sh", "critical_root"),
        ("src/nope.py", "not_found"),
        ("src\x00/app.py", "nul_byte"),
        ("~/notes", "path_escape"),
    ],
)
def test_read_denials_carry_the_policy_reason(project: Path, path: str, reason: str):
    denial = refused(toolbox(project).run(1, "read", {"path": path}), reason)
    assert denial.tool_name == "read"


def test_read_of_a_symlink_out_of_the_project_is_denied(project: Path, tmp_path: Path):
    (tmp_path / "outside.txt").write_text("outside\n")
    (project / "src" / "link.txt").symlink_to(tmp_path / "outside.txt")
    refused(toolbox(project).run(1, "read", {"path": "src/link.txt"}), "path_escape")


def test_read_binary_directory_and_out_of_range(project: Path):
    box = toolbox(project)
    refused(box.run(1, "read", {"path": "src/data.bin"}), "binary_file")
    refused(box.run(2, "read", {"path": "src"}), "is_a_directory")
    refused(box.run(3, "read", {"path": "src/app.py", "start_line": 500}), "line_out_of_range")


def test_read_of_a_fifo_does_not_block(project: Path):
    import os

    os.mkfifo(project / "src" / "pipe")
    refused(toolbox(project).run(1, "read", {"path": "src/pipe"}), "not_a_file")


def test_files_inspected_budget(project: Path):
    box = toolbox(project, max_files_to_inspect=1)
    observed(box.run(1, "read", {"path": "src/app.py"}))
    observed(box.run(2, "read", {"path": "src/app.py", "start_line": 2}))  # same file again
    denial = refused(box.run(3, "read", {"path": "src/config.py"}), "budget_exhausted")
    assert "at most 1 files" in denial.message
    assert "'src/config.py'" in denial.message
    assert box.files_inspected == 1
    assert box.inspected_paths == ("src/app.py",)


def test_observation_budget_per_mission(project: Path):
    box = toolbox(project, max_total_observation_bytes=300, max_observation_bytes_per_call=16384)
    first = observed(box.run(1, "read", {"path": "src/app.py"}))
    assert first.output_bytes <= 300 and first.truncated
    refused(box.run(2, "read", {"path": "docs/guide.md"}), "budget_exhausted")
    assert box.observation_bytes == first.output_bytes


def test_line_window_never_exceeds_the_cap_and_names_the_last_line():
    lines = [f"line {i} " + "x" * 40 for i in range(1, 30)]
    for cap in (40, 90, 200, 1000):
        body, last, truncated = line_window(lines, 5, 29, cap)
        assert len(body.encode()) <= cap
        assert truncated
        numbered = [line for line in body.splitlines() if not line.startswith("[shown")]
        assert numbered[-1].startswith(f"{last}\t")
    body, last, truncated = line_window(lines, 5, 6, 10_000)
    assert (last, truncated) == (6, False)
    assert "[shown" not in body


# Characters of 1 to 4 UTF-8 bytes, and an ASCII run of the same byte length for each.
_WIDE = {"a": "a", "é": "bb", "€": "ccc", "😀": "dddd"}


@given(
    st.lists(st.text(alphabet="aé€😀", max_size=40), min_size=1, max_size=20),
    st.integers(MIN_OBSERVATION_BYTES, 700),
    st.booleans(),
)
def test_line_window_counts_bytes_alike_for_ascii_and_wider_text(lines, cap, always_note):
    # The ASCII fast path counts characters; other text is encoded. Lines of equal byte
    # lengths must end the window at the same line, and neither window may pass the cap.
    ascii_lines = ["".join(_WIDE[c] for c in line) for line in lines]
    wide = line_window(lines, 1, len(lines), cap, always_note=always_note)
    narrow = line_window(ascii_lines, 1, len(lines), cap, always_note=always_note)
    assert wide[1:] == narrow[1:]
    assert len(wide[0].encode()) <= cap and len(narrow[0].encode()) <= cap
    if "[line cut]" not in narrow[0]:  # a cut inside a line may fall inside a wide character
        assert len(wide[0].encode()) == len(narrow[0].encode())


def test_split_lines_drops_line_endings_only():
    assert split_lines("a\r\nb\r\r\nc\r") == ["a", "b\r", "c"]
    assert split_lines("a\nb\n") == ["a", "b"]
    assert split_lines("a\rb\n\n") == ["a\rb", ""]
    assert split_lines("") == []


def test_a_file_is_read_whole_past_any_one_read_size(project: Path):
    data = "".join(f"{i:07d} é\n" for i in range(200_000))  # 2 MB, beyond a pipe's chunk
    (project / "src" / "big.txt").write_text(data)
    text, key = read_regular_file(project / "src" / "big.txt", "src/big.txt", 4 << 20)
    assert text == data
    assert key[2] == len(data.encode())


def test_read_without_end_line_says_the_file_goes_on(project: Path):
    (project / "src" / "long.txt").write_text("x\n" * (DEFAULT_READ_LINES + 5))
    box = toolbox(project)
    window = observed(box.run(1, "read", {"path": "src/long.txt"}))
    assert (window.start_line, window.end_line) == (1, DEFAULT_READ_LINES)
    assert not window.truncated  # the default window was shown whole; the file goes on
    assert window.output.endswith(f"continue with read start_line={DEFAULT_READ_LINES + 1}]\n")
    # A window that reaches the end of the file says nothing more.
    result = observed(box.run(2, "read", {"path": "src/app.py", "start_line": 99}))
    assert (result.start_line, result.end_line) == (99, 100)
    assert "[shown" not in result.output


# -- duplicates --------------------------------------------------------------------------------


def test_duplicates_are_served_from_cache_then_denied(project: Path):
    box = toolbox(project, max_duplicate_actions=1)
    first = observed(box.run(1, "read", {"path": "src/app.py", "end_line": 2}))
    again = observed(box.run(2, "read", {"file": "./src/app.py", "end_line": "2"}))
    assert again.cached and not first.cached
    assert again.call_id == 2
    assert again.output == first.output
    refused(box.run(3, "read", {"path": "src/app.py", "end_line": 2}), "duplicate_action")
    assert box.observation_bytes == 2 * first.output_bytes


def test_zero_duplicates_allowed_denies_the_first_repeat(project: Path):
    box = toolbox(project, max_duplicate_actions=0)
    observed(box.run(1, "ls", {}))
    refused(box.run(2, "ls", {"path": "."}), "duplicate_action")


# -- ls ----------------------------------------------------------------------------------------


def test_ls_hides_denied_entries(project: Path):
    result = observed(toolbox(project).run(1, "ls", {"path": "."}))
    names = result.output.splitlines()
    assert "src/" in names and "docs/" in names
    assert not any(n.startswith((".env", ".git/", "deploy")) for n in names)
    assert "hidden" in names[-1]


def test_ls_above_the_scope_shows_only_the_way_in(project: Path):
    box = toolbox(project, allowed_roots=["src"])
    result = observed(box.run(1, "ls", {}))
    assert result.output.splitlines()[0] == "src/"
    assert "docs/" not in result.output
    refused(box.run(2, "ls", {"path": "docs"}), "outside_scope")


def test_ls_of_critical_root_with_permission(project: Path):
    box = toolbox(project, critical_path_read_allowed=True, critical_path_reason="review deploy")
    assert "run.sh" in observed(box.run(1, "ls", {"path": "deploy"})).output


# -- grep --------------------------------------------------------------------------------------


def test_grep_lists_hits_and_never_searches_denied_paths(project: Path):
    result = observed(toolbox(project).run(1, "grep", {"pattern": "needle"}))
    assert result.path is None
    assert "docs/guide.md:1:needle in the guide" in result.output
    assert ".env" not in result.output
    assert "deploy" not in result.output
    assert "data.bin" not in result.output


def test_grep_with_context_glob_and_path(project: Path):
    box = toolbox(project)
    result = observed(
        box.run(
            1, "grep", {"pattern": r"def f2\b", "path": "src", "glob": "*.py", "context_lines": 1}
        )
    )
    assert result.output.splitlines() == [
        "src/app.py-2-    return 1",
        "src/app.py:3:def f2():",
        "src/app.py-4-    return 2",
    ]


def test_grep_walks_past_environments_unless_asked(project: Path):
    (project / "src" / "node_modules" / "dep").mkdir(parents=True)
    (project / "src" / "node_modules" / "dep" / "index.js").write_text("needle dep\n")
    box = toolbox(project)
    assert "node_modules" not in observed(box.run(1, "grep", {"pattern": "needle"})).output
    inside = observed(box.run(2, "grep", {"pattern": "needle", "path": "src/node_modules"}))
    assert "src/node_modules/dep/index.js:1:needle dep" in inside.output


def test_grep_caps_results(project: Path):
    box = toolbox(project, max_grep_results=3)
    result = observed(box.run(1, "grep", {"pattern": "return", "max_results": 40}))
    assert sum(1 for line in result.output.splitlines() if ":" in line[:20]) == 3
    assert result.truncated


def test_grep_cannot_probe_a_secret_value(project: Path):
    box = toolbox(project)
    result = observed(box.run(1, "grep", {"pattern": "sk-proj-Zq8X"}))
    assert result.output.startswith("No matches")
    assert SECRET not in box.run(2, "grep", {"pattern": "API_KEY"}).output


def test_grep_refuses_invalid_and_overlong_patterns(project: Path):
    box = toolbox(project)
    refused(box.run(1, "grep", {"pattern": "(unclosed"}), "invalid_pattern")
    refused(box.run(2, "grep", {"pattern": "a" * 300}), "invalid_arguments")
    assert compile_search_pattern(r"def (\w+)\(").search_line("def f(", time.monotonic() + 5)


def test_grep_stops_a_catastrophic_pattern_at_its_deadline(project: Path):
    (project / "src" / "long.txt").write_text("a" * 2000 + "\n")
    box = toolbox(project)
    box.grep_deadline_seconds = 0.2
    result = observed(box.run(1, "grep", {"pattern": "(?:a+)+b", "path": "src/long.txt"}))
    assert result.truncated
    assert "time limit" in result.output


def test_grep_polynomial_pattern_finishes(project: Path):
    (project / "src" / "long.txt").write_text("a" * 1500 + "x\n")
    result = observed(toolbox(project).run(1, "grep", {"pattern": ".*.*.*.*x", "path": "src"}))
    assert "src/long.txt:1:" in result.output


def test_grep_skips_symlinks_that_leave_the_scope(project: Path, tmp_path: Path):
    (tmp_path / "outside.txt").write_text("needle outside\n")
    (project / "src" / "out.txt").symlink_to(tmp_path / "outside.txt")
    (project / "src" / "env.txt").symlink_to(project / ".env")
    result = observed(toolbox(project).run(1, "grep", {"pattern": "needle", "path": "src"}))
    assert "outside" not in result.output
    assert "env.txt" not in result.output


# -- git ---------------------------------------------------------------------------------------


def test_git_log_shows_full_shas(project: Path):
    repo = git.Repo(project)
    result = observed(toolbox(project).run(1, "git_log", {"limit": 5}))
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(repo.head.commit.hexsha)
    assert lines[0].endswith("second commit: extend the guide")
    assert result.redactions == 0


def test_git_show_stat_of_head_and_root(project: Path):
    repo = git.Repo(project)
    box = toolbox(project)
    head = observed(box.run(1, "git_show_stat", {"rev": "HEAD"}))
    assert head.output.startswith(f"commit {repo.head.commit.hexsha}")
    assert "docs/guide.md | +1 -0" in head.output
    root_sha = repo.head.commit.parents[0].hexsha
    root = observed(box.run(2, "git_show_stat", {"rev": root_sha[:10]}))
    assert "src/app.py | +100 -0" in root.output


@pytest.mark.parametrize("rev", ["--output=/tmp/x", "-p", "HEAD..main", "HEAD;ls", "a b"])
def test_git_show_stat_refuses_option_injection(project: Path, rev: str):
    refused(toolbox(project).run(1, "git_show_stat", {"rev": rev}), "invalid_rev")


def test_git_show_stat_of_unknown_rev(project: Path):
    refused(toolbox(project).run(1, "git_show_stat", {"rev": "nosuchbranch"}), "unknown_rev")


def test_git_status_hides_denied_and_out_of_scope_paths(project: Path):
    (project / "src" / "new.py").write_text("x\n")
    (project / "docs" / "guide.md").write_text("changed\n")
    (project / "id_rsa").write_text("key\n")
    box = toolbox(project, allowed_roots=["src"])
    result = observed(box.run(1, "git_status", {}))
    assert "?? src/new.py" in result.output
    assert "guide.md" not in result.output
    assert "id_rsa" not in result.output
    assert "not shown" in result.output
    assert not (project / ".git" / "index.lock").exists()


def test_git_diff_stat_in_scope(project: Path):
    (project / "src" / "app.py").write_text("changed\n")
    (project / "docs" / "guide.md").write_text("changed\n")
    box = toolbox(project)
    result = observed(box.run(1, "git_diff_stat", {"path": "src"}))
    assert "src/app.py | +1 -100" in result.output
    assert "guide.md" not in result.output
    refused(box.run(2, "git_diff_stat", {"path": ".git"}), "git_internals")


def test_git_diff_stat_of_a_deleted_file(project: Path):
    (project / "src" / "config.py").unlink()
    result = observed(toolbox(project).run(1, "git_diff_stat", {"path": "src/config.py"}))
    assert "src/config.py | +0 -3" in result.output


def test_git_tools_outside_a_repository(tmp_path: Path):
    (tmp_path / "plain").mkdir()
    refused(toolbox(tmp_path / "plain").run(1, "git_log", {}), "not_a_git_repository")


def test_git_tools_for_a_project_inside_a_larger_repository(project: Path):
    repo = git.Repo(project)
    (project / "src" / "app.py").write_text("changed\n")
    result = observed(toolbox(project / "src").run(1, "git_diff_stat", {}))
    assert "app.py | +1 -100" in result.output
    assert "src/app.py" not in result.output
    assert repo.head.commit.hexsha in toolbox(project / "src").run(2, "git_log", {}).output


# -- payload shape -----------------------------------------------------------------------------


def test_arguments_in_the_payload_are_redacted(project: Path):
    result = toolbox(project).run(1, "grep", {"pattern": SECRET})
    assert SECRET not in str(result.arguments)
    assert SECRET not in result.output
