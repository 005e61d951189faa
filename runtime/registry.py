"""The model registry: which upstream model, profile and fallback chain an alias stands for.

Aliases (DESIGN.md, fixed): ``mission-a<2..6>-<profile>`` runs a mission on a profile,
``ocg-<model>`` is a raw passthrough to upstream model ``<model>``; GPT names are refused
unless ``GPT_MODEL_STRATEGY=passthrough``. ``MODEL_MAP_JSON`` overrides upstream model ids
and ``FALLBACK_MODEL_MAP_JSON`` the fallback chains; both take an alias or a profile name as
key. Profiles are data: a ``MODEL_MAP_JSON`` key that names no built-in profile adds one
(``{"qwen": "qwen3.6-plus"}`` serves ``mission-a<2..6>-qwen``), and an object value also sets
its fallbacks, the tiers it may run, its strength and whether it honours ``json_schema``.
Resolution is pure: no I/O, so admission can be decided and tested without a server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.events import Route
from runtime.mission import Tier, describe_validation_errors
from runtime.settings import GptStrategy, Settings

__all__ = [
    "DEFAULT_FALLBACKS",
    "GPT_NAME",
    "PROFILE_NAMES",
    "AdmissionError",
    "ModelRegistry",
    "Profile",
    "ProfileConfig",
    "RegistryConfigError",
    "Resolution",
]

MISSION_PREFIX = "mission-"
RAW_PREFIX = "ocg-"
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
MISSION_ALIAS = re.compile(r"^mission-a(?P<tier>[2-6])-(?P<profile>[a-z0-9][a-z0-9._-]*)$")
# Names the OpenAI catalog owns; sending them upstream would reach the wrong vendor.
GPT_NAME = re.compile(r"^(gpt-|chatgpt-|codex-|o[134]($|-))", re.IGNORECASE)
UPSTREAM_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")

LOCAL_MODEL_ID = "smollm2-135m-instruct"
GPT_PROFILE = "openai"


@dataclass(frozen=True)
class Profile:
    """One way to reach one upstream model: where, with which key, under which model id."""

    name: str
    base_url: str
    api_key: str | None
    upstream_model: str
    supports_json_schema: bool
    strength: int  # higher = stronger; a fallback to a lower strength is a weaker fallback
    tiers: frozenset[Tier] = frozenset(Tier)  # the mission tiers this profile may run


@dataclass(frozen=True)
class Resolution:
    """What an alias resolved to. ``chain[0]`` is the primary; the rest are fallbacks in order."""

    kind: Literal["mission", "raw", "gpt"]
    alias: str
    tier: Tier | None
    chain: list[Profile] = field(default_factory=list)

    @property
    def primary(self) -> Profile:
        """The profile tried first."""
        return self.chain[0]

    def route(self) -> Route:
        """The route as recorded in ``MissionAdmitted``."""
        primary = self.chain[0]
        return Route(
            alias=self.alias,
            profile=primary.name,
            upstream_model=primary.upstream_model,
            fallback_chain=[p.name for p in self.chain[1:]],
        )

    def weaker_fallbacks(self) -> list[str]:
        """Names of fallback profiles weaker than the primary (each is recorded as such)."""
        primary = self.chain[0]
        return [p.name for p in self.chain[1:] if p.strength < primary.strength]


class AdmissionError(ValueError):
    """An alias the bridge refuses; ``code`` is the machine reason, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RegistryConfigError(ValueError):
    """``MODEL_MAP_JSON`` or ``FALLBACK_MODEL_MAP_JSON`` holds something unusable."""


class ProfileConfig(BaseModel):
    """A profile as ``MODEL_MAP_JSON`` may state it: a model id alone, or this object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(default=None, description="upstream model id")
    fallbacks: list[str] | None = Field(
        default=None, description="profiles or ocg-<model> tried in order when it fails"
    )
    tiers: list[Tier] | None = Field(default=None, description="mission tiers it may run")
    strength: int | None = Field(default=None, ge=1, le=9, description="1 weak .. 9 strong")
    json_schema: bool | None = Field(
        default=None, description="whether the upstream honours response_format json_schema"
    )


@dataclass(frozen=True)
class _ProfileSpec:
    upstream_model: str
    supports_json_schema: bool
    strength: int
    local: bool = False
    tiers: frozenset[Tier] = frozenset(Tier)


# The built-in profiles. OpenCode Go's DeepSeek and Kimi endpoints honour json_object but not
# json_schema reliably; the local llama.cpp server enforces json_schema by grammar.
_PROFILE_SPECS: dict[str, _ProfileSpec] = {
    "kimi": _ProfileSpec("kimi-k2.6", supports_json_schema=False, strength=3),
    "deepseek": _ProfileSpec("deepseek-v4-pro", supports_json_schema=False, strength=3),
    "flash": _ProfileSpec("deepseek-v4-flash", supports_json_schema=False, strength=2),
    "local": _ProfileSpec(LOCAL_MODEL_ID, supports_json_schema=True, strength=1, local=True),
}
PROFILE_NAMES: tuple[str, ...] = tuple(_PROFILE_SPECS)  # the built-in ones
# A profile added by MODEL_MAP_JSON: same upstream and key as the built-in remote profiles.
_ADDED_PROFILE = _ProfileSpec("", supports_json_schema=False, strength=2)

# Strong profiles fall back to their peer first, then to the cheaper one. The local model is
# the offline default: it has nowhere to fall back to and nothing falls back onto it silently.
DEFAULT_FALLBACKS: dict[str, tuple[str, ...]] = {
    "kimi": ("deepseek", "flash"),
    "deepseek": ("kimi", "flash"),
    "flash": ("deepseek", "kimi"),
    "local": (),
}
# A raw passthrough model that is not a known profile gets a middling strength.
_RAW_STRENGTH = 2


class ModelRegistry:
    """Resolves aliases to profiles and fallback chains under the settings' overrides."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._fallback_map = {k: list(v) for k, v in settings.FALLBACK_MODEL_MAP_JSON.items()}
        self._model_map: dict[str, str] = {}  # alias or profile -> upstream model id
        specs = dict(_PROFILE_SPECS)
        for key, value in settings.MODEL_MAP_JSON.items():
            self._read_model_map_entry(key, value, specs)
        self._profiles = {name: self._build_profile(name, spec) for name, spec in specs.items()}
        self._by_upstream_model: dict[str, Profile] = {}
        for profile in self._profiles.values():
            self._by_upstream_model.setdefault(profile.upstream_model, profile)
        self._check_overrides()

    @property
    def profile_names(self) -> tuple[str, ...]:
        """Every profile: the built-in ones, then those ``MODEL_MAP_JSON`` added."""
        return tuple(self._profiles)

    # -- public -------------------------------------------------------------------------

    def resolve(self, alias: str) -> Resolution:
        """The resolution of ``alias``; raises :class:`AdmissionError` if it is refused."""
        if not isinstance(alias, str) or not alias.strip():
            raise AdmissionError(
                "missing_model", "the request names no model; " + self._valid_aliases_hint()
            )
        alias = alias.strip()
        if GPT_NAME.match(alias):
            return self._resolve_gpt(alias)
        match = MISSION_ALIAS.match(alias)
        if match:
            return self._resolve_mission(alias, Tier(f"A{match['tier']}"), match["profile"])
        if alias.startswith(RAW_PREFIX):
            return self._resolve_raw(alias, alias[len(RAW_PREFIX) :])
        if alias.startswith(MISSION_PREFIX):
            raise AdmissionError(
                "unknown_model_alias",
                f"model {alias!r} is not a mission alias: use mission-a<2..6>-<profile> with "
                f"a profile of {', '.join(self._profiles)}; " + self._valid_aliases_hint(),
            )
        raise AdmissionError(
            "unknown_model_alias",
            f"model {alias!r} is not an alias this bridge serves; " + self._valid_aliases_hint(),
        )

    def aliases(self) -> list[str]:
        """Every alias worth listing in ``GET /v1/models``: mission aliases, then raw ones."""
        missions = [
            f"mission-{tier.value.lower()}-{profile.name}"
            for profile in self._profiles.values()
            for tier in Tier
            if tier in profile.tiers
        ]
        return [*missions, *self._raw_aliases()]

    def profile(self, name: str) -> Profile:
        """A profile by name (with ``MODEL_MAP_JSON`` applied)."""
        try:
            return self._profiles[name]
        except KeyError:
            raise KeyError(
                f"unknown profile {name!r}; profiles are {', '.join(self._profiles)}"
            ) from None

    # -- resolution ---------------------------------------------------------------------

    def _resolve_mission(self, alias: str, tier: Tier, profile_name: str) -> Resolution:
        if profile_name not in self._profiles:
            raise AdmissionError(
                "unknown_model_alias",
                f"model {alias!r} names unknown profile {profile_name!r}; profiles are "
                f"{', '.join(self._profiles)} (MODEL_MAP_JSON can add one, e.g. "
                f'{{"{profile_name}": "<upstream model>"}}); ' + self._valid_aliases_hint(),
            )
        profile = self._profiles[profile_name]
        if tier not in profile.tiers:
            allowed = ", ".join(t.value for t in Tier if t in profile.tiers)
            raise AdmissionError(
                "tier_not_allowed_for_profile",
                f"model {alias!r}: profile {profile_name!r} may run tiers {allowed} only "
                f'(its MODEL_MAP_JSON entry sets "tiers"); use one of those tiers or '
                "another profile",
            )
        primary = self._with_alias_model(profile, alias)
        chain = self._chain(alias, primary)
        return Resolution(kind="mission", alias=alias, tier=tier, chain=chain)

    def _resolve_raw(self, alias: str, model: str) -> Resolution:
        if model in self._profiles:
            primary = self._profiles[model]
        elif model in self._by_upstream_model:
            primary = self._by_upstream_model[model]
        elif UPSTREAM_MODEL_ID.match(model):
            primary = self._raw_profile(model)
        else:
            raise AdmissionError(
                "unknown_model_alias",
                f"model {alias!r}: {model!r} is not a usable upstream model id (letters, digits "
                "and . _ : / @ + - only); " + self._valid_aliases_hint(),
            )
        primary = self._with_alias_model(primary, alias)
        return Resolution(kind="raw", alias=alias, tier=None, chain=self._chain(alias, primary))

    def _resolve_gpt(self, alias: str) -> Resolution:
        if self._settings.GPT_MODEL_STRATEGY != GptStrategy.PASSTHROUGH:
            raise AdmissionError(
                "unsupported_bridge_model",
                f"model {alias!r} is an OpenAI model; this bridge serves open-source models "
                "only (set GPT_MODEL_STRATEGY=passthrough to forward GPT names); "
                + self._valid_aliases_hint(),
            )
        profile = Profile(
            name=GPT_PROFILE,
            base_url=self._settings.OPENAI_BASE_URL,
            api_key=self._settings.OPENAI_API_KEY,
            upstream_model=alias,
            supports_json_schema=True,
            strength=10,
        )
        return Resolution(kind="gpt", alias=alias, tier=None, chain=[profile])

    def _chain(self, alias: str, primary: Profile) -> list[Profile]:
        """``primary`` then its fallbacks: the alias's override, else the profile's."""
        if alias in self._fallback_map:
            names = self._fallback_map[alias]
        elif primary.name in self._fallback_map:
            names = self._fallback_map[primary.name]
        else:
            names = list(DEFAULT_FALLBACKS.get(primary.name, ()))
        chain = [primary]
        for name in names:
            profile = self._fallback_profile(name)
            # A chain never visits the same upstream model twice: a retry is not a fallback.
            if all(p.upstream_model != profile.upstream_model for p in chain):
                chain.append(profile)
        return chain

    # -- profiles -----------------------------------------------------------------------

    def _read_model_map_entry(self, key: str, value: Any, specs: dict[str, _ProfileSpec]) -> None:
        """Fold one ``MODEL_MAP_JSON`` entry into the model map and the profile specs."""
        if isinstance(value, str):
            self._model_map[key] = value
            if key not in specs and self._is_new_profile_name(key):
                specs[key] = replace(_ADDED_PROFILE, upstream_model=value)
            return
        if not isinstance(value, dict):
            raise RegistryConfigError(
                f"MODEL_MAP_JSON[{key!r}] must be an upstream model id or an object such as "
                '{"model": "qwen3.6-plus", "tiers": ["A2", "A3"]}'
            )
        if key not in specs and not self._is_new_profile_name(key):
            raise RegistryConfigError(
                f"MODEL_MAP_JSON[{key!r}]: only a profile takes an object; an alias takes "
                "an upstream model id"
            )
        try:
            config = ProfileConfig.model_validate(value)
        except ValidationError as exc:
            details = "; ".join(describe_validation_errors(exc))
            raise RegistryConfigError(f"MODEL_MAP_JSON[{key!r}]: {details}") from None
        base = specs.get(key)
        if base is None and config.model is None:
            raise RegistryConfigError(
                f"MODEL_MAP_JSON[{key!r}] adds a profile and needs its upstream model: "
                '{"model": "<upstream model id>"}'
            )
        base = base or _ADDED_PROFILE
        if config.model is not None:
            self._model_map[key] = config.model
        if config.fallbacks is not None:
            self._fallback_map.setdefault(key, list(config.fallbacks))
        specs[key] = replace(
            base,
            upstream_model=config.model or base.upstream_model,
            supports_json_schema=(
                base.supports_json_schema if config.json_schema is None else config.json_schema
            ),
            strength=base.strength if config.strength is None else config.strength,
            tiers=base.tiers if config.tiers is None else frozenset(config.tiers),
        )

    @staticmethod
    def _is_new_profile_name(key: str) -> bool:
        return (
            bool(PROFILE_NAME.match(key))
            and not key.startswith((MISSION_PREFIX, RAW_PREFIX))
            and key != GPT_PROFILE
        )

    def _build_profile(self, name: str, spec: _ProfileSpec) -> Profile:
        s = self._settings
        base_url, key = (
            (s.LOCAL_MODEL_BASE_URL, None)
            if spec.local
            else (s.UPSTREAM_BASE_URL, s.OPENCODE_GO_API_KEY)
        )
        return Profile(
            name=name,
            base_url=base_url,
            api_key=key,
            upstream_model=self._model_map.get(name, spec.upstream_model),
            supports_json_schema=spec.supports_json_schema,
            strength=spec.strength,
            tiers=spec.tiers,
        )

    def _raw_profile(self, model: str) -> Profile:
        return Profile(
            name=RAW_PREFIX + model,
            base_url=self._settings.UPSTREAM_BASE_URL,
            api_key=self._settings.OPENCODE_GO_API_KEY,
            upstream_model=self._model_map.get(RAW_PREFIX + model, model),
            supports_json_schema=False,
            strength=_RAW_STRENGTH,
        )

    def _fallback_profile(self, name: str) -> Profile:
        if name in self._profiles:
            return self._profiles[name]
        return self._raw_profile(name[len(RAW_PREFIX) :])

    def _with_alias_model(self, profile: Profile, alias: str) -> Profile:
        """An alias-keyed ``MODEL_MAP_JSON`` entry overrides the model for that alias only."""
        model = self._model_map.get(alias)
        return replace(profile, upstream_model=model) if model else profile

    # -- checks ---------------------------------------------------------------------------

    def _check_overrides(self) -> None:
        for key, model in self._model_map.items():
            self._check_override_key("MODEL_MAP_JSON", key)
            if not isinstance(model, str) or not UPSTREAM_MODEL_ID.match(model):
                raise RegistryConfigError(
                    f"MODEL_MAP_JSON[{key!r}] = {model!r} is not an upstream model id"
                )
        for key, names in self._fallback_map.items():
            self._check_override_key("FALLBACK_MODEL_MAP_JSON", key)
            for i, name in enumerate(names):
                raw_ok = name.startswith(RAW_PREFIX) and UPSTREAM_MODEL_ID.match(
                    name[len(RAW_PREFIX) :]
                )
                if name not in self._profiles and not raw_ok:
                    raise RegistryConfigError(
                        f"FALLBACK_MODEL_MAP_JSON[{key!r}][{i}] = {name!r} is neither a profile "
                        f"({', '.join(self._profiles)}) nor ocg-<upstream model>"
                    )

    def _check_override_key(self, setting: str, key: str) -> None:
        if not self._is_override_key(key):
            raise RegistryConfigError(
                f"{setting} key {key!r} is neither a profile ({', '.join(self._profiles)}) "
                "nor an alias (mission-a<2..6>-<profile>, ocg-<model>); a new profile is "
                "added by MODEL_MAP_JSON"
            )

    def _is_override_key(self, key: str) -> bool:
        if key in self._profiles:
            return True
        match = MISSION_ALIAS.match(key)
        if match:
            return match["profile"] in self._profiles
        return key.startswith(RAW_PREFIX) and bool(UPSTREAM_MODEL_ID.match(key[len(RAW_PREFIX) :]))

    def _raw_aliases(self) -> list[str]:
        """The raw passthrough aliases of the built-in profiles (``ocg-local`` last)."""
        raw = [RAW_PREFIX + p.upstream_model for p in self._profiles.values() if p.name != "local"]
        return list(dict.fromkeys([*raw, RAW_PREFIX + "local"]))

    def _valid_aliases_hint(self) -> str:
        return (
            "valid aliases: mission-a<2..6>-<profile> for profiles "
            f"{', '.join(self._profiles)} (e.g. mission-a3-kimi), or ocg-<model> for a raw "
            f"passthrough (e.g. {', '.join(self._raw_aliases())})"
        )
