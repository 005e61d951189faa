"""A missing prerequisite skips on a developer's machine and fails under CI."""

from __future__ import annotations

import pytest

from tests.needs import need_packages


def test_a_missing_package_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="not installed: surely_absent_xyz"):
        need_packages("surely_absent_xyz")


def test_a_missing_package_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="bash scripts/setup"):
        need_packages("surely_absent_xyz")


def test_installed_packages_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    need_packages("json", "pytest")
