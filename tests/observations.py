"""The ToolObserved of a ``read``, as the tests that build run logs by hand write it."""

from __future__ import annotations

from typing import Any

from runtime.events import ToolObserved


def observed_read(
    path: str,
    output: str,
    *,
    call_id: int = 1,
    start_line: int = 1,
    end_line: int = 9,
    **extra: Any,
) -> ToolObserved:
    """A read of ``path`` that showed ``output`` (its byte count unless ``output_bytes`` says)."""
    extra.setdefault("output_bytes", len(output.encode("utf-8")))
    return ToolObserved(
        call_id=call_id,
        tool_name="read",
        arguments={"path": path},
        path=path,
        start_line=start_line,
        end_line=end_line,
        output=output,
        **extra,
    )
