"""A bad setting in the environment is one line naming the variable and exit 2, in every command.

Real subprocesses, as a user runs them: before the fix ``MODEL_MAP_JSON='{bad' codex-oss
status`` printed a pydantic-settings traceback (SettingsError) and ``PROXY_PORT=abc`` a
ValidationError traceback, both with exit 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.settings import Settings, SettingsInvalid

BAD_SETTINGS = {
    "MODEL_MAP_JSON": "{bad",
    "PROXY_PORT": "abc",
    "FALLBACK_MODEL_MAP_JSON": '{"kimi-k2.6": "not-a-list"}',
    "OSS_VISIBLE_TRACE": "loud",
}

HANDOFF = '<OSS_HANDOFF_JSON>{"mission_id": "m"}</OSS_HANDOFF_JSON>'

# Every command that reads the settings (the rest never load them, so cannot trip on them).
COMMANDS: dict[str, list[str]] = {
    "status": ["status"],
    "doctor": ["doctor"],
    "up": ["up", "--port", "0"],
    "restart": ["restart", "--port", "0"],
    "install": ["install", "--project", "."],
    "demo": ["demo"],
    "mission run": ["mission", "run", "handoff.txt", "--model", "mission-a3-kimi"],
    "start": ["start"],
}


def _cli(args: list[str], cwd: Path, variable: str, value: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in BAD_SETTINGS}
    env.update({variable: value, "CODEX_HOME": str(cwd / "codex-home"), "HOME": str(cwd)})
    return subprocess.run(
        [sys.executable, "-c", "from bridge.cli import main; main(prog_name='codex-oss')", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("variable", ["MODEL_MAP_JSON", "PROXY_PORT"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, command: str, variable: str):
    (tmp_path / ".git").mkdir()
    (tmp_path / "handoff.txt").write_text(HANDOFF, encoding="utf-8")
    result = _cli(COMMANDS[command], tmp_path, variable, BAD_SETTINGS[variable])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: bad setting {variable}: ")
    assert f"for example {variable}=" in lines[0]


@pytest.mark.parametrize("variable", sorted(BAD_SETTINGS))
def test_settings_invalid_names_the_variable_and_never_echoes_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str
):
    monkeypatch.setenv(variable, BAD_SETTINGS[variable])
    with pytest.raises(SettingsInvalid) as raised:
        Settings()
    assert raised.value.variable == variable
    assert "\n" not in str(raised.value)
    assert BAD_SETTINGS[variable] not in str(raised.value).split("for example")[0]
