"""Contextual Thompson sampling for line items with too little history for a curve.

A Bayesian linear model of the return per currency unit (outcome / spend) over one-hot context
features (retailer, placement, audience, season) lets a new line borrow strength from lines
that share its retailer or placement. The exploration budget is split by probability matching:
each arm's share is the posterior probability that it has the best return, estimated by
sampling — what Thompson sampling would spend on it. Priors are explicit and reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rmnlora.schemas.optimizer import ArmSplit, BanditArm, ExplorationSplit

CONTEXT_FIELDS = ("retailer", "placement", "audience", "season")


class ContextEncoder:
    """Intercept + one-hot of every (field, value) seen among the arms."""

    def __init__(self, contexts: Sequence[dict[str, str]], fields: Sequence[str] = CONTEXT_FIELDS) -> None:
        self.fields = tuple(fields)
        values = sorted({(f, str(c.get(f, "all"))) for c in contexts for f in self.fields})
        self.index = {fv: i + 1 for i, fv in enumerate(values)}
        self.size = len(values) + 1

    def encode(self, context: dict[str, str]) -> np.ndarray:
        vec = np.zeros(self.size)
        vec[0] = 1.0
        for f in self.fields:
            i = self.index.get((f, str(context.get(f, "all"))))
            if i is not None:
                vec[i] = 1.0
        return vec


class BayesLinearTS:
    """Gaussian prior N(m0, s0²·I) on weights, known noise σ; conjugate updates, Thompson draws."""

    def __init__(
        self, n_features: int, *, prior_mean: np.ndarray, prior_std: float, noise_std: float
    ) -> None:
        if prior_std <= 0 or noise_std <= 0:
            raise ValueError("prior_std and noise_std must be positive")
        self.noise_var = noise_std**2
        self.precision = np.eye(n_features) / prior_std**2
        self.b = prior_mean / prior_std**2

    def update(self, x: np.ndarray, reward: float) -> None:
        self.precision += np.outer(x, x) / self.noise_var
        self.b += x * reward / self.noise_var

    def update_batch(self, xs: np.ndarray, rewards: np.ndarray) -> None:
        self.precision += xs.T @ xs / self.noise_var
        self.b += xs.T @ rewards / self.noise_var

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        cov = np.linalg.inv(self.precision)
        return cov @ self.b, cov

    def sample_weights(self, rng: np.random.Generator, size: int) -> np.ndarray:
        mean, cov = self.posterior()
        return rng.multivariate_normal(mean, cov, size=size, method="cholesky")

    def select(self, arms: np.ndarray, rng: np.random.Generator) -> int:
        """Thompson step: draw weights once, pick the arm with the best sampled return."""
        return int(np.argmax(arms @ self.sample_weights(rng, 1)[0]))

    def greedy(self, arms: np.ndarray) -> int:
        return int(np.argmax(arms @ self.posterior()[0]))


def _context(arm: BanditArm) -> dict[str, str]:
    return {
        "retailer": arm.retailer,
        "placement": arm.placement,
        "audience": arm.audience,
        "season": arm.season,
    }


def thompson_split(
    arms: list[BanditArm],
    budget: float,
    *,
    prior_mean_return: float | None = None,
    prior_std_return: float | None = None,
    noise_std: float | None = None,
    draws: int = 4000,
    seed: int = 0,
) -> ExplorationSplit:
    """Split an exploration budget over thin-history arms by posterior probability of being best.

    Defaults: the prior mean return is the pooled observed return (1.0 when no arm has history),
    the prior std equals that mean (wide), the noise std is the observed daily-return std.
    """
    if not arms:
        raise ValueError("thompson_split needs at least one arm")
    if budget <= 0:
        raise ValueError(f"exploration budget must be positive, got {budget}")
    notes: list[str] = []
    encoder = ContextEncoder([_context(a) for a in arms])
    features = np.array([encoder.encode(_context(a)) for a in arms])
    xs, ys = [], []
    for arm, x in zip(arms, features, strict=True):
        for point in arm.history:
            if point.spend > 0:
                xs.append(x)
                ys.append(point.outcome / point.spend)
    observed = np.asarray(ys)
    if prior_mean_return is None:
        prior_mean_return = float(observed.mean()) if observed.size else 1.0
        notes.append(
            f"prior mean return {prior_mean_return:.4f} "
            f"({'pooled observed' if observed.size else 'no history: assumed 1.0'})"
        )
    if prior_std_return is None:
        prior_std_return = max(abs(prior_mean_return), 1e-6)
    if noise_std is None:
        noise_std = float(observed.std(ddof=1)) if observed.size > 2 else prior_std_return
        noise_std = max(noise_std, 1e-6)
    prior = np.zeros(encoder.size)
    prior[0] = prior_mean_return
    # Spread the prior variance of one arm's return over its active features (intercept + fields).
    active = 1 + len(encoder.fields)
    model = BayesLinearTS(
        encoder.size, prior_mean=prior, prior_std=prior_std_return / np.sqrt(active), noise_std=noise_std
    )
    if xs:
        model.update_batch(np.asarray(xs), observed)
    rng = np.random.default_rng(seed)
    sampled = model.sample_weights(rng, draws) @ features.T  # draws × arms
    wins = np.bincount(np.argmax(sampled, axis=1), minlength=len(arms)) / draws
    mean, cov = model.posterior()
    means = features @ mean
    stds = np.sqrt(np.einsum("ij,jk,ik->i", features, cov, features))
    splits = [
        ArmSplit(
            id=arm.id,
            share=float(w),
            spend=float(w * budget),
            posterior_mean_return=float(m),
            posterior_std_return=float(s),
            days_of_history=len(arm.history),
        )
        for arm, w, m, s in zip(arms, wins, means, stds, strict=True)
    ]
    return ExplorationSplit(
        budget=budget,
        draws=draws,
        prior_mean_return=prior_mean_return,
        prior_std_return=prior_std_return,
        noise_std=noise_std,
        arms=splits,
        notes=notes,
    )


Policy = Literal["thompson", "uniform", "epsilon_greedy"]


def simulate_regret(
    policy: Policy, *, rounds: int = 2000, seed: int = 0, noise_std: float = 1.0, epsilon: float = 0.1
) -> np.ndarray:
    """Cumulative regret of a policy on a simulated linear-return world (4 retailers × 3 placements
    × 3 audiences × 2 seasons = 72 arms); every policy sees the same world and reward noise."""
    world = np.random.default_rng(seed)
    contexts = [
        {"retailer": f"r{r}", "placement": f"p{p}", "audience": f"a{a}", "season": f"s{s}"}
        for r in range(4)
        for p in range(3)
        for a in range(3)
        for s in range(2)
    ]
    encoder = ContextEncoder(contexts)
    arms = np.array([encoder.encode(c) for c in contexts])
    theta = world.normal(0.0, 0.5, encoder.size)
    theta[0] = 2.0
    true_means = arms @ theta
    best = float(true_means.max())
    noise = world.normal(0.0, noise_std, rounds)
    rng = np.random.default_rng(seed + 1)
    model = BayesLinearTS(
        encoder.size, prior_mean=np.eye(encoder.size)[0] * 2.0, prior_std=1.0, noise_std=noise_std
    )
    regret = np.empty(rounds)
    for t in range(rounds):
        if policy == "uniform":
            choice = int(rng.integers(len(arms)))
        elif policy == "epsilon_greedy":
            choice = int(rng.integers(len(arms))) if rng.random() < epsilon else model.greedy(arms)
        else:
            choice = model.select(arms, rng)
        reward = true_means[choice] + noise[t]
        if policy != "uniform":
            model.update(arms[choice], float(reward))
        regret[t] = best - true_means[choice]
    return np.cumsum(regret)
