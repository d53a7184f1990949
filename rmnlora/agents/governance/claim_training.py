"""Training the governance sentence model (:mod:`rmnlora.agents.governance.claim_model`).

Each family's threshold is chosen by cross-validation on the training copies so that the
sentences it flags are labelled with that family at least ``PRECISION_TARGETS[severity]`` of the
time (0.95 for critical families, whose false flag blocks an ad; 0.90 for warnings, whose false
flag costs a reviewer's question), on at least ``MIN_FLAGS`` flags; a family whose held-back
precision never reaches its target is left to the patterns alone. Reproducible: fixed folds and a
deterministic solver, so ``rmn train-claims`` rebuilds the committed file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rmnlora.agents.governance.claim_model import (
    CLAIM_FAMILIES,
    ClaimModel,
    ClaimModelError,
    embed,
    sentence_spans,
)
from rmnlora.agents.governance.evaluation import Tally

PRECISION_TARGETS = {"critical": 0.95, "warning": 0.90}
FOLDS = 5
REGULARISATION_C = 4.0
MIN_THRESHOLD = 0.5
MIN_FLAGS = 10  # a threshold is only trusted on at least this many held-back flags


def copy_sentences(headline: str, body: str) -> list[str]:
    """The sentences of a copy that claims live in (headline and body; CTA and small print are not)."""
    return [text[a:b] for text in (headline, body) for a, b in sentence_spans(text)]


def train(
    copies: Sequence[tuple[str, str, set[tuple[str, str]]]],
    *,
    precision_targets: dict[str, float] | None = None,
    sources: dict[str, str] | None = None,
) -> ClaimModel:
    """Fit one regression per family on whole copies; choose each threshold on held-back folds.

    ``copies``: (headline, body, labels as (family, severity)). A copy's labels are not per
    sentence, so each regression learns from whole copies (headline and body as one text) and is
    then applied to sentences: held-back copies are scored by their most likely sentence, as the
    detector scores them.
    """
    if len(copies) < FOLDS * 2:
        raise ClaimModelError(f"{len(copies)} labelled copies are too few to train on ({FOLDS * 2} at least)")
    texts = [". ".join(t for t in (h, b) if t) or " " for h, b, _ in copies]
    whole = embed(texts, cached=False)
    owners: list[int] = []
    pieces: list[str] = []
    for i, (headline, body, _) in enumerate(copies):
        found = copy_sentences(headline, body) or [" "]
        pieces += found
        owners += [i] * len(found)
    sentence_vectors = embed(pieces, cached=False)
    owner = np.array(owners)
    folds = np.arange(len(copies)) % FOLDS
    families = tuple(CLAIM_FAMILIES)
    targets = {**PRECISION_TARGETS, **(precision_targets or {})}
    coef, intercept, thresholds = [], [], []
    figures: dict[str, dict[str, Any]] = {}
    for family in families:
        severity = CLAIM_FAMILIES[family]
        y = np.array([(family, severity) in labels for _, _, labels in copies])
        if min(int(y[folds != k].sum()) for k in range(FOLDS)) == 0 or y.all():
            raise ClaimModelError(
                f"the training copies need {family}:{severity} labels and copies without them in "
                f"every fold; they have {int(y.sum())} of {len(y)} labelled"
            )
        held_back = np.zeros(len(copies))
        for k in range(FOLDS):
            fit = _regression()
            fit.fit(whole[folds != k], y[folds != k])
            scored = folds[owner] == k
            np.maximum.at(held_back, owner[scored], fit.predict_proba(sentence_vectors[scored])[:, 1])
        threshold, tally = _threshold(held_back, y, targets[severity])
        fit = _regression()
        fit.fit(whole, y)
        coef.append(fit.coef_[0])
        intercept.append(fit.intercept_[0])
        thresholds.append(threshold)
        figures[family] = {
            "threshold": round(threshold, 4) if threshold <= 1 else None,
            "labels": tally.expected,
            "cv_flagged": tally.predicted,
            "cv_right": tally.hit,
        }
    record = {
        "copies": len(copies),
        "precision_targets": targets,
        "folds": FOLDS,
        "C": REGULARISATION_C,
        "sources": sources or {},
        "families": figures,
    }
    return ClaimModel(families, np.array(coef), np.array(intercept), np.array(thresholds), record)


def _regression() -> Any:
    """One family's regression, solved to a tolerance far below the coefficients' rounding: at
    lbfgs's default (1e-4) where the solver stops depends on the CPU's floating-point kernels, and
    a rebuild on another machine differed from the committed file by 7e-4."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=20_000, tol=1e-10)


def _threshold(scores: np.ndarray, y: np.ndarray, target: float) -> tuple[float, Tally]:
    """The lowest threshold whose flags are right ``target`` of the time, on at least ``MIN_FLAGS``
    flags (2.0: none is; 1 right of 1 is no evidence of precision)."""
    best = 2.0
    for candidate in np.round(np.arange(MIN_THRESHOLD, 0.995, 0.01), 2):
        flagged = scores >= candidate
        if flagged.sum() >= MIN_FLAGS and (flagged & y).sum() / flagged.sum() >= target:
            best = float(candidate)
            break
    flagged = scores >= best
    return best, Tally(expected=int(y.sum()), predicted=int(flagged.sum()), hit=int((flagged & y).sum()))


def file_digest(path: Path) -> str:
    """A short content hash, recorded per training file so a changed train split is visible."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
