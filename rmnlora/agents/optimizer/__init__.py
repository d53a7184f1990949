"""Budget optimizer agent: fitted response curves, CVXPY allocation, bandit exploration.

The planner calls :func:`fit_response_curves` on harmonized RMIS events, :func:`build_problem`
with the brief, then :func:`allocate_budget`. Thin-history lines go to :func:`thompson_split`.
"""

from rmnlora.agents.optimizer.allocate import allocate_budget, resolve_curves
from rmnlora.agents.optimizer.bandit import BayesLinearTS, thompson_split
from rmnlora.agents.optimizer.curves import CurveFitError, daily_history, fit_log_curve, fit_response_curves
from rmnlora.agents.optimizer.kkt import kkt_allocation
from rmnlora.agents.optimizer.problem import build_problem

__all__ = [
    "BayesLinearTS",
    "CurveFitError",
    "allocate_budget",
    "build_problem",
    "daily_history",
    "fit_log_curve",
    "fit_response_curves",
    "kkt_allocation",
    "resolve_curves",
    "thompson_split",
]
