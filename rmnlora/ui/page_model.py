"""The dashboard's model and agreement sections: the brand's served adapter version, what trained it,
how it measured against the version before, a button that starts an improvement run in the
background (with its progress), and how much the annotators agree.

The run itself is :func:`rmnlora.training.improve.execute` (the same as ``rmn improve`` and the
API); the page only starts it on a thread and reads its row back.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pandas as pd
import streamlit as st
from sqlmodel import col, select

from rmnlora.feedback.agreement import agreement
from rmnlora.storage.models import ImprovementRun
from rmnlora.ui import app_state

IMPROVE_CONFIG_KEY = "rmn_improve_config"
IMPROVE_LOADER_KEY = "rmn_improve_loader"
RUN_KEY = "rmn_improve_run"


def _pct(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "–"


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "–"


def _runs(tenant_id: str, brand_id: str, limit: int = 10) -> list[ImprovementRun]:
    with app_state.database().get_session(tenant_id=tenant_id) as session:
        rows = list(
            session.exec(
                select(ImprovementRun)
                .where(ImprovementRun.brand_id == brand_id)
                .order_by(col(ImprovementRun.id).desc())
                .limit(limit)
            ).all()
        )
        for row in rows:
            session.expunge(row)
        return rows


def _run(tenant_id: str, run_id: int) -> ImprovementRun | None:
    with app_state.database().get_session(tenant_id=tenant_id) as session:
        row = session.get(ImprovementRun, run_id)
        if row is not None:
            session.expunge(row)
        return row


def _start(tenant_id: str, brand_id: str) -> None:
    from rmnlora.training.corpus import DEFAULT_CORPUS, load_corpus
    from rmnlora.training.improve import ImproveConfig, ImproveError, execute, prepare

    config = st.session_state.get(IMPROVE_CONFIG_KEY) or ImproveConfig(
        trigger="app", actor=app_state.user() or "app"
    )
    try:
        prepared = prepare(
            app_state.settings(), app_state.database(), tenant_id=tenant_id, brand_id=brand_id, config=config
        )
    except ImproveError as exc:
        st.error(str(exc))
        return
    loader = st.session_state.get(IMPROVE_LOADER_KEY)
    corpus = load_corpus(DEFAULT_CORPUS) if DEFAULT_CORPUS.is_dir() else None

    def work() -> None:
        with contextlib.suppress(ImproveError):  # the run row says failed and why; the page shows it
            execute(prepared, load_base=loader, corpus=corpus)

    threading.Thread(target=work, name=f"improve-{prepared.run_id}", daemon=True).start()
    st.session_state[RUN_KEY] = prepared.run_id


def _served(tenant_id: str, brand_id: str) -> None:
    from rmnlora.adapters.service import adapters_root
    from rmnlora.adapters.versions import AdapterVersions, VersionError

    versions = AdapterVersions(app_state.database(), adapters_root(app_state.settings()))
    try:
        history = versions.history("brand", brand_id, owner_tenant_id=tenant_id)
    except VersionError:
        st.info("This brand has no adapter yet: its copy comes from the task and retailer adapters alone.")
        return
    served = next(v for v in history if v.status == "promoted")
    figures = served.metrics.get("candidate") or {}
    before = served.metrics.get("current") or {}
    st.markdown(
        f"**Serving {served.label}** · parent: "
        f"{f'{served.name}@{served.parent_version}' if served.parent_version else 'none'} · "
        f"trained on feedback #{served.feedback_after or 0}–#{served.feedback_through or 0} "
        f"({served.rows.get('train_pairs', 0)} pairs, {served.rows.get('train_sft', 0)} corrections/likes)"
    )
    if figures:
        st.dataframe(
            pd.DataFrame(
                {
                    "metric": ["preference accuracy", "usable copy", "governance pass", "held-out loss"],
                    "previous version": [
                        _pct(before.get("preference_accuracy")),
                        _pct(before.get("usable_rate")),
                        _pct(before.get("policy_pass_rate")),
                        _num(before.get("heldout_loss")),
                    ],
                    served.label: [
                        _pct(figures.get("preference_accuracy")),
                        _pct(figures.get("usable_rate")),
                        _pct(figures.get("policy_pass_rate")),
                        _num(figures.get("heldout_loss")),
                    ],
                }
            ).set_index("metric")
        )
    else:
        st.caption(f"{served.label} was registered, not trained here: no comparison figures. {served.reason}")
    st.dataframe(
        pd.DataFrame(
            [
                {"version": v.label, "status": v.status, "parent": v.parent_version, "why": v.reason[:160]}
                for v in reversed(history)
            ]
        ),
        hide_index=True,
    )


@st.fragment(run_every=2.0)
def _progress(tenant_id: str) -> None:
    run_id = st.session_state.get(RUN_KEY)
    if run_id is None:
        return
    row = _run(tenant_id, int(run_id))
    if row is None:
        return
    if row.status == "running":
        st.progress(min(max(row.progress, 0.0), 1.0), text=f"Run #{row.id}: {row.stage}")
    else:
        colour = {"promoted": "success", "refused": "warning", "not_enough_feedback": "info"}.get(
            row.status, "error"
        )
        getattr(st, colour)(f"Run #{row.id} {row.status.replace('_', ' ')}: {row.reason}")


def render_model(tenant_id: str, brand_id: str) -> None:
    st.subheader("The brand's model")
    _served(tenant_id, brand_id)
    running = any(r.status == "running" for r in _runs(tenant_id, brand_id, 3))
    if st.button(
        "Improve the model now",
        type="primary",
        disabled=running,
        help="Train on the feedback since the served version; it is served only if it measures better.",
        key="improve_now",
    ):
        _start(tenant_id, brand_id)
    _progress(tenant_id)
    runs = _runs(tenant_id, brand_id)
    if runs:
        st.caption("Improvement runs")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "run": r.id,
                        "status": r.status,
                        "by": r.trigger,
                        "started": r.started_at.strftime("%Y-%m-%d %H:%M"),
                        "why": r.reason[:200],
                    }
                    for r in runs
                ]
            ),
            hide_index=True,
        )


def render_agreement(tenant_id: str, brand_id: str) -> None:
    st.subheader("Annotator agreement")
    questions, annotators = agreement(app_state.database(), tenant_id, brand_id)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "question": q.question,
                    "Krippendorff's alpha": "–" if q.alpha is None else f"{q.alpha:.2f}",
                    "items with 2+ answers": q.units,
                    "answers on them": q.annotations,
                    "note": q.note,
                }
                for q in questions
            ]
        ),
        hide_index=True,
    )
    st.caption("Alpha 1 is full agreement, 0 is chance; below about 0.67 the answers teach noise.")
    if annotators:
        st.caption("Answers per annotator")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "annotator": a.user,
                        "preferences": a.preference,
                        "thumbs": a.thumbs,
                        "ratings": a.rating,
                        "corrections": a.correction,
                        "total": a.total,
                    }
                    for a in annotators
                ]
            ),
            hide_index=True,
        )
