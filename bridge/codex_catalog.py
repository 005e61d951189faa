"""The Codex model catalog for the bridge's aliases, and the Codex profile that uses it.

Without catalog metadata Codex 0.169.0 warns "Model metadata for `<alias>` not found" on every
run and never offers a raw ``ocg-*`` session its ``apply_patch`` tool. A catalog
(``model_catalog_json``) replaces Codex's built-in one for the whole session, so it must not be
set at the top of the user's config (their GPT sessions would lose their metadata). ``install``
writes it beside a Codex profile file instead (``$CODEX_HOME/opencode_bridge.config.toml``):
``codex -p opencode_bridge -m ocg-kimi-k2.6`` runs an OSS session on the bridge with the
catalog, and every other session keeps Codex's own.

Pure planning (:func:`catalog_document`, :func:`profile_text`) plus one function that adds the
two files to an install plan.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.install import InstallOptions, InstallPlan
    from runtime.registry import ModelRegistry

PROFILE_NAME = "opencode_bridge"
CATALOG_PATH = "$CODEX_HOME/opencode-bridge-models.json"
PROFILE_PATH = f"$CODEX_HOME/{PROFILE_NAME}.config.toml"
DEFAULT_CONTEXT_WINDOW = 131_072  # conservative for the OpenCode Go models
CONTEXT_WINDOWS = {"kimi-k2.6": 262_144, "smollm2-135m-instruct": 8_192}
TRUNCATION_BYTES = 10_000

RAW_INSTRUCTIONS = """\
You are a coding agent in the Codex CLI, running on an open-source model through the OpenCode \
Bridge. Work only on the task you were given, inside the files it names.

- Run shell commands with the exec_command tool; read files with commands such as `sed -n` or \
`rg`, and keep outputs short.
- Change files only with the apply_patch tool. Its input is a patch envelope: \
`*** Begin Patch`, then per file `*** Add File: PATH`, `*** Delete File: PATH` or \
`*** Update File: PATH` with `@@` hunks of context lines (prefix ' '), removed lines ('-') \
and added lines ('+'), and finally `*** End Patch`.
- Do not revert changes you did not make. Say plainly what you could not verify.
- End with a short final message: what you changed or found, with file paths and line \
numbers, and the commands you ran."""

MISSION_INSTRUCTIONS = """\
This alias runs a MissionV1 mission in the OpenCode Bridge runtime. The runtime supplies the \
model's instructions and tools; send one <OSS_HANDOFF_JSON> block and read the report in the \
final message."""


def catalog_document(registry: ModelRegistry) -> dict[str, Any]:
    """``{"models": [...]}``: one Codex ModelInfo entry per alias the registry offers.

    Raw aliases get Codex's tools (apply_patch as a freeform tool); mission aliases get none,
    because the runtime, not Codex, runs their tools.
    """
    models = []
    for priority, alias in enumerate(registry.aliases()):
        resolution = registry.resolve(alias)
        raw = resolution.kind == "raw"
        upstream = resolution.chain[0].upstream_model
        models.append(
            {
                "slug": alias,
                "display_name": alias,
                "description": (
                    f"{upstream} through the OpenCode Bridge"
                    + ("" if raw else f" as a tier {resolution.tier} mission")
                ),
                "supported_reasoning_levels": [],
                "shell_type": "shell_command" if raw else "disabled",
                "visibility": "list",
                "supported_in_api": True,
                "priority": priority,
                "upgrade": None,
                "base_instructions": RAW_INSTRUCTIONS if raw else MISSION_INSTRUCTIONS,
                "supports_reasoning_summaries": False,
                "support_verbosity": False,
                "default_verbosity": None,
                "apply_patch_tool_type": "freeform" if raw else None,
                "truncation_policy": {"mode": "bytes", "limit": TRUNCATION_BYTES},
                "supports_parallel_tool_calls": False,
                "context_window": CONTEXT_WINDOWS.get(upstream, DEFAULT_CONTEXT_WINDOW),
                "experimental_supported_tools": [],
            }
        )
    return {"models": models}


def profile_text(catalog_file: Path) -> str:
    """The Codex profile file: the bridge provider and the catalog, for ``codex -p``."""
    return (
        "# OpenCode Bridge profile (written by `codex-oss install`): run an OSS session with\n"
        f"#   codex -p {PROFILE_NAME} -m ocg-kimi-k2.6\n"
        "# The catalog replaces Codex's built-in model list, so only this profile uses it.\n"
        f'model_provider = "{PROFILE_NAME}"\n'
        f"model_catalog_json = {json.dumps(str(catalog_file))}\n"
    )


def plan_codex_catalog(plan: InstallPlan, options: InstallOptions) -> InstallPlan:
    """``plan`` with the catalog and the profile file added (read from ``options.codex_home``)."""
    from bridge.install import PlannedFile, target_path
    from runtime.registry import ModelRegistry
    from runtime.settings import load_settings

    registry = ModelRegistry(load_settings(options.project))
    catalog = json.dumps(catalog_document(registry), indent=2) + "\n"
    catalog_file = target_path(CATALOG_PATH, options.project, options.codex_home)
    profile_file = target_path(PROFILE_PATH, options.project, options.codex_home)
    files = [
        PlannedFile(CATALOG_PATH, _read(catalog_file), catalog),
        PlannedFile(PROFILE_PATH, _read(profile_file), profile_text(catalog_file)),
    ]
    return replace(plan, files=(*plan.files, *files))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
