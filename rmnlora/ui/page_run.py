"""Plan: one run, live while it plans, a review form when it pauses, the plan when it ends.

The run lives in a background thread (``PlanRunner``) and in the checkpoint store, never in
this script: the progress panel is a fragment that re-reads the run's progress log every few
seconds while it runs, and the whole page re-renders once the run stops.
"""

from __future__ import annotations

import streamlit as st

from rmnlora.planner.background import RunError, RunView
from rmnlora.planner.progress import ProgressEvent
from rmnlora.ui import app_state, review_form

POLL_SECONDS = 1.5
_ICONS = {"proceed": "✅", "revise": "🔁", "escalate": "🙋", "block": "⛔"}
_STATUS = {
    "running": "⏳ planning",
    "awaiting_review": "🙋 waiting for your review",
    "completed": "✅ completed",
    "blocked": "⛔ blocked",
    "interrupted": "⏸️ interrupted (its process ended before the plan did)",
    "failed": "❌ failed",
}


def _event_line(event: ProgressEvent) -> None:
    at = f"{event.at:%H:%M:%S}"
    took = f" · {event.seconds:.1f} s" if event.seconds is not None else ""
    verdict = event.reflection
    if verdict is not None:
        icon = _ICONS.get(verdict.decision, "•")
        with st.expander(
            f"{icon} {verdict.phase.value} gate: **{verdict.decision}**, confidence {verdict.confidence:.2f} "
            f"(threshold {verdict.threshold:.2f}){took}"
        ):
            if verdict.rationale:
                st.write(verdict.rationale)
            review_form.evidence(verdict)
        return
    if event.interrupt is not None:
        st.markdown(f"`{at}` 🙋 paused for review at **{event.interrupt.phase}**")
    elif event.review is not None:
        review = event.review
        note = f": {review.get('note')}" if review.get("note") else ""
        st.markdown(f"`{at}` 🧑 reviewer **{review.get('action')}** at {review.get('phase')}{note}")
    elif event.note:
        st.markdown(f"`{at}` · {event.node}: {event.note}")
    else:
        st.markdown(f"`{at}` ✓ **{event.node}**{took}")


def _progress(run_id: str, tenant_id: str, was_running: bool) -> None:
    @st.fragment(run_every=POLL_SECONDS if was_running else None)
    def panel() -> None:
        try:
            view = app_state.runner().view(run_id, tenant_id=tenant_id)
        except RunError as exc:
            st.error(str(exc))
            return
        if was_running and view.status != "running":
            st.rerun()  # the run stopped: re-render the whole page (review form or plan)
        with st.container(border=True):
            st.caption("Progress")
            for event in view.events:
                _event_line(event)
            if view.status == "running":
                st.caption("…planning (this panel refreshes by itself)")

    panel()


def _resume_controls(view: RunView, tenant_id: str) -> None:
    if view.error:
        st.error(f"The run stopped with an error: {view.error}")
    st.info(
        f"This run stopped at {', '.join(view.next_nodes) or 'a step'} before the plan was finished. "
        "Resuming continues from its last checkpoint; steps already done are not repeated or "
        f"written twice. From a terminal: `rmn plan --resume {view.run_id}`"
    )
    if st.button("Resume the run", type="primary", key=f"resume_{view.run_id}"):
        try:
            app_state.runner().resume(view.run_id, tenant_id=tenant_id)
        except RunError as exc:
            st.error(str(exc))
        else:
            st.rerun()


def _review(view: RunView, tenant_id: str) -> None:
    assert view.review is not None
    answer = review_form.answer_form(view, view.review)
    st.caption(f"From a terminal: `rmn plan --resume {view.run_id} --approve|--reject --note TEXT`")
    if answer is None:
        return
    try:
        app_state.runner().resume(view.run_id, tenant_id=tenant_id, answer=answer)
    except RunError as exc:
        st.error(str(exc))
    else:
        st.rerun()


def render() -> None:
    tenant_id = app_state.require_tenant()
    run_id = st.query_params.get("run") or st.session_state.get(app_state.RUN_KEY)
    if not run_id:
        app_state.stop_with("Choose a plan on the Plans page, or start one on New plan.")
    st.session_state[app_state.RUN_KEY] = run_id
    if st.query_params.get("run") != run_id:
        st.query_params["run"] = str(run_id)  # the address bar holds a link to this plan
    try:
        view = app_state.runner().view(str(run_id), tenant_id=tenant_id)
    except RunError as exc:
        st.error(str(exc))
        st.page_link("views/runs.py", label="All plans", icon="🗂️")
        return
    brief = view.values.get("brief") or {}
    st.title(brief.get("name") or view.run_id)
    st.caption(f"run `{view.run_id}` · brand {brief.get('brand', '?')} · {_STATUS[view.status]}")
    _progress(view.run_id, tenant_id, view.status == "running")
    if view.status == "awaiting_review":
        _review(view, tenant_id)
    elif view.status in ("interrupted", "failed"):
        _resume_controls(view, tenant_id)
    elif view.status in ("completed", "blocked"):
        from rmnlora.ui.plan_view import render_plan

        render_plan(view, tenant_id=tenant_id, brand_id=app_state.brand() or brief.get("brand"))
