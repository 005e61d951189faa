"""MissionV1: the contract a delegated task must satisfy before the runtime admits it.

Validation is strict (unknown fields and enum values are errors that name the field). Budgets a
handoff leaves out take the tier's defaults; budgets above the tier's caps are clamped by
:func:`compile_mission`, which reports every clamp so the log can record it. Values far beyond
any cap are refused outright: they signal a broken or hostile handoff, not a generous one.
"""

from __future__ import annotations

import posixpath
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from runtime.events import Clamp

SCHEMA_VERSION = "oss_agent_mission.v1"


class Tier(StrEnum):
    A2 = "A2"
    A3 = "A3"
    A4 = "A4"
    A5 = "A5"
    A6 = "A6"


class Mode(StrEnum):
    GUIDED_EXPLORATION = "guided_exploration"
    MANAGED_INVESTIGATION = "managed_investigation"
    OPEN_INVESTIGATION = "open_investigation"  # the origin document's A3-open
    PATCH_PROPOSAL = "patch_proposal"
    BOUNDED_IMPLEMENTATION = "bounded_implementation"
    CRITICAL_IMPLEMENTATION = "critical_implementation"


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    CRITICAL = "critical"


class ToolClass(StrEnum):
    READ = "read"
    SEARCH = "search"
    LIST = "list"
    GIT = "git"


class StopCondition(StrEnum):
    """What ends a mission's exploration; each value's meaning in the loop is in STOP_MEANINGS."""

    ANSWER_FOUND = "answer_found"
    VALID_REPORT = "valid_report"
    SCOPE_EXHAUSTED = "scope_exhausted"
    BLOCKED_SOURCE = "blocked_source"
    CONTRADICTION = "contradiction"
    BUDGET_EXHAUSTED = "budget_exhausted"
    DEADLINE_REACHED = "deadline_reached"


# What each stop condition does in runtime.loop (also shown in the JSON Schema's description).
STOP_MEANINGS: dict[StopCondition, str] = {
    StopCondition.ANSWER_FOUND: "the model's first report that parses closes the mission",
    StopCondition.VALID_REPORT: "the model's first report that parses closes the mission "
    "(the origin document's name for answer_found)",
    StopCondition.SCOPE_EXHAUSTED: "once every required source has been read, exploration "
    "stops and the next turn must be the report",
    StopCondition.BLOCKED_SOURCE: "a denial for a blocked source (secret, outside the scope, "
    "critical path) stops exploration; the report is capped at ESCALATE",
    StopCondition.CONTRADICTION: "reserved: recorded with the mission, no loop behaviour yet",
    StopCondition.BUDGET_EXHAUSTED: "a spent tool, model-call, observation or duplicate-action "
    "budget stops exploration; the report is capped at PARTIAL (budgets always apply)",
    StopCondition.DEADLINE_REACHED: "the time budget is a stop condition: exploration stops "
    "while a closing turn still fits in it, so the model reports (capped at PARTIAL) instead "
    "of the runtime closing at the deadline",
}


class RequiredOutput(StrEnum):
    FINDINGS = "findings"
    CONFIDENCE = "confidence"
    FILES_INSPECTED = "files_inspected"
    COMMANDS_RUN = "commands_run"
    UNCERTAINTIES = "uncertainties"
    CAVEATS = "caveats"
    ESCALATION_RECOMMENDATION = "escalation_recommendation"
    PATCH_INTENT = "patch_intent"
    VERIFICATION_RESULTS = "verification_results"


MODE_OF_TIER: dict[Tier, Mode] = {
    Tier.A2: Mode.GUIDED_EXPLORATION,
    Tier.A3: Mode.MANAGED_INVESTIGATION,
    Tier.A4: Mode.PATCH_PROPOSAL,
    Tier.A5: Mode.BOUNDED_IMPLEMENTATION,
    Tier.A6: Mode.CRITICAL_IMPLEMENTATION,
}
# The modes a tier accepts; the first is its default (MODE_OF_TIER).
MODES_OF_TIER: dict[Tier, tuple[Mode, ...]] = {
    tier: (mode, Mode.OPEN_INVESTIGATION) if tier is Tier.A3 else (mode,)
    for tier, mode in MODE_OF_TIER.items()
}
TIER_ORDER: dict[Tier, int] = {tier: index for index, tier in enumerate(Tier)}
WRITE_TIERS = frozenset({Tier.A5, Tier.A6})
PATCH_TIERS = frozenset({Tier.A4, Tier.A5, Tier.A6})
ReportSchema = Literal["managed_investigation_report.v1"]
REPORT_SCHEMA: str = get_args(ReportSchema)[0]  # the one spelling of the report's schema id

BUDGET_FIELDS = (
    "tool_budget",
    "time_budget_seconds",
    "max_model_calls",
    "max_files_to_inspect",
    "max_total_observation_bytes",
    "max_duplicate_actions",
    "max_files_changed",
    "max_patch_bytes",
)

# (default, cap) per tier, in BUDGET_FIELDS order: tools, seconds, model calls, files,
# observation bytes, duplicate actions, then the patch budgets (files changed, patch bytes),
# which are None below A4.
_A3_READ = ((24, 40), (300, 600), (30, 50), (24, 40), (262_144, 524_288), (2, 3))
_A5_PATCH = ((5, 10), (32_768, 131_072))
_BUDGET_ROWS: dict[Tier, tuple[tuple[int, int] | None, ...]] = {
    Tier.A2: ((8, 12), (120, 180), (10, 16), (8, 12), (65_536, 131_072), (1, 2), None, None),
    Tier.A3: (*_A3_READ, None, None),
    Tier.A4: (*_A3_READ, (3, 5), (16_384, 65_536)),
    Tier.A5: ((32, 60), (600, 900), (40, 70), (32, 60), (524_288, 1_048_576), (2, 3), *_A5_PATCH),
    Tier.A6: ((40, 80), (900, 1800), (50, 90), (40, 80), (524_288, 2_097_152), (2, 3), *_A5_PATCH),
}
TIER_BUDGETS: dict[Tier, dict[str, tuple[int, int] | None]] = {
    tier: dict(zip(BUDGET_FIELDS, row, strict=True)) for tier, row in _BUDGET_ROWS.items()
}
# Anything above this is refused rather than clamped: no tier comes near it.
ABUSIVE_LIMIT: dict[str, int] = {
    "tool_budget": 10_000,
    "time_budget_seconds": 86_400,
    "max_model_calls": 10_000,
    "max_files_to_inspect": 100_000,
    "max_total_observation_bytes": 1 << 30,
    "max_duplicate_actions": 1_000,
    "max_files_changed": 10_000,
    "max_patch_bytes": 1 << 30,
}
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "cmd", "powershell", "pwsh"})
SHELL_METACHARS = set(";|&$`<>")

ScopePath = Annotated[StrictStr, Field(min_length=1, max_length=512)]
PositiveInt = Annotated[int, Field(strict=True, gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class VerificationSpec(_Strict):
    """Commands an A5/A6 mission may run in its worktree: argv lists, matched exactly."""

    commands: list[list[str]] = Field(default_factory=list, max_length=16)
    timeout_seconds: Annotated[int, Field(strict=True, gt=0, le=1800)] = 120

    @field_validator("commands", mode="before")
    @classmethod
    def _argv_only(cls, value: Any) -> Any:
        return check_argv_lists(value, "verification.commands")


def check_argv_lists(value: Any, where: str) -> Any:
    """``value`` if it is a list of argv lists that run no shell; ValueError naming ``where``."""
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of argv lists")
    for index, command in enumerate(value):
        item = f"{where}[{index}]"
        if isinstance(command, str):
            raise ValueError(
                f"{item} is a shell string {command!r}; give an argv list such as "
                f"{command.split()!r}"
            )
        if not isinstance(command, list) or not command:
            raise ValueError(f"{item} must be a non-empty list of strings")
        if not all(isinstance(arg, str) and arg and "\x00" not in arg for arg in command):
            raise ValueError(f"{item} must hold non-empty strings without NUL bytes")
        program = posixpath.basename(command[0])
        if program in SHELLS:
            raise ValueError(f"{item} runs a shell ({program}); give the command itself")
        if " " in command[0] or SHELL_METACHARS & set(command[0]):
            raise ValueError(
                f"{item}[0] {command[0]!r} looks like a shell string; split it into argv"
            )
    return value


def _budget(name: str, what: str) -> Any:
    """An optional budget field, its description with the limits spelled out (MCP clients drop
    ``maximum``)."""
    caps = ", ".join(
        f"{tier.value} {limits[0]} (cap {limits[1]})"
        for tier, budgets in TIER_BUDGETS.items()
        if (limits := budgets[name]) is not None
    )
    return Field(
        None,
        description=f"{what}. Optional: the tier's default applies when absent; values above "
        f"the tier's cap are lowered to it; above {ABUSIVE_LIMIT[name]} is refused. Default "
        f"(cap) per tier: {caps}.",
    )


class MissionV1(_Strict):
    """A delegated task, as the handoff block states it."""

    schema_version: Literal["oss_agent_mission.v1"] = Field(
        description='Always "oss_agent_mission.v1".'
    )
    mission_id: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] = Field(
        description="Unique name of the mission: 1-64 of A-Z a-z 0-9 . _ -, starting with a "
        "letter or digit; artifacts go under .codex-oss/missions/<mission_id>/."
    )
    tier: Tier = Field(
        description="A2 quick lookup, A3 read-only investigation, A4 patch proposal, A5 "
        "isolated implementation, A6 critical-path rehearsal."
    )
    mode: Mode | None = Field(
        None,
        description="Optional; must match the tier (A2 guided_exploration, A3 "
        "managed_investigation or open_investigation, A4 patch_proposal, A5 "
        "bounded_implementation, A6 critical_implementation). open_investigation (A3-open; "
        'tier "A3-open" means the same) is for ambiguous questions: the report must answer '
        "every question (questions, else derived from the objective) with a grounded finding "
        "before it may be COMPLETE.",
    )
    questions: list[Annotated[StrictStr, Field(min_length=3, max_length=500)]] | None = Field(
        None,
        max_length=12,
        description="open_investigation only: the questions the report must answer (at most "
        "12). Default: the questions and clauses of the objective.",
    )
    objective: Annotated[StrictStr, Field(min_length=1, max_length=8000)] = Field(
        description="What the mission must find out or change (at most 8000 characters)."
    )
    risk_tier: RiskTier = Field(
        RiskTier.LOW,
        description="low, medium or critical; caps the report's confidence (HIGH, MEDIUM, LOW).",
    )
    write_allowed: StrictBool | None = Field(
        None, description="Optional; false below A5, true for A5 and A6."
    )
    allowed_roots: list[ScopePath] = Field(
        default_factory=list,
        max_length=64,
        description="Project-relative folders the mission may read below (at most 64; '.' is "
        "the whole project).",
    )
    allowed_paths: list[ScopePath] = Field(
        default_factory=list,
        max_length=256,
        description="Project-relative files (or folders) the mission may read (at most 256). "
        "With no allowed_roots, each is a required source unless required_sources says "
        "otherwise.",
    )
    required_sources: list[ScopePath] | None = Field(
        None,
        max_length=64,
        description="Paths (files or folders, inside the scope, at most 64) the mission must "
        "read before it may report COMPLETE: an unread one caps the report at PARTIAL, a "
        "denied one at ESCALATE. Default: the allowed_paths when allowed_roots is empty, "
        "else none; [] means none.",
    )
    forbidden_roots: list[ScopePath] = Field(
        default_factory=list,
        max_length=64,
        description="Project-relative folders never read, even inside the scope (at most 64).",
    )
    critical_path_read_allowed: StrictBool = Field(
        False, description="Whether critical paths may be read; needs critical_path_reason."
    )
    critical_path_reason: Annotated[StrictStr, Field(max_length=2000)] | None = Field(
        None, description="Why critical paths must be read (at most 2000 characters)."
    )
    owned_paths: list[ScopePath] = Field(
        default_factory=list,
        max_length=64,
        description="A4 and above: the paths a patch may change (at most 64, inside the scope).",
    )
    tool_budget: PositiveInt | None = _budget("tool_budget", "Tool calls")
    time_budget_seconds: PositiveInt | None = _budget("time_budget_seconds", "Wall-clock seconds")
    max_model_calls: PositiveInt | None = _budget("max_model_calls", "Model turns")
    max_files_to_inspect: PositiveInt | None = _budget(
        "max_files_to_inspect", "Distinct files read"
    )
    max_total_observation_bytes: PositiveInt | None = _budget(
        "max_total_observation_bytes", "Bytes of tool output shown"
    )
    max_duplicate_actions: Annotated[int, Field(strict=True, ge=0)] | None = _budget(
        "max_duplicate_actions",
        "Repeats of one identical tool call (denied or not) before exploration is "
        "forced to close; 0 or more",
    )
    allowed_tool_classes: list[ToolClass] = Field(
        default_factory=lambda: [ToolClass.READ, ToolClass.SEARCH, ToolClass.LIST, ToolClass.GIT],
        min_length=1,
        description="Tool classes offered: read, search, list, git (at least one).",
    )
    stop_conditions: list[StopCondition] = Field(
        default_factory=lambda: [StopCondition.ANSWER_FOUND, StopCondition.BUDGET_EXHAUSTED],
        description="What ends exploration: "
        + "; ".join(f"{c.value}: {STOP_MEANINGS[c]}" for c in StopCondition)
        + ".",
    )
    report_schema: ReportSchema = Field(REPORT_SCHEMA, description=f'Always "{REPORT_SCHEMA}".')
    required_outputs: list[RequiredOutput] = Field(
        default_factory=lambda: [RequiredOutput.FINDINGS],
        description="Report fields a COMPLETE must state (an explicit [] or null counts as "
        "stated, an absent key does not): findings, confidence, files_inspected, "
        "commands_run, uncertainties, caveats, escalation_recommendation, patch_intent, "
        "verification_results.",
    )
    verification: VerificationSpec | None = Field(
        None, description="A5 and A6: argv commands the runtime may run in the worktree."
    )
    max_files_changed: PositiveInt | None = _budget(
        "max_files_changed", "A4 and above: files a patch changes"
    )
    max_patch_bytes: PositiveInt | None = _budget("max_patch_bytes", "A4 and above: bytes of patch")

    @field_validator(
        "allowed_roots", "allowed_paths", "forbidden_roots", "owned_paths", "required_sources"
    )
    @classmethod
    def _relative_paths(cls, paths: list[str] | None) -> list[str] | None:
        return None if paths is None else [normalise_scope_path(path) for path in paths]

    @field_validator("objective")
    @classmethod
    def _objective_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("objective is blank; say what the mission must find or change")
        return value

    @field_validator(
        "allowed_tool_classes", "stop_conditions", "required_outputs", "required_sources"
    )
    @classmethod
    def _no_duplicates(cls, values: list[Any] | None) -> list[Any] | None:
        seen: set[Any] = set()
        for value in values or ():
            if value in seen:
                raise ValueError(f"{str(value)!r} is listed twice")
            seen.add(value)
        return values

    @field_validator(*BUDGET_FIELDS)
    @classmethod
    def _not_abusive(cls, value: int | None, info: Any) -> int | None:
        limit = ABUSIVE_LIMIT[info.field_name]
        if value is not None and value > limit:
            raise ValueError(f"{info.field_name}={value} is beyond any tier (limit {limit})")
        return value

    @model_validator(mode="before")
    @classmethod
    def _a3_open(cls, data: Any) -> Any:
        """The origin document's label ``A3-open`` is tier A3 in mode open_investigation."""
        tier = data.get("tier") if isinstance(data, dict) else None
        if isinstance(tier, str) and tier.strip().lower().replace("_", "-") == "a3-open":
            data = {**data, "tier": Tier.A3.value}
            data.setdefault("mode", Mode.OPEN_INVESTIGATION.value)
        return data

    @model_validator(mode="after")
    def _tier_rules(self) -> MissionV1:
        allowed_modes = MODES_OF_TIER[self.tier]
        if self.mode is not None and self.mode not in allowed_modes:
            raise ValueError(
                f"mode {self.mode.value!r} does not match tier {self.tier.value}; "
                f"use {' or '.join(repr(m.value) for m in allowed_modes)}"
            )
        if self.questions is not None and self.mode is not Mode.OPEN_INVESTIGATION:
            raise ValueError(
                "questions is only for mode open_investigation (tier A3-open); drop it or "
                'set "mode": "open_investigation"'
            )
        writes = self.tier in WRITE_TIERS
        if self.write_allowed is not None and self.write_allowed != writes:
            raise ValueError(
                f"write_allowed must be {str(writes).lower()} for tier {self.tier.value}"
            )
        if not (self.allowed_roots or self.allowed_paths):
            raise ValueError("allowed_roots or allowed_paths must name the mission's scope")
        if self.tier in PATCH_TIERS and not self.owned_paths:
            raise ValueError(f"owned_paths is required for tier {self.tier.value}")
        if self.tier not in PATCH_TIERS:
            for name in ("owned_paths", "max_files_changed", "max_patch_bytes"):
                if getattr(self, name):
                    raise ValueError(f"{name} is only for patch tiers (A4 and above)")
        if self.verification is not None and self.tier not in WRITE_TIERS:
            raise ValueError("verification commands are only for tiers A5 and A6")
        if self.critical_path_read_allowed and not (self.critical_path_reason or "").strip():
            raise ValueError("critical_path_read_allowed needs a critical_path_reason")
        scope = [*self.allowed_roots, *self.allowed_paths]
        for source in self.required_sources or ():
            if not any(is_within(source, root) for root in scope):
                raise ValueError(
                    f"required_sources entry {source!r} is outside the scope; add it to "
                    "allowed_paths or allowed_roots"
                )
            if any(is_within(source, forbidden) for forbidden in self.forbidden_roots):
                raise ValueError(f"required_sources entry {source!r} lies in a forbidden root")
        for owned in self.owned_paths:
            if not any(is_within(owned, root) for root in scope):
                raise ValueError(f"owned_paths entry {owned!r} is outside allowed scope")
            for forbidden in self.forbidden_roots:
                if is_within(owned, forbidden):
                    raise ValueError(
                        f"owned_paths entry {owned!r} lies in forbidden root {forbidden!r}"
                    )
        return self

    @property
    def required_source_paths(self) -> tuple[str, ...]:
        """What must be read before COMPLETE: ``required_sources``, else the allowed_paths of a
        mission without roots (a mission scoped to named files is about those files)."""
        if self.required_sources is not None:
            return tuple(self.required_sources)
        return () if self.allowed_roots else tuple(self.allowed_paths)

    @property
    def effective_mode(self) -> Mode:
        return self.mode or MODE_OF_TIER[self.tier]

    @property
    def effective_write_allowed(self) -> bool:
        return self.tier in WRITE_TIERS


class CompiledMission(_Strict):
    """A mission with every budget resolved to a number, and what was changed to get there."""

    mission: MissionV1
    clamps: list[Clamp]


class MissionContractError(ValueError):
    """A handoff's mission does not satisfy MissionV1; ``errors`` name each field."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid MissionV1: " + "; ".join(errors))


def compile_mission(data: Any) -> CompiledMission:
    """Validate ``data`` as MissionV1 and resolve budgets against the tier's defaults and caps."""
    try:
        mission = MissionV1.model_validate(data)
    except ValidationError as exc:
        raise MissionContractError(describe_validation_errors(exc)) from None
    clamps: list[Clamp] = []
    resolved: dict[str, Any] = {
        "mode": mission.effective_mode,
        "write_allowed": mission.effective_write_allowed,
    }
    for name, limits in TIER_BUDGETS[mission.tier].items():
        if limits is None:
            continue
        default, cap = limits
        requested = getattr(mission, name)
        if requested is None:
            clamps.append(Clamp(field=name, requested=None, applied=default, reason="tier_default"))
            resolved[name] = default
        elif requested > cap:
            clamps.append(Clamp(field=name, requested=requested, applied=cap, reason="tier_cap"))
            resolved[name] = cap
    return CompiledMission(mission=mission.model_copy(update=resolved), clamps=clamps)


def mission_json_schema() -> dict[str, Any]:
    """The JSON Schema of MissionV1, as ``codex-oss mission schema`` prints it."""
    schema = MissionV1.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_VERSION
    return schema


def describe_validation_errors(exc: ValidationError) -> list[str]:
    """Turn pydantic's errors into lines that name the field and what is wrong."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "mission"
        if error["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown field (not part of {SCHEMA_VERSION})")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {message}")
    return lines


def normalise_scope_path(path: str) -> str:
    """A project-relative POSIX path, or ValueError for anything that could leave the project."""
    if "\x00" in path:
        raise ValueError(f"path {path!r} contains a NUL byte")
    if "\\" in path:
        raise ValueError(f"path {path!r} uses backslashes; use project-relative POSIX paths")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ValueError(f"path {path!r} is absolute; use a path relative to the project")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise ValueError(f"path {path!r} escapes the project")
    return normal


def is_within(path: str, root: str) -> bool:
    """Whether normalised relative ``path`` is ``root`` or below it (``.`` is the project)."""
    return root == "." or path == root or path.startswith(root.rstrip("/") + "/")


def template(tier: Tier, objective: str, mission_id: str, **fields: Any) -> dict[str, Any]:
    """A valid MissionV1 document for ``tier`` with its defaults spelled out."""
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "mission_id": mission_id,
        "tier": tier.value,
        "mode": MODE_OF_TIER[tier].value,
        "objective": objective,
        "risk_tier": RiskTier.LOW.value,
        "write_allowed": tier in WRITE_TIERS,
        "allowed_roots": ["."],
        "allowed_paths": [],
        "forbidden_roots": [],
        "critical_path_read_allowed": False,
        "allowed_tool_classes": [c.value for c in ToolClass],
        "stop_conditions": [StopCondition.ANSWER_FOUND.value, StopCondition.BUDGET_EXHAUSTED.value],
        "report_schema": REPORT_SCHEMA,
        "required_outputs": [RequiredOutput.FINDINGS.value],
    }
    for name, limits in TIER_BUDGETS[tier].items():
        if limits is not None:
            data[name] = limits[0]
    if tier in PATCH_TIERS:
        data["owned_paths"] = fields.pop("owned_paths", [])
    if tier in WRITE_TIERS:
        data["verification"] = {"commands": [], "timeout_seconds": 120}
    data.update(fields)
    return data
