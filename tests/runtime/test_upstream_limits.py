"""Concurrency caps, proven at the scripted upstream: what it sees in flight never exceeds them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge.scripted_upstream import ScriptedUpstream
from runtime.events import ModelCalled
from runtime.registry import Profile
from runtime.upstream import UpstreamClient, UpstreamError
from runtime.upstream._limits import ConcurrencyLimits, QueueTimeout
from tests.runtime.test_upstream import settings

BODY: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}


def profile(base_url: str, model: str, name: str | None = None) -> Profile:
    return Profile(
        name=name or model,
        base_url=base_url,
        api_key=None,
        upstream_model=model,
        supports_json_schema=False,
        strength=3,
    )


def slow_forever(seconds: float) -> dict[str, Any]:
    return {"turns": [{"delay_seconds": seconds, "content": "ok"}], "repeat_last": True}


async def test_per_model_cap_of_two_holds_under_twenty_concurrent_calls(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": slow_forever(0.1)})
    chain = [profile(scripted_upstream.base_url, "kimi-k2.6", "kimi")]
    capped = settings(MODEL_CONCURRENCY_JSON='{"kimi-k2.6": 2}')
    async with UpstreamClient(capped) as client:
        results = await asyncio.gather(*(client.complete(chain, BODY) for _ in range(20)))
    assert [r.content for r in results] == ["ok"] * 20
    assert len(scripted_upstream.chat_requests("kimi-k2.6")) == 20
    assert scripted_upstream.max_in_flight["kimi-k2.6"] == 2


async def test_per_model_cap_can_be_keyed_by_profile_name(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": slow_forever(0.2)})
    chain = [profile(scripted_upstream.base_url, "kimi-k2.6", "kimi")]
    async with UpstreamClient(settings(MODEL_CONCURRENCY_JSON={"kimi": 3})) as client:
        await asyncio.gather(*(client.complete(chain, BODY) for _ in range(9)))
    assert scripted_upstream.max_in_flight["kimi-k2.6"] == 3


async def test_a_capped_model_does_not_hold_back_another_model(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": slow_forever(0.3), "flash": slow_forever(0.3)})
    base = scripted_upstream.base_url
    capped = settings(MODEL_CONCURRENCY_JSON={"kimi-k2.6": 1})
    async with UpstreamClient(capped) as client:
        calls = [client.complete([profile(base, "kimi-k2.6")], BODY) for _ in range(4)]
        calls += [client.complete([profile(base, "flash")], BODY) for _ in range(6)]
        await asyncio.gather(*calls)
    assert scripted_upstream.max_in_flight["kimi-k2.6"] == 1
    # flash ran side by side although kimi's single slot was taken all along
    assert scripted_upstream.max_in_flight["flash"] > 1


async def test_global_cap_holds_across_models(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": slow_forever(0.1)})
    base = scripted_upstream.base_url
    async with UpstreamClient(settings(MAX_GLOBAL_UPSTREAM_CONCURRENCY=3)) as client:
        calls = [client.complete([profile(base, f"m{i % 4}")], BODY) for i in range(16)]
        await asyncio.gather(*calls)
    assert scripted_upstream.max_total_in_flight == 3


async def test_queue_wait_is_bounded(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"kimi-k2.6": slow_forever(1.0)})
    chain = [profile(scripted_upstream.base_url, "kimi-k2.6", "kimi")]
    events: list[ModelCalled] = []
    capped = settings(MODEL_CONCURRENCY_JSON={"kimi-k2.6": 1})
    async with UpstreamClient(capped, queue_timeout=0.1) as client:
        first = asyncio.create_task(client.complete(chain, BODY))
        await asyncio.sleep(0.05)
        with pytest.raises(UpstreamError) as info:
            await client.complete(chain, BODY, on_event=events.append)
        await first
    assert info.value.reason == "queue_timeout"
    assert "free model 'kimi-k2.6' slot (cap 1)" in str(info.value)
    assert [(e.outcome, e.status_code) for e in events] == [("error", None)]
    assert len(scripted_upstream.chat_requests()) == 1


async def test_queue_timeout_on_a_saturated_model_falls_back(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"kimi-k2.6": slow_forever(1.0), "flash": [{"content": "fb"}]})
    base = scripted_upstream.base_url
    chain = [profile(base, "kimi-k2.6", "kimi"), profile(base, "flash")]
    capped = settings(MODEL_CONCURRENCY_JSON={"kimi-k2.6": 1})
    async with UpstreamClient(capped, queue_timeout=0.1) as client:
        first = asyncio.create_task(client.complete(chain[:1], BODY))
        await asyncio.sleep(0.05)
        result = await client.complete(chain, BODY)
        await first
    assert result.content == "fb"


async def test_limits_refuse_bad_caps_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="MAX_GLOBAL_UPSTREAM_CONCURRENCY"):
        ConcurrencyLimits(0)
    with pytest.raises(ValueError, match=r"MODEL_CONCURRENCY_JSON\['kimi'\]"):
        ConcurrencyLimits(4, {"kimi": 0})


async def test_limits_release_on_timeout_so_slots_are_not_leaked() -> None:
    limits = ConcurrencyLimits(1, {"m": 1})
    held = await limits.acquire("m", timeout=1)
    with pytest.raises(QueueTimeout):
        await limits.acquire("m", timeout=0.05)
    held.release()
    held.release()  # idempotent
    again = await limits.acquire("m", timeout=0.05)
    again.release()
    assert limits.in_flight == {"m": 0}


async def test_connections_are_kept_alive_and_reused(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.set_script({"*": slow_forever(0.02)})
    chain = [profile(scripted_upstream.base_url, "kimi-k2.6")]
    async with UpstreamClient(settings()) as client:
        for _ in range(5):
            await client.complete(chain, BODY)
        for _ in range(3):
            await asyncio.gather(*(client.complete(chain, BODY) for _ in range(4)))
    peers = [r.peer for r in scripted_upstream.chat_requests()]
    assert len(peers) == 17
    assert len(set(peers[:5])) == 1  # sequential calls share one connection
    assert len(set(peers)) <= 4  # never more connections than calls at once
