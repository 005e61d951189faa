"""A minimal client of ``codex app-server`` (JSON-RPC, one JSON object per line over stdio).

It runs one turn: ``initialize`` -> ``initialized`` -> ``thread/start`` -> ``turn/start``, then
collects every notification until ``turn/completed``. Server requests (approvals) are
declined: a probe never lets the model act. The method names and fields are those of the
schema the pinned Codex prints with ``codex app-server generate-json-schema``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLIENT_INFO = {"name": "codex-oss-app-server-probe", "version": "1"}


class AppServerError(RuntimeError):
    """The app-server did not start, answered a request with an error, or timed out."""

    transcript: TurnTranscript | None = None


@dataclass
class TurnTranscript:
    """Every notification of one turn, in arrival order, as ``(seconds, method, params)``."""

    notifications: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    stderr: str = ""

    def of(self, method: str) -> list[dict[str, Any]]:
        """The params of each notification named ``method``."""
        return [params for _, name, params in self.notifications if name == method]


def run_turn(
    codex: Path,
    *,
    codex_home: Path,
    cwd: Path,
    model: str,
    provider: str,
    prompt: str,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> TurnTranscript:
    """One turn of ``model`` on ``provider`` through a fresh ``codex app-server``."""
    environment = {**(os.environ if env is None else env), "CODEX_HOME": str(codex_home)}
    process = subprocess.Popen(
        [str(codex), "app-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=environment,
    )
    session = _Session(process, deadline=time.monotonic() + timeout)
    try:
        session.request("initialize", {"clientInfo": CLIENT_INFO})
        session.notify("initialized")
        started = session.request(
            "thread/start",
            {
                "model": model,
                "modelProvider": provider,
                "cwd": str(cwd),
                "approvalPolicy": "never",
                "sandbox": "read-only",
            },
        )
        thread_id = (started.get("thread") or {}).get("id")
        if not thread_id:
            raise AppServerError(f"thread/start answered without a thread id: {started}")
        turn = {"threadId": thread_id, "input": [{"type": "text", "text": prompt}]}
        session.request("turn/start", turn)
        session.until("turn/completed")
        return session.transcript
    except AppServerError as exc:
        exc.transcript = session.transcript  # what did arrive, for the probe's record
        raise
    finally:
        session.close()


class _Session:
    """The process, a reader thread feeding a queue, and the transcript being collected."""

    def __init__(self, process: subprocess.Popen[str], deadline: float) -> None:
        self.process = process
        self.deadline = deadline
        self.started = time.monotonic()
        self.next_id = 0
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.transcript = TurnTranscript()
        self.errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.errors.append(line)

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except OSError as exc:  # the app-server is gone (a broken pipe)
            raise AppServerError(f"codex app-server stopped reading its input: {exc}") from None

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self._send({"method": method, **({"params": params} if params is not None else {})})

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        wanted = self.next_id
        self._send({"id": wanted, "method": method, "params": params})
        while True:
            message = self._next(f"the answer to {method}")
            if message.get("id") == wanted and "method" not in message:
                if "error" in message:
                    raise AppServerError(f"{method} failed: {message['error']}")
                return message.get("result") or {}

    def until(self, method: str) -> None:
        """Wait for notification ``method`` (it may have come while awaiting an answer)."""
        if self.transcript.of(method):
            return
        while True:
            message = self._next(method)
            if message.get("method") == method:
                return

    def _next(self, waiting_for: str) -> dict[str, Any]:
        """The next answer or notification (notifications also recorded); server requests are
        declined here and never returned."""
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise AppServerError(f"timed out waiting for {waiting_for}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AppServerError(
                    f"codex app-server exited while waiting for {waiting_for}: "
                    + "".join(self.errors)[-500:]
                )
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            method = message.get("method")
            if method and "id" in message:  # a server request: never approve anything
                self._send({"id": message["id"], "error": {"code": -32000, "message": "probe"}})
                continue
            if method:
                at = time.monotonic() - self.started
                self.transcript.notifications.append((at, method, message.get("params") or {}))
            return message

    def close(self) -> None:
        self.transcript.stderr = "".join(self.errors)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
