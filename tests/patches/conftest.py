"""Fixtures for the patch pipeline tests: the fixture project and real event logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.eventlog import MissionEventLog, new_run_id
from tests.patches.fixture_repo import make_fixture_repo


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_fixture_repo(tmp_path / "project")


@pytest.fixture
def event_log(project: Path) -> Iterator[Callable[[str], MissionEventLog]]:
    """A real event log for a mission of the fixture project."""
    logs: list[MissionEventLog] = []

    def open_log(mission_id: str = "fix-moving-sum") -> MissionEventLog:
        log = MissionEventLog.create(project, new_run_id(), mission_id)
        logs.append(log)
        return log

    yield open_log
    for log in logs:
        log.close()
