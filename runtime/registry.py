"""The model registry: which upstream model, profile and fallback chain an alias stands for.

Aliases (DESIGN.md, fixed): ``mission-a<2..6>-<profile>`` runs a mission on a profile,
``ocg-<model>`` is a raw passthrough to upstream model ``<model>``; GPT names are refused
unless ``GPT_MODEL_STRATEGY=passthrough``. ``MODEL_MAP_JSON`` overrides upstream model ids
and ``FALLBACK_MODEL_MAP_JSON`` the fallback chains; both take an alias or a profile name as
key. Resolution is pure: no I/O, so admission can be decided and tested without a server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from runtime.events import Route
from runtime.mission import Tier
from runtime.settings import GptStrategy, Settings

__all__ = [
    "DEFAULT_FALLBACKS",
    "GPT_NAME",
    "PROFILE_NAMES",
    "AdmissionError",
    "ModelRegistry",
    "Profile",
    "RegistryConfigError",
    "Resolution",
]

MISSION_PREFIX = "mission-"
RAW_PREFIX = "ocg-"
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


@dataclass(frozen=True)
class _ProfileSpec:
    upstream_model: str
    supports_json_schema: bool
    strength: int
    local: bool = False


# The built-in profiles. OpenCode Go's DeepSeek and Kimi endpoints honour json_object but not
# json_schema reliably; the local llama.cpp server enforces json_schema by grammar.
_PROFILE_SPECS: dict[str, _ProfileSpec] = {
    "kimi": _ProfileSpec("kimi-k2.6", supports_json_schema=False, strength=3),
    "deepseek": _ProfileSpec("deepseek-v4-pro", supports_json_schema=False, strength=3),
    "flash": _ProfileSpec("deepseek-v4-flash", supports_json_schema=False, strength=2),
    "local": _ProfileSpec(LOCAL_MODEL_ID, supports_json_schema=True, strength=1, local=True),
}
PROFILE_NAMES: tuple[str, ...] = tuple(_PROFILE_SPECS)

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
        self._model_map = dict(settings.MODEL_MAP_JSON)
        self._fallback_map = {k: list(v) for k, v in settings.FALLBACK_MODEL_MAP_JSON.items()}
        self._profiles = {name: self._build_profile(name) for name in _PROFILE_SPECS}
        self._by_upstream_model = {p.upstream_model: p for p in self._profiles.values()}
        self._check_overrides()

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
                f"a profile of {', '.join(PROFILE_NAMES)}; " + self._valid_aliases_hint(),
            )
        raise AdmissionError(
            "unknown_model_alias",
            f"model {alias!r} is not an alias this bridge serves; " + self._valid_aliases_hint(),
        )

    def aliases(self) -> list[str]:
        """Every alias worth listing in ``GET /v1/models``: mission aliases, then raw ones."""
        missions = [f"mission-a{t}-{p}" for p in PROFILE_NAMES for t in range(2, 7)]
        return [*missions, *self._raw_aliases()]

    def profile(self, name: str) -> Profile:
        """A built-in profile by name (with ``MODEL_MAP_JSON`` applied)."""
        try:
            return self._profiles[name]
        except KeyError:
            raise KeyError(
                f"unknown profile {name!r}; profiles are {', '.join(PROFILE_NAMES)}"
            ) from None

    # -- resolution ---------------------------------------------------------------------

    def _resolve_mission(self, alias: str, tier: Tier, profile_name: str) -> Resolution:
        if profile_name not in self._profiles:
            raise AdmissionError(
                "unknown_model_alias",
                f"model {alias!r} names unknown profile {profile_name!r}; profiles are "
                f"{', '.join(PROFILE_NAMES)}; " + self._valid_aliases_hint(),
            )
        primary = self._with_alias_model(self._profiles[profile_name], alias)
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

    def _build_profile(self, name: str) -> Profile:
        spec = _PROFILE_SPECS[name]
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
                        f"({', '.join(PROFILE_NAMES)}) nor ocg-<upstream model>"
                    )

    def _check_override_key(self, setting: str, key: str) -> None:
        if not self._is_override_key(key):
            raise RegistryConfigError(
                f"{setting} key {key!r} is neither a profile ({', '.join(PROFILE_NAMES)}) "
                "nor an alias (mission-a<2..6>-<profile>, ocg-<model>)"
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
        return [*raw, RAW_PREFIX + "local"]

    def _valid_aliases_hint(self) -> str:
        return (
            "valid aliases: mission-a<2..6>-<profile> for profiles "
            f"{', '.join(PROFILE_NAMES)} (e.g. mission-a3-kimi), or ocg-<model> for a raw "
            f"passthrough (e.g. {', '.join(self._raw_aliases())})"
        )
