"""Tracked background processes: run files, liveness, ownership, termination, ports, log tails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.processes import (
    ProcessFiles,
    cmdline_has_mark,
    is_ours,
    listening_inodes,
    log_tail,
    parse_int,
    pid_alive,
    port_in_use,
    port_owner,
    proc_state,
    start_detached,
    stop_recorded,
    tail_text,
    terminate,
)

MARK = "test-processes-mark"  # an extra argv word: what makes a sleeping child "ours"
SLEEP = "import time; time.sleep(60)"
# Ignores SIGTERM, and says so once the handler is in place (so the test's SIGTERM cannot
# arrive before it and kill the child the ordinary way).
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Popen objects a test starts; any still running afterwards is killed and reaped."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()


def sleeper(children: list[subprocess.Popen[bytes]], *extra: str) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", SLEEP, *extra])
    children.append(child)
    # Until the child has exec'd, /proc shows the forking test's command line, not its own.
    deadline = time.monotonic() + 5
    cmdline = Path(f"/proc/{child.pid}/cmdline")
    while SLEEP.encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.005)
    return child


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- run files ---------------------------------------------------------------------------------


def test_run_files_round_trip_under_codex_oss_run(tmp_path: Path) -> None:
    files = ProcessFiles(tmp_path, "thing", fields=("port", "host"))
    files.write(4321, port=8080, host="127.0.0.1")
    assert (tmp_path / ".codex-oss/run/thing.pid").read_text() == "4321\n"
    assert files.read_pid() == 4321
    assert files.read_int("port") == 8080
    assert files.read_text("host") == "127.0.0.1"
    assert not list(files.dir.glob("*.tmp"))  # the atomic writes leave nothing behind


def test_remove_keeps_files_another_pid_has_recorded_and_keeps_the_log(tmp_path: Path) -> None:
    files = ProcessFiles(tmp_path, "thing")
    files.write(11, port=1)
    files.log_file.write_text("why it ended\n")
    files.remove(only_if_pid=22)
    assert files.read_pid() == 11
    files.remove(only_if_pid=11)
    assert files.read_pid() is None
    assert files.read_int("port") is None
    assert files.log_file.exists()


def test_an_unknown_run_file_field_is_refused_by_name(tmp_path: Path) -> None:
    files = ProcessFiles(tmp_path, "thing", fields=("port",))
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['hots'\]"):
        files.write(1, hots="127.0.0.1")
    assert not files.pid_file.exists()


def test_a_garbled_pid_file_reads_as_no_pid(tmp_path: Path) -> None:
    files = ProcessFiles(tmp_path, "thing")
    files.dir.mkdir(parents=True)
    files.pid_file.write_text("not a number\n")
    assert files.read_pid() is None
    assert stop_recorded(files, [MARK], timeout=1).outcome == "none"


# -- liveness and ownership --------------------------------------------------------------------


def test_a_sleeping_child_with_the_mark_is_alive_and_ours(children) -> None:
    child = sleeper(children, MARK)
    assert pid_alive(child.pid)
    assert is_ours(child.pid, [MARK])


def test_a_live_process_without_the_mark_is_not_ours(children) -> None:
    child = sleeper(children)
    assert pid_alive(child.pid)
    assert not is_ours(child.pid, [MARK])


def test_an_exited_unreaped_child_is_a_zombie_and_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, still unreaped
        assert not pid_alive(child.pid)
        assert not is_ours(child.pid, ["-c"])
    finally:
        child.wait()


def test_a_detached_child_of_ours_is_reaped_once_it_exits(tmp_path: Path) -> None:
    child = start_detached(
        [sys.executable, "-c", "print('hello')"], cwd=tmp_path, log_path=tmp_path / "run/x.log"
    )
    for _ in range(200):
        if not pid_alive(child.pid):
            break
        time.sleep(0.05)
    assert child.returncode == 0  # polled by pid_alive, so no zombie is left
    assert (tmp_path / "run/x.log").read_text() == "hello\n"


def test_a_detached_child_runs_in_its_own_session(tmp_path: Path, children) -> None:
    child = start_detached(
        [sys.executable, "-c", SLEEP, MARK], cwd=tmp_path, log_path=tmp_path / "x.log"
    )
    children.append(child)
    assert os.getsid(child.pid) == child.pid != os.getsid(0)


# -- termination -------------------------------------------------------------------------------


def test_terminate_ends_a_child_on_sigterm(children) -> None:
    child = sleeper(children, MARK)
    assert terminate(child.pid, timeout=10) is True
    assert not pid_alive(child.pid)
    assert child.wait(timeout=1) == -15


def test_terminate_kills_a_child_that_ignores_sigterm(children) -> None:
    child = subprocess.Popen([sys.executable, "-c", STUBBORN, MARK], stdout=subprocess.PIPE)
    children.append(child)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    assert terminate(child.pid, timeout=0.3) is False
    assert child.wait(timeout=5) == -9


def test_stop_ends_the_recorded_process_of_ours_and_clears_its_files(tmp_path, children) -> None:
    child = sleeper(children, MARK)
    files = ProcessFiles(tmp_path, "thing")
    files.write(child.pid, port=1)
    result = stop_recorded(files, [MARK], timeout=10)
    assert (result.outcome, result.pid, result.was_running) == ("stopped", child.pid, True)
    assert child.wait(timeout=1) == -15
    assert files.read_pid() is None and files.read_int("port") is None


def test_a_stale_pid_file_is_cleaned_up(tmp_path: Path) -> None:
    files = ProcessFiles(tmp_path, "thing")
    pid = dead_pid()
    files.write(pid, port=1)
    result = stop_recorded(files, [MARK], timeout=1)
    assert (result.outcome, result.pid, result.was_running) == ("stale", pid, False)
    assert not files.pid_file.exists()
    assert not files.path("port").exists()


def test_a_pid_reused_by_another_program_is_never_signalled(tmp_path, children) -> None:
    bystander = sleeper(children)  # alive under the recorded pid, but not ours
    files = ProcessFiles(tmp_path, "thing")
    files.write(bystander.pid, port=1)
    assert stop_recorded(files, [MARK], timeout=1).outcome == "stale"
    assert bystander.poll() is None
    assert not files.pid_file.exists()


# -- ports -------------------------------------------------------------------------------------


def test_a_listening_port_is_in_use_and_owned_by_this_process() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        assert port_in_use("0.0.0.0", port)  # a wildcard host is probed on loopback
        if Path("/proc/net/tcp").exists():
            assert port_owner(port) == os.getpid()
    assert not port_in_use("127.0.0.1", port)
    assert port_owner(port) is None


# -- log tails ---------------------------------------------------------------------------------


def test_log_tail_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert log_tail(tmp_path / "nothing.log", lines=5) == ""


def test_log_tail_keeps_the_last_lines_then_the_last_characters(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {n}\n" for n in range(30)))
    assert log_tail(log, lines=2) == "line 28\nline 29"
    assert log_tail(log, max_chars=8) == "line 29\n"
    assert log_tail(log, lines=2, max_chars=4) == "e 29"


# -- pure parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("42\n", 42), (" 7 ", 7), ("", None), (None, None), ("4x", None)]
)
def test_parse_int(text: str | None, expected: int | None) -> None:
    assert parse_int(text) == expected


def test_proc_state_reads_past_a_command_name_holding_parentheses_and_spaces() -> None:
    assert proc_state("123 (odd) name) Z 1 123 123 0 -1") == "Z"
    assert proc_state("123 (python3) S 1 2 3") == "S"
    assert proc_state("") is None


def test_cmdline_marks_match_across_nul_separated_arguments() -> None:
    raw = b"/usr/bin/python3\0-m\0runtime.local_model\0serve\0"
    assert cmdline_has_mark(raw, ["runtime.local_model"])
    assert cmdline_has_mark(raw, ["-m runtime.local_model"])
    assert not cmdline_has_mark(raw, ["bridge.cli", "codex-oss"])


def test_listening_inodes_take_only_listen_rows_for_the_port() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:0FA1 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 "
        "0 111 1 0\n"
        "   1: 0100007F:0FA1 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000 "
        "0 222 1 0\n"
        "   2: 0100007F:0FA2 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 "
        "0 333 1 0\n"
    )
    assert listening_inodes(table, 0x0FA1) == {"111"}
    assert listening_inodes(table, 1) == set()


def test_tail_text_without_limits_is_the_text() -> None:
    assert tail_text("a\nb\n") == "a\nb\n"
