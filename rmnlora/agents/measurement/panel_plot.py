"""The picture a reader of a panel analysis looks for: the treated series against its synthetic
counterpart, and the effect over time with its placebo band, the treatment start marked."""

from __future__ import annotations

from pathlib import Path

from rmnlora.schemas.measurement import PanelLift

METHOD_NAMES = {
    "did": "difference-in-differences",
    "synthetic_control": "synthetic control",
    "sdid": "synthetic DiD",
}


def plot_panel_lift(lift: PanelLift, path: Path) -> Path:
    """Write a two-row PNG (levels, then effect with band) to ``path``; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    periods = [p.period for p in lift.periods]
    treated = ", ".join(lift.treated_units[:3]) + ("..." if len(lift.treated_units) > 3 else "")
    figure, (levels, effects) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, constrained_layout=True)
    levels.plot(periods, [p.observed for p in lift.periods], color="black", label=f"observed: {treated}")
    levels.plot(
        periods,
        [p.synthetic for p in lift.periods],
        color="tab:blue",
        linestyle="--",
        label=f"synthetic ({METHOD_NAMES[lift.method]}, {lift.n_donors} donors)",
    )
    levels.set_ylabel(lift.outcome)
    levels.legend(loc="best", fontsize=8)
    effects.fill_between(
        periods,
        [p.low for p in lift.periods],
        [p.high for p in lift.periods],
        color="tab:blue",
        alpha=0.2,
        label=f"{lift.confidence_level:.0%} placebo band",
    )
    effects.plot(periods, [p.effect for p in lift.periods], color="tab:blue", label="observed - synthetic")
    effects.axhline(0, color="grey", linewidth=0.8)
    effects.set_ylabel(f"effect on {lift.outcome}")
    effects.legend(loc="best", fontsize=8)
    for axis in (levels, effects):
        axis.axvline(lift.treatment_start, color="tab:red", linewidth=1, linestyle=":")
        axis.grid(alpha=0.3)
    figure.suptitle(
        f"{METHOD_NAMES[lift.method]}: {lift.att:+.4g} per treated unit and {lift.frequency} "
        f"[{lift.ci_low:+.4g}, {lift.ci_high:+.4g}], p = {lift.p_value:.3f}",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
