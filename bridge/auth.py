"""Bearer authentication of bridge clients, and the key sanity check done before serving."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.responses import error_body
from runtime.settings import Settings

__all__ = ["KeyConfigError", "auth_middleware", "bearer_matches", "check_keys"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class KeyConfigError(RuntimeError):
    """The configured keys are unsafe to serve with."""


def check_keys(settings: Settings) -> None:
    """Refuse a local key equal to an upstream key: a client of the bridge would hold it."""
    local = settings.PROXY_API_KEY
    if not local:
        return
    for name in ("OPENCODE_GO_API_KEY", "OPENAI_API_KEY"):
        upstream = getattr(settings, name)
        if upstream and hmac.compare_digest(local.encode(), upstream.encode()):
            raise KeyConfigError(
                f"PROXY_API_KEY equals {name}: choose a different local key, so that clients of "
                "the bridge never hold the upstream key"
            )


def bearer_matches(header: str | None, expected: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <expected>`` (constant time)."""
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def auth_middleware(expected: str | None) -> Callable[[web.Request, Handler], Awaitable]:
    """Middleware answering 401 (JSON) unless the request carries the local key."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected and not bearer_matches(request.headers.get("Authorization"), expected):
            return web.json_response(
                error_body(
                    "missing or wrong bearer token: send 'Authorization: Bearer <PROXY_API_KEY>'",
                    code="invalid_api_key",
                    type_="authentication_error",
                ),
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    return middleware
