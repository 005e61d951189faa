"""The bridge's HTTP surface: ``POST /v1/responses``, ``GET /v1/models``, ``GET /health``.

``create_app`` builds the aiohttp application around one upstream client and one model
registry; ``start_server`` binds it (127.0.0.1 unless told otherwise, with a warning for any
other address); ``ServerThread`` runs it on its own loop for tests and tools that need a live
bridge beside blocking code. Every error a client can cause is JSON that says what to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web

from bridge.auth import auth_middleware, check_keys
from bridge.body_limits import body_limits_middleware
from bridge.loop_thread import loop_thread
from bridge.raw import handle_gpt_passthrough, handle_raw
from bridge.responses import RequestError, error_body, parse_request
from bridge.source_hash import package_version, source_hash
from bridge.upstream_transport import AiohttpTransport
from runtime.registry import AdmissionError, ModelRegistry
from runtime.settings import Settings
from runtime.upstream import UpstreamClient

if TYPE_CHECKING:
    from runtime.redact import Redactor

__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "DEFAULT_MAX_REQUEST_BYTES",
    "BridgeState",
    "ServerThread",
    "create_app",
    "start_server",
]

log = logging.getLogger("bridge")

DEFAULT_HEARTBEAT_SECONDS = 5.0
# Codex resends the whole history every turn: long sessions reach several megabytes.
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024


@dataclass
class BridgeState:
    """What the routes share: settings, registry, the one upstream client, timings."""

    settings: Settings
    project_root: Path
    registry: ModelRegistry
    client: Any
    heartbeat_seconds: float
    source_hash: str
    started: float = field(default_factory=time.monotonic)
    owns_client: bool = False
    passthrough: httpx.AsyncClient | None = None
    _redactor: Redactor | None = None

    def scrub(self, text: str) -> str:
        """``text`` with configured keys and other secrets redacted (for error messages)."""
        return self.redactor.redact(text).text

    @property
    def redactor(self) -> Redactor:
        """The redactor of this bridge's secrets, built on first use.

        Raw aliases need it only for error messages, and its detectors (detect-secrets and
        the HTTP stack that package pulls in) would add ~6 MiB to every idle bridge.
        """
        if self._redactor is None:
            from runtime.redact import Redactor

            self._redactor = Redactor(self.settings.secret_values())
        return self._redactor


STATE = web.AppKey("bridge_state", BridgeState)


def create_app(
    settings: Settings,
    project_root: Path,
    *,
    client: Any = None,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> web.Application:
    """The bridge application; raises ``KeyConfigError`` when the keys are unsafe."""
    check_keys(settings)
    state = BridgeState(
        settings=settings,
        project_root=project_root,
        registry=ModelRegistry(settings),
        client=client
        if client is not None
        else UpstreamClient(settings, transport=AiohttpTransport()),
        heartbeat_seconds=heartbeat_seconds,
        source_hash=source_hash(),
        owns_client=client is None,
    )
    app = web.Application(
        client_max_size=max_request_bytes,
        middlewares=[
            _errors_middleware,
            auth_middleware(settings.PROXY_API_KEY),
            body_limits_middleware(),
        ],
    )
    app[STATE] = state
    app.router.add_post("/v1/responses", responses_route)
    app.router.add_get("/v1/models", models_route)
    app.router.add_get("/health", health_route)
    app.on_cleanup.append(_close_clients)
    return app


async def _close_clients(app: web.Application) -> None:
    state = app[STATE]
    if state.owns_client and hasattr(state.client, "aclose"):
        await state.client.aclose()
    if state.passthrough is not None:
        await state.passthrough.aclose()


# -- routes ------------------------------------------------------------------------------------


async def responses_route(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses``: mission aliases, raw aliases, or GPT passthrough."""
    state = request.app[STATE]
    raw_body = await request.read()
    parsed = parse_request(raw_body)
    try:
        resolution = state.registry.resolve(parsed.model)
    except AdmissionError as exc:
        raise RequestError(exc.message, code=exc.code, param="model") from None
    if resolution.kind == "mission":
        # Imported on first use: the mission path (handoff, contracts, runner) is not needed
        # by raw aliases, which are most of a bridge's traffic.
        from bridge.missions import handle_mission

        return await handle_mission(
            request,
            parsed,
            resolution,
            project_root=state.project_root,
            settings=state.settings,
            client=state.client,
            heartbeat_seconds=state.heartbeat_seconds,
            scrub=state.scrub,
        )
    if resolution.kind == "gpt":
        if state.passthrough is None:
            state.passthrough = httpx.AsyncClient(timeout=httpx.Timeout(None))
        return await handle_gpt_passthrough(request, raw_body, resolution, state.passthrough)
    return await handle_raw(
        request,
        parsed,
        resolution,
        client=state.client,
        deadline_seconds=state.settings.REQUEST_DEADLINE_SECONDS,
        heartbeat_seconds=state.heartbeat_seconds,
        upstream_stream=state.settings.UPSTREAM_STREAM,
        scrub=state.scrub,
    )


async def models_route(request: web.Request) -> web.Response:
    """``GET /v1/models``: the aliases this bridge serves.

    Codex asks with ``?client_version=`` and decodes its own catalog shape (``models`` holding
    full model metadata); the bridge has no such metadata to give, so Codex gets an empty
    catalog and keeps its built-in defaults. Everyone else gets OpenAI's model list.
    """
    if "client_version" in request.query:
        return web.json_response({"models": [], "etag": ""})
    aliases = request.app[STATE].registry.aliases()
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"id": alias, "object": "model", "created": 0, "owned_by": "opencode-bridge"}
                for alias in aliases
            ],
        }
    )


async def health_route(request: web.Request) -> web.Response:
    """``GET /health``: version, source hash, uptime, whether an upstream key is set."""
    state = request.app[STATE]
    return web.json_response(
        {
            "status": "ok",
            "version": package_version(),
            "source_hash": state.source_hash,
            "uptime_seconds": round(time.monotonic() - state.started, 3),
            "upstream_key_present": bool(state.settings.OPENCODE_GO_API_KEY),
            "project": str(state.project_root),
        }
    )


# -- errors ------------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Client errors as OpenAI-shaped JSON; unexpected errors as a 500 that names them."""
    try:
        return await handler(request)
    except RequestError as exc:
        return web.json_response(exc.body(), status=exc.status)
    except web.HTTPRequestEntityTooLarge as exc:
        return web.json_response(
            error_body(
                f"request body too large: {exc.text or ''} (the bridge accepts at most "
                f"{request.app._client_max_size} bytes)",
                code="request_too_large",
            ),
            status=413,
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response(
            error_body(f"{exc.status} {exc.reason}: {request.method} {request.path}"),
            status=exc.status,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = request.app[STATE].scrub(f"internal bridge error: {type(exc).__name__}: {exc}")
        return web.json_response(error_body(message, type_="server_error"), status=500)


# -- serving -----------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def start_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Bind and start ``app``; returns the runner and the bound port (``port=0`` picks one)."""
    if not is_loopback(host):
        log.warning(
            "binding the bridge to %s exposes it beyond this machine; keep 127.0.0.1 unless "
            "PROXY_API_KEY is set and you mean it",
            host,
        )
    # Handler cancellation: a client that disconnects cancels its request, and with it the
    # upstream call or the mission behind it.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, bound


class ServerThread:
    """Runs an app built by ``factory`` on its own event loop in a daemon thread.

    ``with ServerThread(lambda: create_app(...)) as server: server.base_url``.
    """

    def __init__(
        self, factory: Callable[[], web.Application], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.factory = factory
        self.host = host
        self.port = port
        self._stop = contextlib.ExitStack()

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> ServerThread:
        async def start() -> tuple[web.AppRunner, int]:
            # Built inside the loop, so clients created by the factory bind to it.
            return await start_server(self.factory(), self.host, self.port)

        with contextlib.ExitStack() as stack:
            run = stack.enter_context(loop_thread("bridge-server"))
            runner, self.port = run(start())
            stack.callback(lambda: run(runner.cleanup()))
            self._stop = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.close()
