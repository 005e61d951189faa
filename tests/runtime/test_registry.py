"""Model registry: alias resolution, overrides and admission errors (pure, no I/O)."""

from __future__ import annotations

import pytest

from runtime.mission import Tier
from runtime.registry import AdmissionError, ModelRegistry, RegistryConfigError
from runtime.settings import Settings


def registry(**overrides: object) -> ModelRegistry:
    base = {
        "UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENCODE_GO_API_KEY": "go-key-123456",
        "LOCAL_MODEL_BASE_URL": "http://127.0.0.1:8/v1",
        "OPENAI_BASE_URL": "http://127.0.0.1:7/v1",
        "OPENAI_API_KEY": "sk-test-openai",
        "MODEL_MAP_JSON": {},
        "FALLBACK_MODEL_MAP_JSON": {},
        "GPT_MODEL_STRATEGY": "error",
    }
    base.update(overrides)
    return ModelRegistry(Settings(**base))


def test_mission_alias_resolves_tier_profile_and_default_chain() -> None:
    resolution = registry().resolve("mission-a3-kimi")
    assert resolution.kind == "mission"
    assert resolution.tier is Tier.A3
    assert [p.name for p in resolution.chain] == ["kimi", "deepseek", "flash"]
    primary = resolution.chain[0]
    assert primary.upstream_model == "kimi-k2.6"
    assert primary.base_url == "http://127.0.0.1:9/v1"
    assert primary.api_key == "go-key-123456"


def test_route_lists_fallback_profile_names() -> None:
    route = registry().resolve("mission-a5-deepseek").route()
    assert route.alias == "mission-a5-deepseek"
    assert route.profile == "deepseek"
    assert route.upstream_model == "deepseek-v4-pro"
    assert route.fallback_chain == ["kimi", "flash"]


def test_flash_is_weaker_than_kimi_so_that_fallback_is_reported_weaker() -> None:
    resolution = registry().resolve("mission-a2-kimi")
    assert resolution.weaker_fallbacks() == ["flash"]


def test_local_profile_has_no_key_supports_json_schema_and_no_fallbacks() -> None:
    resolution = registry().resolve("mission-a3-local")
    assert len(resolution.chain) == 1
    local = resolution.chain[0]
    assert local.base_url == "http://127.0.0.1:8/v1"
    assert local.api_key is None
    assert local.supports_json_schema is True
    assert local.upstream_model == "smollm2-135m-instruct"


def test_raw_alias_of_known_upstream_model_uses_its_profile() -> None:
    resolution = registry().resolve("ocg-deepseek-v4-flash")
    assert resolution.kind == "raw"
    assert resolution.tier is None
    assert resolution.chain[0].name == "flash"


def test_raw_alias_of_unknown_model_passes_it_through_without_fallbacks() -> None:
    resolution = registry().resolve("ocg-qwen3-coder")
    assert [p.upstream_model for p in resolution.chain] == ["qwen3-coder"]
    assert resolution.chain[0].base_url == "http://127.0.0.1:9/v1"


def test_ocg_local_is_the_local_profile() -> None:
    assert registry().resolve("ocg-local").chain[0].name == "local"


@pytest.mark.parametrize(
    "name", ["gpt-5", "gpt-4o-mini", "o3", "o4-mini", "chatgpt-4o", "codex-mini"]
)
def test_gpt_names_are_refused_by_default(name: str) -> None:
    with pytest.raises(AdmissionError) as info:
        registry().resolve(name)
    assert info.value.code == "unsupported_bridge_model"
    assert "GPT_MODEL_STRATEGY" in str(info.value)
    assert "mission-a3-kimi" in str(info.value)


def test_gpt_passthrough_routes_to_openai() -> None:
    resolution = registry(GPT_MODEL_STRATEGY="passthrough").resolve("gpt-5")
    assert resolution.kind == "gpt"
    assert resolution.chain[0].base_url == "http://127.0.0.1:7/v1"
    assert resolution.chain[0].api_key == "sk-test-openai"
    assert resolution.chain[0].upstream_model == "gpt-5"


@pytest.mark.parametrize(
    "alias", ["mission-a7-kimi", "mission-a3-mistral", "mission-a3-", "kimi", "claude-3", ""]
)
def test_unknown_aliases_are_refused_with_the_valid_ones(alias: str) -> None:
    with pytest.raises(AdmissionError) as info:
        registry().resolve(alias)
    assert info.value.code in {"unknown_model_alias", "missing_model"}
    assert "valid aliases" in str(info.value)
    assert "ocg-kimi-k2.6" in str(info.value)


def test_raw_alias_with_unusable_model_id_is_refused() -> None:
    with pytest.raises(AdmissionError, match="not a usable upstream model id"):
        registry().resolve("ocg-bad model")


def test_model_map_by_profile_changes_the_profile_everywhere() -> None:
    reg = registry(MODEL_MAP_JSON={"flash": "deepseek-v5-flash"})
    chain = reg.resolve("mission-a3-kimi").chain
    assert chain[2].upstream_model == "deepseek-v5-flash"
    assert "ocg-deepseek-v5-flash" in reg.aliases()


def test_model_map_by_alias_changes_only_that_alias() -> None:
    reg = registry(MODEL_MAP_JSON={"mission-a4-kimi": "kimi-k3"})
    assert reg.resolve("mission-a4-kimi").chain[0].upstream_model == "kimi-k3"
    assert reg.resolve("mission-a3-kimi").chain[0].upstream_model == "kimi-k2.6"


def test_fallback_map_by_alias_beats_by_profile() -> None:
    reg = registry(
        FALLBACK_MODEL_MAP_JSON={"kimi": ["flash"], "mission-a3-kimi": ["local", "ocg-glm-5"]}
    )
    assert [p.name for p in reg.resolve("mission-a3-kimi").chain] == ["kimi", "local", "ocg-glm-5"]
    assert [p.name for p in reg.resolve("mission-a2-kimi").chain] == ["kimi", "flash"]


def test_fallback_map_can_empty_a_chain() -> None:
    reg = registry(FALLBACK_MODEL_MAP_JSON='{"deepseek": []}')
    assert [p.name for p in reg.resolve("mission-a3-deepseek").chain] == ["deepseek"]


def test_chain_never_repeats_an_upstream_model() -> None:
    reg = registry(FALLBACK_MODEL_MAP_JSON={"kimi": ["ocg-kimi-k2.6", "flash"]})
    assert [p.upstream_model for p in reg.resolve("mission-a3-kimi").chain] == [
        "kimi-k2.6",
        "deepseek-v4-flash",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MODEL_MAP_JSON": {"Mistral Large": "m"}}, "MODEL_MAP_JSON key 'Mistral Large'"),
        ({"MODEL_MAP_JSON": {"qwen": {"tiers": ["A3"]}}}, r"needs its upstream model"),
        ({"MODEL_MAP_JSON": {"qwen": {"model": "q", "tier": ["A3"]}}}, r"tier: unknown field"),
        ({"MODEL_MAP_JSON": {"qwen": {"model": "q", "tiers": ["A9"]}}}, r"\['qwen'\]: tiers"),
        ({"MODEL_MAP_JSON": {"qwen": 3}}, r"must be an upstream model id or an object"),
        ({"MODEL_MAP_JSON": {"mission-a3-kimi": {"model": "k"}}}, r"only a profile takes"),
        ({"MODEL_MAP_JSON": {"kimi": "bad id"}}, r"MODEL_MAP_JSON\['kimi'\]"),
        (
            {"FALLBACK_MODEL_MAP_JSON": {"kimi": ["qwen"]}},
            r"FALLBACK_MODEL_MAP_JSON\['kimi'\]\[0\]",
        ),
        ({"FALLBACK_MODEL_MAP_JSON": {"nope": ["flash"]}}, "FALLBACK_MODEL_MAP_JSON key 'nope'"),
    ],
)
def test_bad_overrides_name_the_setting_and_key(overrides: dict, message: str) -> None:
    with pytest.raises(RegistryConfigError, match=message):
        registry(**overrides)


def test_aliases_cover_every_tier_and_profile_and_resolve() -> None:
    reg = registry()
    aliases = reg.aliases()
    assert "mission-a2-kimi" in aliases and "mission-a6-local" in aliases
    assert "ocg-kimi-k2.6" in aliases and "ocg-local" in aliases
    assert len(aliases) == len(set(aliases)) == 5 * 4 + 4
    for alias in aliases:
        reg.resolve(alias)  # every advertised alias is admitted


def test_model_map_adds_a_profile_whose_aliases_are_served() -> None:
    reg = registry(MODEL_MAP_JSON='{"qwen": "qwen3.6-plus"}')
    resolution = reg.resolve("mission-a3-qwen")
    assert resolution.kind == "mission"
    assert resolution.primary.name == "qwen"
    assert resolution.primary.upstream_model == "qwen3.6-plus"
    assert resolution.primary.base_url == "http://127.0.0.1:9/v1"
    assert resolution.primary.api_key == "go-key-123456"
    assert [p.name for p in resolution.chain] == ["qwen"]  # no fallbacks unless stated
    assert "qwen" in reg.profile_names
    assert {f"mission-a{t}-qwen" for t in range(2, 7)} <= set(reg.aliases())
    assert reg.resolve("ocg-qwen3.6-plus").primary.name == "qwen"


def test_an_added_profile_object_sets_fallbacks_tiers_strength_and_json_schema() -> None:
    reg = registry(
        MODEL_MAP_JSON={
            "glm": {
                "model": "glm-5",
                "fallbacks": ["kimi"],
                "tiers": ["A2", "A3"],
                "strength": 3,
                "json_schema": True,
            }
        }
    )
    resolution = reg.resolve("mission-a3-glm")
    assert [p.name for p in resolution.chain] == ["glm", "kimi"]
    assert resolution.primary.supports_json_schema is True
    assert resolution.primary.strength == 3
    aliases = reg.aliases()
    assert "mission-a2-glm" in aliases and "mission-a3-glm" in aliases
    assert "mission-a4-glm" not in aliases and "mission-a5-glm" not in aliases


def test_a_profile_is_refused_a_tier_it_may_not_run_with_the_reason() -> None:
    reg = registry(MODEL_MAP_JSON={"glm": {"model": "glm-5", "tiers": ["A2", "A3"]}})
    with pytest.raises(AdmissionError) as info:
        reg.resolve("mission-a5-glm")
    assert info.value.code == "tier_not_allowed_for_profile"
    assert "A2, A3" in info.value.message


def test_a_builtin_profile_object_narrows_its_tiers_and_keeps_its_model() -> None:
    reg = registry(MODEL_MAP_JSON={"flash": {"tiers": ["A2"]}})
    assert reg.resolve("mission-a2-flash").primary.upstream_model == "deepseek-v4-flash"
    with pytest.raises(AdmissionError, match="may run tiers A2 only"):
        reg.resolve("mission-a3-flash")
    # A fallback is a profile, not an alias: the tier rule binds the primary only.
    assert "flash" in [p.name for p in reg.resolve("mission-a3-kimi").chain]


def test_fallback_map_may_name_an_added_profile() -> None:
    reg = registry(
        MODEL_MAP_JSON={"qwen": "qwen3.6-plus"}, FALLBACK_MODEL_MAP_JSON={"kimi": ["qwen"]}
    )
    assert [p.name for p in reg.resolve("mission-a3-kimi").chain] == ["kimi", "qwen"]


def test_unknown_profile_error_says_how_to_add_one() -> None:
    with pytest.raises(AdmissionError, match=r'MODEL_MAP_JSON can add one, e.g. \{"qwen"'):
        registry().resolve("mission-a3-qwen")
