"""An httpx transport that sends through aiohttp's connection pool.

The upstream client speaks httpx. httpcore's pool re-scans every connection for every request
(``_assign_requests_to_connections``), so with the 30-60 keep-alive connections a busy bridge
holds, pool bookkeeping alone cost more CPU than the rest of a request. aiohttp's connector
keeps idle connections in per-host deques. This adapter keeps httpx's API (and so the client's
retries, deadlines and streaming) and swaps only the wire.

Cancellation still reaches the upstream: a response closed before its body was read releases
its connection by closing it, so the upstream sees the disconnect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx

__all__ = ["AiohttpTransport"]

# Hop-by-hop or computed headers that aiohttp sets itself.
_SKIPPED_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding", b"connection"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=AiohttpTransport())`` sends with one aiohttp session."""

    def __init__(self, limit: int = 0, limit_per_host: int = 0) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the loop that will run it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._limit, limit_per_host=self._limit_per_host, ttl_dns_cache=300
                ),
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=False,  # httpx decodes by Content-Encoding itself
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._ensure_session()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _SKIPPED_HEADERS
        ]
        body = request.content if request.method not in ("GET", "HEAD") else None
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body,
                allow_redirects=False,
            )
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(str(exc), request=request) from exc
        return httpx.Response(
            status_code=response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_Body(response, request),
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    """The response body as httpx reads it; closing early drops the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientPayloadError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise httpx.ReadError(str(exc), request=self._request) from exc

    async def aclose(self) -> None:
        content = self._response.content
        if not content.at_eof():
            # A reader that stopped at "data: [DONE]" leaves only the chunked terminator,
            # usually already received: take it, so the connection can be reused.
            content.read_nowait(-1)
        if content.at_eof():
            self._response.release()
        else:  # still streaming: the caller gave up, so the upstream must see the close
            self._response.close()
