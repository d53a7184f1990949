"""The phase table: the planner's only list of phases, each with its agent, signals and revision.

Everything that walks the phases (graph wiring, the engine's revisable changes, the report, the
CLI) reads :data:`PHASE_SPECS`, so adding a phase is one row here and one agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar

import polars as pl
from pydantic import BaseModel

from rmnlora.agents.creative.phase import create_for_brief
from rmnlora.agents.governance.phase import govern_plan
from rmnlora.agents.harmonizer.phase import harmonize_brief, run_events
from rmnlora.agents.measurement.phase import measure_brief
from rmnlora.agents.optimizer.phase import optimize_brief
from rmnlora.planner import signals
from rmnlora.planner.services import PlannerServices
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.phases import (
    CreateResult,
    CreateRevision,
    GovernResult,
    GovernRevision,
    HarmonizeResult,
    HarmonizeRevision,
    MeasureResult,
    MeasureRevision,
    OptimizeResult,
    OptimizeRevision,
    PlanResults,
)
from rmnlora.schemas.reflection import Phase, PhaseSignals

R = TypeVar("R", bound=BaseModel)
V = TypeVar("V", bound=BaseModel)


@dataclass
class PhaseInput:
    """What a phase's agent may use: the brief, the earlier phases' results, the run's folder, parts."""

    brief: CampaignBrief
    results: PlanResults
    out_dir: Path
    services: PlannerServices

    @cached_property
    def events(self) -> pl.DataFrame:
        harmonized = self.results.harmonize or HarmonizeResult(events_dir=str(self.out_dir / "harmonized"))
        return run_events(harmonized)


@dataclass(frozen=True)
class PhaseSpec(Generic[R, V]):
    phase: Phase
    result: type[R]
    revision: type[V]
    run: Callable[[PhaseInput, V], R]
    to_signals: Callable[[CampaignBrief, R], PhaseSignals]

    @property
    def name(self) -> str:
        return self.phase.value

    def revisable(self) -> list[str]:
        return list(self.revision.model_fields)


def _harmonize(given: PhaseInput, revision: HarmonizeRevision) -> HarmonizeResult:
    return harmonize_brief(given.brief, given.out_dir / "harmonized", revision)


def _optimize(given: PhaseInput, revision: OptimizeRevision) -> OptimizeResult:
    return optimize_brief(given.brief, given.events, given.out_dir / "plots", revision)


def _measure(given: PhaseInput, revision: MeasureRevision) -> MeasureResult:
    allocation = given.results.optimize.allocation if given.results.optimize else None
    total = allocation.total_spend if allocation else None
    return measure_brief(given.brief, given.events, allocation_total=total, revision=revision)


def _create(given: PhaseInput, revision: CreateRevision) -> CreateResult:
    brief = given.brief

    def model_for(retailer: str) -> Any:
        return given.services.chat_model(
            tenant=brief.tenant, retailer=retailer, brand=brief.brand, task="creative"
        )

    return create_for_brief(brief, model_for, revision, previous=given.results.create)


def _govern(given: PhaseInput, revision: GovernRevision) -> GovernResult:
    return govern_plan(
        given.brief,
        given.results.optimize or OptimizeResult(),
        given.results.create or CreateResult(),
        given.services.check_audiences(given.brief),
    )


PHASE_SPECS: tuple[PhaseSpec[Any, Any], ...] = (
    PhaseSpec(Phase.HARMONIZE, HarmonizeResult, HarmonizeRevision, _harmonize, signals.harmonize_signals),
    PhaseSpec(Phase.OPTIMIZE, OptimizeResult, OptimizeRevision, _optimize, signals.optimize_signals),
    PhaseSpec(Phase.MEASURE, MeasureResult, MeasureRevision, _measure, signals.measure_signals),
    PhaseSpec(Phase.CREATE, CreateResult, CreateRevision, _create, signals.create_signals),
    PhaseSpec(Phase.GOVERN, GovernResult, GovernRevision, _govern, signals.govern_signals),
)
SPEC_BY_NAME: dict[str, PhaseSpec[Any, Any]] = {spec.name: spec for spec in PHASE_SPECS}
PHASES: tuple[str, ...] = tuple(SPEC_BY_NAME)
REVISABLE: dict[str, list[str]] = {spec.name: spec.revisable() for spec in PHASE_SPECS}


def spec_of(phase: str) -> PhaseSpec[Any, Any]:
    try:
        return SPEC_BY_NAME[phase]
    except KeyError:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}") from None


def next_phase(phase: str) -> str:
    """The node after ``phase`` when it proceeds: the next agent, or finalize after the last."""
    index = PHASES.index(phase)
    return PHASES[index + 1] if index + 1 < len(PHASES) else "finalize"
