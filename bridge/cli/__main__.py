"""``python -m bridge.cli``: the same as the ``codex-oss`` script."""

from bridge.cli import main

main()
