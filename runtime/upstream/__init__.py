"""The upstream client: OpenAI-compatible chat completions with retries, deadlines, caps,
fallback chains and a circuit breaker. The names below are public; the modules behind them
(``_client`` first) are private."""

from __future__ import annotations

from runtime.upstream._client import UpstreamClient, UpstreamError
from runtime.upstream._completions import ChatResult, Usage, merge_tool_call

__all__ = ["ChatResult", "UpstreamClient", "UpstreamError", "Usage", "merge_tool_call"]
