"""Options the command groups share, so ``--project`` and ``--json`` mean the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bridge.project import find_project_root


def project_option(help: str) -> Callable[[Any], Any]:
    """``--project DIR``; left out, the nearest ancestor of the cwd holding .codex-oss/ or .git/."""
    return click.option(
        "--project",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        callback=lambda _ctx, _param, value: find_project_root(value),
        help=f"{help} (default: the project around the current directory)",
    )


json_option = click.option("--json", "as_json", is_flag=True, help="print the result as JSON")


def codex_home_option(what: str) -> Callable[[Any], Any]:
    """``--codex-home DIR`` (CODEX_HOME; left out, the command uses ~/.codex)."""
    return click.option(
        "--codex-home",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="CODEX_HOME",
        default=None,
        help=f"Codex's home, whose config.toml is {what} (default: CODEX_HOME, else ~/.codex).",
    )
