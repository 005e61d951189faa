"""The upstream transport pool: one connection per transport, reuse, and environment proxies."""

from __future__ import annotations

import httpx
import pytest

from runtime.upstream._connections import TransportPool, environment_proxy


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_environment_proxy_follows_the_scheme_and_no_proxy(no_proxy_env) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    no_proxy_env.setenv("NO_PROXY", "internal.example")
    assert environment_proxy("https://api.example/v1") == "http://127.0.0.1:3128"
    assert environment_proxy("http://api.example/v1") is None
    assert environment_proxy("https://internal.example/v1") is None


def test_all_proxy_covers_every_scheme(no_proxy_env) -> None:
    no_proxy_env.setenv("ALL_PROXY", "http://127.0.0.1:3129")
    assert environment_proxy("http://127.0.0.1:9/v1") == "http://127.0.0.1:3129"


async def test_a_returned_transport_is_handed_out_again(no_proxy_env) -> None:
    pool = TransportPool()
    first = pool.checkout("http://127.0.0.1:9/v1")
    second = pool.checkout("http://127.0.0.1:9/v1")
    assert first is not second  # two requests at once never share a connection
    pool.checkin("http://127.0.0.1:9/v1", first)
    assert pool.checkout("http://127.0.0.1:9/v1") is first
    await pool.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        pool.checkout("http://127.0.0.1:9/v1")


async def test_an_injected_transport_is_shared() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    pool = TransportPool(transport=transport)
    assert pool.checkout("a") is transport and pool.checkout("b") is transport
    await pool.aclose()
