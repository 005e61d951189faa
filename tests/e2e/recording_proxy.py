"""A recording pass-through in front of a real OpenAI-compatible server (the local model).

Every request is forwarded unchanged and kept (method, path, body text), so a live test can
check what actually left the runtime for the model. A uniquely named module, not a conftest:
conftest module names collide across test folders.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class ProxiedRequest:
    """One request as the proxy forwarded it."""

    method: str
    path: str
    body: str


@dataclass
class RecordingProxy:
    """Forwards ``/v1/...`` to ``target`` (a base URL ending in ``/v1``) and records it."""

    target: str
    requests: list[ProxiedRequest] = field(default_factory=list)
    base_url: str = ""

    def bodies(self) -> str:
        """Every recorded request body, joined: what the model was sent, all of it."""
        return "\n".join(request.body for request in self.requests)

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            ProxiedRequest(request.method, request.path, body.decode("utf-8", "replace"))
        )
        url = self.target.rstrip("/") + request.path_qs.removeprefix("/v1")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        timeout = aiohttp.ClientTimeout(total=600)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(request.method, url, data=body, headers=headers) as answer,
        ):
            payload = await answer.read()
            return web.Response(
                status=answer.status,
                body=payload,
                content_type=answer.content_type,
            )

    @contextmanager
    def serving(self) -> Iterator[RecordingProxy]:
        """Serve on a free 127.0.0.1 port from a thread; ``base_url`` is set while inside."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: dict[str, web.AppRunner] = {}

        async def start() -> None:
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/v1/{tail:.*}", self._forward)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            holder["runner"] = runner
            self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="recording-proxy", daemon=True)
        thread.start()
        ready.wait(30)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()
