"""A throwaway project with code trees, a claim registry and proof packs, for pytester runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.claims import ClaimStatus, project_status

REGISTRY = """\
[claims.alpha]
description = "alpha holds"
depends_on = ["engine"]

[claims.beta]
description = "beta holds"
depends_on = ["gate"]
"""

PYPROJECT = """\
[tool.pytest.ini_options]
testpaths = ["tests", "proof_packs"]
pythonpath = ["."]
asyncio_default_fixture_loop_scope = "function"
"""

ALPHA_PACK = """\
import pytest

from engine.core import answer


@pytest.mark.claim("alpha")
def test_answer_is_42():
    assert answer() == 42


@pytest.mark.claim("alpha")
def test_answer_is_an_int():
    assert isinstance(answer(), int)
"""

BETA_PACK = """\
import pytest


@pytest.mark.claim("beta")
def test_door_opens():
    from gate.door import opens

    assert opens()
"""


@dataclass
class ClaimsProject:
    """The pytester folder laid out like this repository, with helpers to read its claims."""

    pytester: pytest.Pytester

    @property
    def path(self) -> Path:
        return self.pytester.path

    @property
    def claims_dir(self) -> Path:
        return self.path / ".codex-oss" / "claims"

    def write(self, relative: str, text: str) -> Path:
        """Write a file of the project (folders created)."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def artifact(self, claim: str) -> dict[str, Any]:
        """The parsed artifact of ``claim``."""
        return json.loads((self.claims_dir / f"{claim}.json").read_text(encoding="utf-8"))

    def artifacts(self) -> list[str]:
        """Names of the files in the claims folder."""
        if not self.claims_dir.exists():
            return []
        return sorted(path.name for path in self.claims_dir.iterdir())

    def status(self) -> dict[str, ClaimStatus]:
        """claim-status of the project, by claim."""
        return {item.claim: item for item in project_status(self.path)}


@pytest.fixture
def claims_project(pytester: pytest.Pytester) -> ClaimsProject:
    """A project with engine/ and gate/ code (named apart from this repository's packages,
    which are already imported), two claims and their proof packs, and one
    ordinary test under tests/."""
    project = ClaimsProject(pytester)
    project.write("pyproject.toml", PYPROJECT)
    project.write("engine/__init__.py", "")
    project.write("engine/core.py", "def answer():\n    return 42\n")
    project.write("gate/__init__.py", "")
    project.write("gate/door.py", "def opens():\n    return True\n")
    project.write("proof_packs/claims.toml", REGISTRY)
    project.write("proof_packs/test_alpha.py", ALPHA_PACK)
    project.write("proof_packs/test_beta.py", BETA_PACK)
    project.write("tests/test_dev.py", "def test_dev():\n    pass\n")
    pytester.syspathinsert(pytester.path)
    return project
