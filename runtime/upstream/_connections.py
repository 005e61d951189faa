"""Reusable HTTP transports for upstream calls: one keep-alive connection each, one request each.

httpcore's shared pool scans every connection for every request, so one pool serving 32
concurrent requests spends most of its time assigning them (measured: about 420 req/s against
about 990 req/s for single-connection transports checked out per request; see
``benchmarks/upstream_client.py``). The concurrency caps already bound how many requests run
at once, so a free list of single-connection transports per base URL is all the pooling needed.

The upstream client sends through transports directly rather than through
``httpx.AsyncClient``: it needs none of the client's cookies, redirects, auth flows or default
headers, and the client's response wrapper forms a reference cycle that keeps every finished
response (and its request body) in memory until a full garbage collection.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request

import httpx

__all__ = ["TransportPool", "environment_proxy"]


class TransportPool:
    """Free lists of single-connection ``httpx.AsyncHTTPTransport`` keyed by base URL.

    An injected ``transport`` (the bridge's aiohttp transport, tests, in-memory runs) is shared
    by every request instead, since it pools connections itself.
    """

    def __init__(
        self, *, transport: httpx.AsyncBaseTransport | None = None, max_idle: int = 256
    ) -> None:
        self._shared = transport
        self._idle: dict[str, list[httpx.AsyncBaseTransport]] = {}
        self._proxies: dict[str, str | None] = {}
        self._max_idle = max_idle
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()
        # Loading the CA bundle takes ~15 ms; build one TLS context for every transport.
        self._ssl_context: ssl.SSLContext | None = None

    def checkout(self, key: str) -> httpx.AsyncBaseTransport:
        """A transport for ``key`` (a base URL) that no other request is using."""
        if self._closed:
            raise RuntimeError("the upstream client is closed")
        if self._shared is not None:
            return self._shared
        idle = self._idle.get(key)
        if idle:
            return idle.pop()  # the most recently used: its connection is the warmest
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        if key not in self._proxies:
            self._proxies[key] = environment_proxy(key)
        return httpx.AsyncHTTPTransport(
            verify=self._ssl_context,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            proxy=self._proxies[key],
        )

    def checkin(self, key: str, transport: httpx.AsyncBaseTransport) -> None:
        """Give a transport back once its response is closed."""
        if transport is self._shared:
            return
        idle = self._idle.setdefault(key, [])
        if self._closed or len(idle) >= self._max_idle:
            task = asyncio.get_running_loop().create_task(transport.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return
        idle.append(transport)

    async def aclose(self) -> None:
        """Close every idle transport (transports still out are closed when they come back)."""
        self._closed = True
        transports = [t for idle in self._idle.values() for t in idle]
        self._idle.clear()
        if self._shared is not None:
            transports.append(self._shared)
        await asyncio.gather(*(t.aclose() for t in transports), *self._closing)


def environment_proxy(url: str) -> str | None:
    """The proxy ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` name for ``url``, unless
    ``NO_PROXY`` exempts its host (what ``httpx.AsyncClient`` honours by default)."""
    parsed = httpx.URL(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parsed.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parsed.host):
        return None
    return proxy
