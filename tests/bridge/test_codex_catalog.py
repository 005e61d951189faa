"""The Codex model catalog and profile ``codex-oss install`` writes (bridge/codex_catalog.py)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from bridge.codex_catalog import (
    CATALOG_PATH,
    PROFILE_NAME,
    PROFILE_PATH,
    catalog_document,
    profile_text,
)
from bridge.install import InstallOptions, install
from runtime.registry import ModelRegistry
from runtime.settings import Settings


def test_every_alias_has_an_entry_and_only_raw_ones_get_apply_patch() -> None:
    registry = ModelRegistry(Settings())
    models = {entry["slug"]: entry for entry in catalog_document(registry)["models"]}
    assert set(models) == set(registry.aliases())
    raw, mission = models["ocg-kimi-k2.6"], models["mission-a3-kimi"]
    assert raw["apply_patch_tool_type"] == "freeform" and raw["context_window"] > 0
    assert mission["apply_patch_tool_type"] is None
    assert "MissionV1" in mission["base_instructions"]
    assert models["ocg-local"]["context_window"] == 8192


def test_the_profile_selects_the_bridge_and_the_catalog(tmp_path: Path) -> None:
    document = tomllib.loads(profile_text(tmp_path / "catalog.json"))
    assert document == {
        "model_provider": PROFILE_NAME,
        "model_catalog_json": str(tmp_path / "catalog.json"),
    }


def test_install_writes_the_catalog_beside_a_profile_and_never_in_the_user_config(
    tmp_path: Path,
) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    options = InstallOptions(project=project, codex_home=home)
    first = install(options)
    written = {planned.path for planned in first.changed}
    assert {CATALOG_PATH, PROFILE_PATH} <= written
    catalog = json.loads((home / "opencode-bridge-models.json").read_text())
    assert any(entry["slug"] == "mission-a5-deepseek" for entry in catalog["models"])
    profile = tomllib.loads((home / f"{PROFILE_NAME}.config.toml").read_text())
    assert profile["model_catalog_json"] == str(home / "opencode-bridge-models.json")
    assert "model_catalog_json" not in (home / "config.toml").read_text()
    assert install(options).changed == ()  # idempotent
