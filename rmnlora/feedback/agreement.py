"""How much annotators agree, per question, and how much each one answered.

Why: preference pairs train the brand's adapter, so pairs people disagree on teach noise. An item
answered by several annotators is a unit; Krippendorff's alpha (``krippendorff`` package) says how
far above chance their answers agree on the units that have two or more answers:
- *preference*: which of the two texts was chosen (nominal);
- *thumbs*: up or down on one response (nominal);
- *rating*: 1-5 stars on one response (ordinal).
Alpha is undefined with fewer than two such units or when every answer is the same; that is said,
not shown as a number.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rmnlora.storage.database import Database
from rmnlora.storage.models import Feedback

ANONYMOUS = "(no name)"


@dataclass(frozen=True)
class QuestionAgreement:
    question: str
    level: str
    units: int  # items answered by two or more annotators
    annotations: int  # answers on those items
    alpha: float | None
    note: str = ""


@dataclass(frozen=True)
class AnnotatorCount:
    user: str
    preference: int
    thumbs: int
    rating: int
    correction: int

    @property
    def total(self) -> int:
        return self.preference + self.thumbs + self.rating + self.correction


def _rows(database: Database, tenant_id: str, brand_id: str, task: str | None) -> list[Feedback]:
    from sqlmodel import select

    with database.get_session(tenant_id=tenant_id) as session:
        query = select(Feedback).where(Feedback.brand_id == brand_id)
        if task is not None:
            query = query.where(Feedback.task == task)
        rows = list(session.exec(query).all())
        for row in rows:
            session.expunge(row)
        return rows


Level = Literal["nominal", "ordinal"]


def _alpha(question: str, level: Level, answers: dict[object, dict[str, float]]) -> QuestionAgreement:
    """``answers``: unit → annotator → value."""
    import krippendorff
    import numpy as np

    shared = {unit: by for unit, by in answers.items() if len(by) >= 2}
    count = sum(len(by) for by in shared.values())
    if len(shared) < 2:
        return QuestionAgreement(
            question,
            level,
            len(shared),
            count,
            None,
            "needs two or more items answered by two or more people",
        )
    values = {v for by in shared.values() for v in by.values()}
    if len(values) < 2:
        return QuestionAgreement(question, level, len(shared), count, None, "every answer is the same")
    annotators = sorted({a for by in shared.values() for a in by})
    units = list(shared)
    matrix = np.full((len(annotators), len(units)), np.nan)
    for j, unit in enumerate(units):
        for annotator, value in shared[unit].items():
            matrix[annotators.index(annotator), j] = value
    alpha = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))
    return QuestionAgreement(question, level, len(shared), count, alpha)


def agreement_of(rows: Iterable[Feedback]) -> list[QuestionAgreement]:
    """Alpha per question over ``rows`` (see the module docstring for the units)."""
    preference: dict[object, dict[str, float]] = defaultdict(dict)
    thumbs: dict[object, dict[str, float]] = defaultdict(dict)
    rating: dict[object, dict[str, float]] = defaultdict(dict)
    for row in rows:
        who = row.user or ANONYMOUS
        if row.feedback_type == "preference" and row.chosen and row.rejected:
            pair = tuple(sorted((row.chosen, row.rejected)))
            preference[(row.prompt, pair)][who] = float(pair.index(row.chosen))
        if row.response and row.thumbs_up is not None:
            thumbs[(row.prompt, row.response)][who] = 1.0 if row.thumbs_up else 0.0
        if row.response and row.rating is not None:
            rating[(row.prompt, row.response)][who] = float(row.rating)
    return [
        _alpha("preference (which response is better)", "nominal", preference),
        _alpha("thumbs (up or down)", "nominal", thumbs),
        _alpha("rating (1-5 stars)", "ordinal", rating),
    ]


def annotators_of(rows: Iterable[Feedback]) -> list[AnnotatorCount]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[row.user or ANONYMOUS][row.feedback_type] += 1
    return sorted(
        (
            AnnotatorCount(user, c["preference"], c["thumbs"], c["rating"], c["correction"])
            for user, c in counts.items()
        ),
        key=lambda a: (-a.total, a.user),
    )


def agreement(
    database: Database, tenant_id: str, brand_id: str, task: str | None = None
) -> tuple[list[QuestionAgreement], list[AnnotatorCount]]:
    """Agreement per question and answers per annotator for one brand (tenant-scoped read)."""
    rows = _rows(database, tenant_id, brand_id, task)
    return agreement_of(rows), annotators_of(rows)
