"""Circuit breaker: pure state with an injected clock, then end to end through the client."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.scripted_upstream import ScriptedUpstream
from runtime.events import ModelCalled
from runtime.registry import Profile
from runtime.settings import Settings
from runtime.upstream import UpstreamClient, UpstreamError
from runtime.upstream._breaker import CircuitBreaker

BODY: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_at_the_threshold_of_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown_seconds=30, clock=clock)
    for _ in range(2):
        breaker.record_failure("kimi")
    assert breaker.allow("kimi")
    breaker.record_failure("kimi")
    assert breaker.state("kimi") == "open"
    assert not breaker.allow("kimi")
    assert breaker.retry_in("kimi") == 30


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(threshold=2, clock=FakeClock())
    breaker.record_failure("kimi")
    breaker.record_success("kimi")
    breaker.record_failure("kimi")
    assert breaker.state("kimi") == "closed"


def test_half_open_lets_one_trial_through_and_its_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown_seconds=10, clock=clock)
    breaker.record_failure("kimi")
    clock.now += 10
    assert breaker.state("kimi") == "half_open"
    assert breaker.allow("kimi")
    assert not breaker.allow("kimi")  # one trial at a time
    breaker.record_success("kimi")
    assert breaker.state("kimi") == "closed"
    assert breaker.allow("kimi") and breaker.allow("kimi")


def test_a_failed_trial_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=5, cooldown_seconds=10, clock=clock)
    for _ in range(5):
        breaker.record_failure("kimi")
    clock.now += 11
    assert breaker.allow("kimi")
    breaker.record_failure("kimi")
    assert breaker.state("kimi") == "open"
    clock.now += 9
    assert not breaker.allow("kimi")


def test_circuits_are_per_key() -> None:
    breaker = CircuitBreaker(threshold=1, clock=FakeClock())
    breaker.record_failure("kimi")
    assert not breaker.allow("kimi")
    assert breaker.allow("deepseek")


def test_bad_breaker_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=0)


async def test_client_skips_an_open_circuit_and_half_opens_after_cooldown(
    scripted_upstream: ScriptedUpstream,
) -> None:
    clock = FakeClock()
    scripted_upstream.set_script(
        {
            "kimi-k2.6": [{"status": 500}, {"status": 500}, {"content": "kimi is back"}],
            "flash": {"turns": [{"content": "fallback"}], "repeat_last": True},
        }
    )
    base = scripted_upstream.base_url
    chain = [
        Profile("kimi", base, None, "kimi-k2.6", False, 3),
        Profile("flash", base, None, "flash", False, 2),
    ]
    cfg = Settings(MODEL_CONCURRENCY_JSON={}, REQUEST_DEADLINE_SECONDS=30)
    events: list[ModelCalled] = []
    async with UpstreamClient(
        cfg,
        max_attempts_per_profile=1,
        breaker_threshold=2,
        breaker_cooldown_seconds=60,
        clock=clock,
    ) as client:
        for _ in range(2):  # two failures open kimi's circuit
            assert (await client.complete(chain, BODY)).content == "fallback"
        result = await client.complete(chain, BODY, on_event=events.append)
        assert result.content == "fallback"
        assert [(e.profile, e.outcome) for e in events] == [
            ("kimi", "circuit_open"),
            ("flash", "fallback"),
            ("flash", "ok"),
        ]
        assert "circuit is open" in (events[0].error or "")
        assert len(scripted_upstream.chat_requests("kimi-k2.6")) == 2  # skipped, not called
        clock.now += 61
        assert (await client.complete(chain, BODY)).content == "kimi is back"
        assert client.breaker.state("kimi") == "closed"


async def test_every_circuit_open_gives_reason_circuit_open(
    scripted_upstream: ScriptedUpstream,
) -> None:
    scripted_upstream.set_script({"*": {"turns": [{"status": 503}], "repeat_last": True}})
    chain = [Profile("kimi", scripted_upstream.base_url, None, "kimi-k2.6", False, 3)]
    cfg = Settings(MODEL_CONCURRENCY_JSON={}, REQUEST_DEADLINE_SECONDS=30)
    async with UpstreamClient(
        cfg, breaker_threshold=3, backoff_base=0.0, clock=FakeClock()
    ) as client:
        with pytest.raises(UpstreamError) as first:
            await client.complete(chain, BODY)
        assert first.value.reason == "all_profiles_failed"
        with pytest.raises(UpstreamError) as second:
            await client.complete(chain, BODY)
    assert second.value.reason == "circuit_open"
    assert len(scripted_upstream.chat_requests()) == 3
