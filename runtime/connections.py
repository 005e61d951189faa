"""Reusable HTTP clients for upstream calls: one keep-alive connection each, one request each.

httpcore's shared pool scans every connection for every request, so one ``httpx.AsyncClient``
serving 32 concurrent requests spends most of its time assigning them (measured: about 420
req/s against about 990 req/s for single-connection clients checked out per request; see
``benchmarks/upstream_client.py``). The concurrency caps already bound how many requests run
at once, so a free list of single-connection clients per base URL is all the pooling needed.
Clients are created on demand, kept while idle, and never created per call once warm.
"""

from __future__ import annotations

import asyncio
import ssl

import httpx

__all__ = ["ClientPool"]


class ClientPool:
    """Free lists of single-connection ``httpx.AsyncClient`` keyed by base URL.

    With an injected ``transport`` (tests, in-memory runs) one shared client is used, since a
    transport instance cannot be owned by several clients.
    """

    def __init__(
        self, *, transport: httpx.AsyncBaseTransport | None = None, max_idle: int = 256
    ) -> None:
        self._transport = transport
        self._shared = (
            httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(None))
            if transport is not None
            else None
        )
        self._idle: dict[str, list[httpx.AsyncClient]] = {}
        self._max_idle = max_idle
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()
        # Loading the CA bundle takes ~15 ms; build one TLS context for every client.
        self._ssl_context: ssl.SSLContext | None = None

    def checkout(self, key: str) -> httpx.AsyncClient:
        """A client for ``key`` (a base URL) that no other request is using."""
        if self._closed:
            raise RuntimeError("the upstream client is closed")
        if self._shared is not None:
            return self._shared
        idle = self._idle.get(key)
        if idle:
            return idle.pop()  # the most recently used: its connection is the warmest
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return httpx.AsyncClient(
            verify=self._ssl_context,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(None),  # deadlines are enforced by the caller (asyncio)
        )

    def checkin(self, key: str, client: httpx.AsyncClient) -> None:
        """Give a client back once its response is closed."""
        if client is self._shared:
            return
        idle = self._idle.setdefault(key, [])
        if self._closed or len(idle) >= self._max_idle:
            task = asyncio.get_running_loop().create_task(client.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return
        idle.append(client)

    async def aclose(self) -> None:
        """Close every idle client (clients still out are closed when they come back)."""
        self._closed = True
        clients = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        if self._shared is not None:
            clients.append(self._shared)
        await asyncio.gather(*(c.aclose() for c in clients), *self._closing)
