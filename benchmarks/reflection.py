"""Reflection decision accuracy on clean and planted scenarios.

Each scenario is a set of agent signals with a known right answer: clean ones must proceed with no
bias flag; planted critical conditions must block (or escalate); planted fixable ones must revise;
planted biases must be flagged. One scenario recalls a similar past failure from a real ChromaDB
memory (offline MiniLM). Prints the figures and writes benchmarks/results/reflection.json.

    .venv/bin/python benchmarks/reflection.py [--repeat N]   # N: passes over the suite for timing
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import write_results  # noqa: E402
from rmnlora.config import load_settings  # noqa: E402
from rmnlora.reflection import (  # noqa: E402
    BiasType,
    ComponentStatus,
    CreateSignals,
    GovernSignals,
    HarmonizeSignals,
    LineSignals,
    MeasureSignals,
    MemoryRef,
    OptimizeSignals,
    ReflectionEngine,
    Violation,
)


@dataclass
class Scenario:
    name: str
    kind: str  # clean | critical | high | revise | bias
    phase: str
    signals: Any
    expect: tuple[str, ...]
    bias: BiasType | None = None
    revisions_used: int = 0
    memory_refs: list[MemoryRef] = field(default_factory=list)


def _harm(**kw: Any) -> HarmonizeSignals:
    base: dict[str, Any] = dict(
        rows_in=20_000,
        rows_quarantined=60,
        quarantine_reasons={"bad_check_digit": 60},
        coverage_days=120,
        retailers_expected=["walmart", "target", "kroger"],
        retailers_with_data=["walmart", "target", "kroger"],
    )
    return HarmonizeSignals(**{**base, **kw})


def _line(name: str, **kw: Any) -> LineSignals:
    base: dict[str, Any] = dict(
        planned_spend=30_000,
        current_spend=30_000,
        observed_max_spend=40_000,
        predicted_return=120_000,
        marginal_roas=2.6,
        fit_r2=0.82,
        data_points=90,
        history_roas=4.0,
        recent_roas=4.2,
    )
    return LineSignals(name=name, **{**base, **kw})


def _lines(**overrides: dict[str, Any]) -> list[LineSignals]:
    specs = {
        "walmart/search": dict(
            planned_spend=40_000,
            current_spend=30_000,
            predicted_return=164_000,
            data_points=90,
            history_roas=4.2,
            observed_max_spend=45_000,
        ),
        "target/display": dict(
            planned_spend=35_000,
            current_spend=40_000,
            predicted_return=140_000,
            data_points=60,
            history_roas=4.3,
            observed_max_spend=50_000,
        ),
        "kroger/onsite": dict(
            planned_spend=25_000,
            current_spend=30_000,
            predicted_return=96_000,
            data_points=120,
            history_roas=3.6,
            observed_max_spend=35_000,
        ),
    }
    return [_line(n, **{**spec, **overrides.get(n, {})}) for n, spec in specs.items()]  # type: ignore[arg-type]


def _opt(**kw: Any) -> OptimizeSignals:
    base: dict[str, Any] = dict(
        solver_status="optimal",
        lines=_lines(),
        budget=100_000,
        roas_floor=3.0,
        predicted_roas=4.0,
        binding_constraints=["total_budget"],
    )
    return OptimizeSignals(**{**base, **kw})


def _meas(**kw: Any) -> MeasureSignals:
    base: dict[str, Any] = dict(
        power=0.84,
        mde=0.04,
        expected_lift=0.05,
        simulated_power=0.83,
        simulations=2000,
        duration_days=28,
        max_duration_days=56,
    )
    return MeasureSignals(**{**base, **kw})


def _content(cls: type, **kw: Any) -> Any:
    base: dict[str, Any] = dict(candidates=3, formats_expected=3, formats_covered=3)
    return cls(**{**base, **kw})


def scenarios(failure_refs: list[MemoryRef]) -> list[Scenario]:
    extrapolated = [
        _line("walmart/search", planned_spend=60_000, observed_max_spend=20_000, predicted_return=230_000),
        _line("target/display", planned_spend=40_000, observed_max_spend=38_000, predicted_return=118_000),
    ]
    return [
        # clean: proceed, no bias flags
        Scenario("harmonize clean", "clean", "harmonize", _harm(), ("proceed",)),
        Scenario(
            "harmonize 3% quarantined",
            "clean",
            "harmonize",
            _harm(rows_quarantined=600, quarantine_reasons={"bad_date": 600}),
            ("proceed",),
        ),
        Scenario("optimize clean", "clean", "optimize", _opt(), ("proceed",)),
        Scenario(
            "optimize floor binding",
            "clean",
            "optimize",
            _opt(binding_constraints=["total_budget", "roas_floor"], predicted_roas=3.0),
            ("proceed",),
        ),
        Scenario("measure clean", "clean", "measure", _meas(), ("proceed",)),
        Scenario("create clean", "clean", "create", _content(CreateSignals), ("proceed",)),
        Scenario(
            "create template fallback",
            "clean",
            "create",
            _content(
                CreateSignals,
                template_fallback_used=True,
                model_available=False,
                components=[ComponentStatus(name="model", status="unconfigured")],
            ),
            ("proceed",),
        ),
        Scenario("govern clean", "clean", "govern", _content(GovernSignals), ("proceed",)),
        Scenario(
            "govern low violations",
            "clean",
            "govern",
            _content(GovernSignals, violations=[Violation(rule="emoji", severity="low")] * 2),
            ("proceed",),
        ),
        # planted critical: block
        Scenario(
            "60% quarantined",
            "critical",
            "harmonize",
            _harm(rows_quarantined=12_000, quarantine_reasons={"bad_gtin": 12_000}),
            ("block",),
        ),
        Scenario(
            "spend column unmapped",
            "critical",
            "harmonize",
            _harm(missing_required_fields=["spend"]),
            ("block",),
        ),
        Scenario("no rows", "critical", "harmonize", _harm(rows_in=0, rows_quarantined=0), ("block",)),
        Scenario("solver error", "critical", "optimize", _opt(solver_status="solver_error"), ("block",)),
        Scenario(
            "unapproved health claim",
            "critical",
            "govern",
            _content(GovernSignals, violations=[Violation(rule="health_claim", severity="critical")]),
            ("block",),
        ),
        Scenario(
            "overspend", "critical", "govern", _content(GovernSignals, budget_within_brief=False), ("block",)
        ),
        # planted high without automatic fix: escalate
        Scenario(
            "30% quarantined",
            "high",
            "harmonize",
            _harm(rows_quarantined=6_000, quarantine_reasons={"bad_date": 6_000}),
            ("escalate", "block"),
        ),
        Scenario(
            "retailer without data",
            "high",
            "harmonize",
            _harm(
                retailers_with_data=["walmart", "target"],
                current_spend_by_retailer={"walmart": 3.0, "target": 4.0, "kroger": 3.0},
            ),
            ("escalate", "block"),
            bias=BiasType.SURVIVORSHIP,
        ),
        Scenario(
            "no feasible design",
            "high",
            "measure",
            _meas(feasible=False, problems=["only 4 markets"]),
            ("escalate", "block"),
        ),
        Scenario(
            "similar past failure (memory)",
            "high",
            "optimize",
            _opt(),
            ("escalate", "block"),
            memory_refs=failure_refs,
        ),
        Scenario(
            "extrapolation, revisions used up",
            "high",
            "optimize",
            _opt(lines=extrapolated, roas_floor=3.2, predicted_roas=3.5),
            ("escalate",),
            revisions_used=2,
        ),
        # planted, fixable by the agent: revise
        Scenario(
            "floor met only by extrapolation",
            "revise",
            "optimize",
            _opt(lines=extrapolated, roas_floor=3.2, predicted_roas=3.5),
            ("revise",),
        ),
        Scenario(
            "infeasible floor",
            "revise",
            "optimize",
            _opt(solver_status="infeasible", relaxable_constraints=["roas_floor"]),
            ("revise",),
        ),
        Scenario(
            "underpowered design",
            "revise",
            "measure",
            _meas(power=0.55, mde=0.07, simulated_power=0.57),
            ("revise",),
        ),
        Scenario(
            "copy too long",
            "revise",
            "create",
            _content(
                CreateSignals, violations=[Violation(rule="max_length", severity="high", target="amazon")]
            ),
            ("revise",),
        ),
        # planted biases: must be flagged
        Scenario(
            "anchoring",
            "bias",
            "optimize",
            _opt(
                lines=_lines(
                    **{
                        "walmart/search": {"marginal_roas": 5.0, "current_spend": 40_000},
                        "target/display": {"current_spend": 35_000, "marginal_roas": 1.6},
                        "kroger/onsite": {"current_spend": 25_000, "marginal_roas": 3.5},
                    }
                )
            ),
            ("proceed", "revise", "escalate"),
            bias=BiasType.ANCHORING,
        ),
        Scenario(
            "availability",
            "bias",
            "optimize",
            _opt(
                lines=_lines(
                    **{
                        "walmart/search": {"data_points": 300, "history_roas": 2.5, "recent_roas": 2.5},
                        "target/display": {"data_points": 200, "history_roas": 3.0, "recent_roas": 3.0},
                        "kroger/onsite": {"data_points": 20, "history_roas": 5.5, "recent_roas": 5.5},
                    }
                )
            ),
            ("proceed", "revise", "escalate"),
            bias=BiasType.AVAILABILITY,
        ),
        Scenario(
            "sunk cost",
            "bias",
            "optimize",
            _opt(lines=_lines(**{"kroger/onsite": {"marginal_roas": 1.1}})),
            ("revise",),
            bias=BiasType.SUNK_COST,
        ),
        Scenario(
            "recency",
            "bias",
            "optimize",
            _opt(lines=_lines(**{"walmart/search": {"recent_roas": 2.0, "history_roas": 4.2}})),
            ("proceed", "revise", "escalate"),
            bias=BiasType.RECENCY,
        ),
        Scenario(
            "overconfidence",
            "bias",
            "optimize",
            _opt(lines=_lines(**{"walmart/search": {"data_points": 5}})),
            ("proceed", "revise", "escalate"),
            bias=BiasType.OVERCONFIDENCE,
        ),
        Scenario(
            "confirmation",
            "bias",
            "measure",
            _meas(historical_lift=0.015),
            ("proceed", "revise", "escalate"),
            bias=BiasType.CONFIRMATION,
        ),
    ]


def _failure_refs() -> tuple[list[MemoryRef], float]:
    """Store a failed scenario in a real, temporary ChromaDB and recall it with a paraphrase."""
    from rmnlora.memory import ScenarioMemory

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        store = ScenarioMemory.persistent(folder)
        store.store_scenario(
            "bench",
            "q3-snacks",
            "brand Crunchy; salty snacks; retailers walmart, target, kroger; "
            "budget 100,000 USD; ROAS floor 3; search, display, onsite",
            outcome="failure",
        )
        store.store_scenario(
            "bench",
            "coffee",
            "brand Roastly; coffee pods; retailer Amazon; budget 200,000 USD",
            outcome="success",
        )
        refs = store.recall(
            "bench",
            "brand Crunchy; salty snacks; retailers walmart, target, kroger; "
            "budget 110,000 USD; ROAS floor 3",
            k=2,
        )
    return refs, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=20, help="passes over the suite for the latency figure")
    args = parser.parse_args(argv)
    engine = ReflectionEngine.from_settings(load_settings())
    refs, memory_s = _failure_refs()
    suite = scenarios(refs)

    rows = []
    for sc in suite:
        decision = engine.reflect(
            sc.phase,
            sc.signals,
            session_id=sc.name,
            memory_refs=sc.memory_refs,
            revisions_used=sc.revisions_used,
        ).decision
        assert decision is not None
        flagged = {b.type for b in decision.biases}
        rows.append(
            {
                "name": sc.name,
                "kind": sc.kind,
                "phase": sc.phase,
                "decision": decision.decision,
                "expected": list(sc.expect),
                "confidence": decision.confidence,
                "correct": decision.decision in sc.expect and (sc.bias is None or sc.bias in flagged),
                "biases": sorted(b.value for b in flagged),
                "planted_bias": sc.bias.value if sc.bias else None,
            }
        )

    started = time.perf_counter()
    for _ in range(args.repeat):
        for sc in suite:
            engine.reflect(
                sc.phase,
                sc.signals,
                session_id=sc.name,
                memory_refs=sc.memory_refs,
                revisions_used=sc.revisions_used,
            )
    per_reflect_ms = (time.perf_counter() - started) * 1000 / (args.repeat * len(suite))

    def share(kind: str, ok: set[str]) -> float:
        group = [r for r in rows if r["kind"] == kind]
        return sum(r["decision"] in ok for r in group) / len(group)

    clean = [r for r in rows if r["kind"] == "clean"]
    planted_bias = [r for r in rows if r["planted_bias"]]
    figures = {
        "scenarios": len(rows),
        "decision_accuracy": round(sum(r["correct"] for r in rows) / len(rows), 4),
        "critical_blocked_or_escalated": share("critical", {"block", "escalate"}),
        "critical_blocked": share("critical", {"block"}),
        "high_escalated_or_blocked": share("high", {"escalate", "block"}),
        "revise_correct": share("revise", {"revise"}),
        "clean_proceed": share("clean", {"proceed"}),
        "clean_false_bias_flags": sum(len(r["biases"]) for r in clean),
        "bias_recall": round(
            sum(r["planted_bias"] in r["biases"] for r in planted_bias) / len(planted_bias), 4
        ),
        "memory_similarity_of_failure": refs[0].similarity if refs else None,
        "memory_setup_s": round(memory_s, 3),
        "reflect_ms_mean": round(per_reflect_ms, 3),
        "rows": rows,
    }
    for r in rows:
        mark = "ok " if r["correct"] else "BAD"
        print(
            f"{mark} {r['kind']:8} {r['name']:36} {r['decision']:9} conf={r['confidence']:.2f} {r['biases']}"
        )
    for key, value in figures.items():
        if key != "rows":
            print(f"{key}: {value}")
    write_results("reflection", figures)
    return figures


if __name__ == "__main__":
    main()
