"""Exec a verification command so that it dies with the bridge that started it.

Run by path (``python -I -S parent_guard.py PARENT_PID PROGRAM ARG...``) so it imports none of the
project: on Linux it asks the kernel to SIGKILL it when its parent dies (PR_SET_PDEATHSIG),
then replaces itself with the command, which keeps that setting. Without it, a bridge killed
mid-verification would leave the command running with no one to enforce its timeout.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(parent: int, argv: list[str]) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent is named by the caller, not read here: a parent that died while this
        # interpreter started would otherwise go unnoticed (we would read init's pid).
        if os.getppid() != parent:
            os._exit(1)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
