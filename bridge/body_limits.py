"""The bound every request body passes before any route decodes it.

A body is read once (aiohttp keeps it for the route), must be UTF-8, and must nest no deeper
and hold no more values than :mod:`runtime.bounded_json` allows; anything else is a 400 that
says which bound it broke (a body over the size limit is already a 413). So no input can
reach the decoder's recursion or blow the heap up into a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.responses import RequestError
from runtime.bounded_json import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_VALUES,
    JsonLimitError,
    check_json_shape,
)

__all__ = ["body_limits_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def body_limits_middleware(
    max_depth: int = DEFAULT_MAX_DEPTH, max_values: int = DEFAULT_MAX_VALUES
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Middleware answering 400 for a body that is not UTF-8 or breaks the JSON bounds."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.can_read_body:
            raw = await request.read()  # over client_max_size: 413, answered outside
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RequestError(
                    f"request body is not UTF-8 (byte {exc.start}): send JSON encoded as UTF-8",
                    code="invalid_json",
                ) from None
            try:
                check_json_shape(raw, max_depth=max_depth, max_values=max_values)
            except JsonLimitError as exc:
                raise RequestError(
                    f"request body refused: {exc.msg}; send a flatter, smaller JSON object",
                    code="invalid_json",
                ) from None
        return await handler(request)

    return middleware
