"""The review of a paused run: the gate's question and evidence, and approve / reject / edit.

Why a form built from the phase's revision model: an edit may only carry the changes the phase
can apply (``rmnlora.schemas.phases.*Revision``), so the widgets are exactly those fields, with
their bounds, and the answer is validated by the same model before the run resumes.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import annotated_types
import polars as pl
import streamlit as st
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from rmnlora.planner.background import RunView
from rmnlora.planner.phases import spec_of
from rmnlora.planner.state import ReviewAnswer, ReviewRequest, reflections_of, results_of
from rmnlora.schemas.reflection import ReflectionDecision

NOTE_LIMIT = 2000


def _bounds(info: FieldInfo) -> tuple[int | None, int | None]:
    low = high = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = int(item.ge)  # type: ignore[call-overload]
        if isinstance(item, annotated_types.Le):
            high = int(item.le)  # type: ignore[call-overload]
    return low, high


def _inner(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(annotation) if a is not type(None)]
        return others[0] if len(others) == 1 else annotation
    return annotation


def edit_options(view: RunView, phase: str, field: str) -> list[str]:
    """Choices for a list field: the plan's line ids to cap, its formats to rewrite."""
    results = results_of(view.values)
    if field == "cap_at_observed" and results.optimize and results.optimize.allocation:
        return [line.id for line in results.optimize.allocation.lines]
    if field == "regenerate":
        formats = [f"{c.retailer}/{c.ad_format}" for c in results.create.copies] if results.create else []
        return ["all", *dict.fromkeys(formats)]
    return []


def _edit_widget(view: RunView, phase: str, name: str, info: FieldInfo) -> Any:
    """One widget per revision field; blank means no change."""
    kind = _inner(info.annotation)
    label = name.replace("_", " ")
    help_text = info.description or None
    key = f"review_edit_{view.run_id}_{phase}_{name}"
    if typing.get_origin(kind) is Literal:
        options = [None, *typing.get_args(kind)]
        return st.selectbox(
            label,
            options,
            format_func=lambda v: "no change" if v is None else str(v),
            key=key,
            help=help_text,
        )
    if kind is int:
        low, high = _bounds(info)
        return st.number_input(
            label,
            min_value=low,
            max_value=high,
            value=None,
            step=1,
            key=key,
            help=help_text,
            placeholder="no change",
        )
    if typing.get_origin(kind) is list:
        chosen = st.multiselect(label, edit_options(view, phase, name), key=key, help=help_text)
        return chosen or None
    return None


def evidence(verdict: ReflectionDecision) -> None:
    """The numbers the gate decided on: its signals, the confidence factors, the risks."""
    if verdict.risks:
        st.dataframe(
            pl.DataFrame(
                [
                    {
                        "risk": r.factor,
                        "severity": r.severity,
                        "probability": r.probability,
                        "impact": r.impact,
                        "mitigation": r.mitigation,
                        "evidence": ", ".join(f"{k}={_shown(v)}" for k, v in r.triggered_by.items()),
                    }
                    for r in verdict.risks
                ]
            ),
            hide_index=True,
        )
    if verdict.factors:
        st.dataframe(
            pl.DataFrame(
                [
                    {
                        "confidence factor": f.name,
                        "score": round(f.score, 3),
                        "weight": f.weight,
                        "measured": _shown(f.value),
                        "note": f.note,
                    }
                    for f in verdict.factors
                ]
            ),
            hide_index=True,
        )
    shown = {k: v for k, v in verdict.signals.items() if isinstance(v, int | float | str | bool)}
    if shown:
        st.dataframe(
            pl.DataFrame({"signal": list(shown), "value": [_shown(v) for v in shown.values()]}),
            hide_index=True,
        )


def _shown(value: object) -> str:
    """Numbers to four significant digits: 0.0512, not 0.05120196671549625."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def answer_form(view: RunView, request: ReviewRequest) -> ReviewAnswer | None:
    """Render the question and the answer form; the validated answer once submitted, else None."""
    st.subheader(f"Review needed at the {request.phase} gate")
    st.write(request.question)
    if request.rationale:
        st.warning(request.rationale)
    verdicts = [v for v in reflections_of(view.values) if v.phase.value == request.phase]
    if verdicts:
        verdict = verdicts[-1]
        st.caption(
            f"confidence {verdict.confidence:.2f} against a threshold of {verdict.threshold:.2f}, "
            f"after {verdict.revisions_used} of {verdict.max_revisions} automatic revisions"
        )
        evidence(verdict)
    revision: type[BaseModel] = spec_of(request.phase).revision
    actions = ["approve", "reject"] + (["edit"] if revision.model_fields else [])
    with st.form(f"review_{view.run_id}_{request.phase}"):
        action = st.radio(
            "Your answer",
            actions,
            horizontal=True,
            format_func={
                "approve": "Approve: continue the plan",
                "reject": "Reject: stop the plan",
                "edit": "Edit: re-run this step with changes",
            }.get,
        )
        changes: dict[str, Any] = {}
        if revision.model_fields:
            st.caption("Changes for an edit (this step can apply only these):")
            for name, info in revision.model_fields.items():
                value = _edit_widget(view, request.phase, name, info)
                if value is not None:
                    changes[name] = int(value) if isinstance(value, float) else value
        note = st.text_area("Note for the audit trail", max_chars=NOTE_LIMIT)
        if not st.form_submit_button("Send answer"):
            return None
    if action == "edit" and not changes:
        st.error("An edit needs at least one change; approve or reject otherwise.")
        return None
    try:
        revision.model_validate(changes if action == "edit" else {})
    except ValidationError as exc:
        st.error("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        return None
    return ReviewAnswer(action=str(action), note=note.strip(), changes=changes if action == "edit" else {})
