"""Every command's ``--help``: it runs, its summary matches the command, and it names only
arguments and options the command has."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bridge.cli import COMMANDS, SUMMARIES, main
from runtime.settings import Settings

# Upper-case words a help text may use that are not placeholders: statuses, names, acronyms.
NOT_PLACEHOLDERS = {
    "AGENTS", "CLI", "COMPLETE", "ESCALATE", "FAILED", "FAILING", "GPT", "JSON", "MISSING", "OSS",
    "PARTIAL", "PORT", "SIGTERM", "SKIP", "STALE", "SUPPORTED", "URL", "VALIDATED", "VERIFIED",
    "LOCAL_MODEL_BASE_URL", "MCP",
}  # fmt: skip


def _walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            yield from _walk(command.get_command(context, name), (*path, name))


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(click.Context(command), name)
    return command


EVERY_COMMAND = list(_walk(main, ()))


def test_every_command_has_a_summary_in_the_top_level_list() -> None:
    assert set(SUMMARIES) == set(COMMANDS)
    listing = CliRunner().invoke(main, ["--help"]).output
    for name, summary in SUMMARIES.items():
        assert re.search(rf"^\s+{re.escape(name)}\s", listing, re.MULTILINE), name
        assert len(summary) <= 80 and summary.endswith("."), name


@pytest.mark.parametrize("path", EVERY_COMMAND, ids=lambda path: " ".join(path) or "codex-oss")
def test_help_runs_and_names_only_what_the_command_has(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    command = _command(path)
    arguments = {p.name.upper() for p in command.params if isinstance(p, click.Argument)}
    metavars = {word for p in command.params for word in re.findall(r"\w+", p.metavar or "")}
    settings = set(Settings.model_fields)
    for word in re.findall(r"\b[A-Z][A-Z_0-9]{2,}\b", command.help or ""):
        known = arguments | metavars | NOT_PLACEHOLDERS | settings
        assert word in known, f"{' '.join(path)} --help names {word}, which it does not take"
    for argument in arguments - {"ALIASES"}:  # shown by its metavar, ALIAS
        assert argument in result.output, f"{' '.join(path)} --help never explains {argument}"


def test_top_level_help_imports_no_command_module() -> None:
    probe = (
        "import sys\nfrom bridge.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('bridge.cli.', 'runtime'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    # The package ``bridge`` takes its lazy exports from runtime.lazy (standard library only).
    assert done.stdout.strip().splitlines()[-1] == "['runtime', 'runtime.lazy']"


def test_the_readme_command_table_names_every_command_and_its_exit_codes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The command line", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    spans = [span for row in rows for span in re.findall(r"`([^`]*)`", row.split(" | ")[0])]
    listed = {word for span in spans for word in re.findall(r"[a-z][a-z0-9-]*", span)}
    for path in EVERY_COMMAND:
        if path:
            assert path[-1] in listed, f"README command table misses {' '.join(path)}"
    assert all(row.rstrip().endswith("|") and row.count("|") >= 4 for row in rows)
    assert all(re.search(r"\| [^|]*\b\d\b[^|]* \|$", row) or "as `" in row for row in rows)
