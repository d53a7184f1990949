"""Dashboard: the brand's model (served version, improvement runs), volume over time, ratings per
task, win rates per adapter and annotator agreement, for the chosen brand."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from rmnlora.feedback import store
from rmnlora.schemas.feedback import ExportFilter
from rmnlora.ui import app_state, page_model


def render() -> None:
    tenant_id, brand_id = app_state.require_brand()
    st.title(f"Feedback dashboard · {st.session_state.get('rmn_brand_name') or brand_id}")
    summary = store.stats(app_state.database(), tenant_id, ExportFilter(brand_id=brand_id))
    total, pairs, types = st.columns(3)
    total.metric("Feedback items", summary.total)
    pairs.metric("DPO training pairs", summary.dpo_pairs)
    types.metric("Kinds of feedback", len(summary.by_type))
    page_model.render_model(tenant_id, brand_id)
    if summary.total == 0:
        st.info("No feedback for this brand yet: the charts appear once people start rating.")
        return

    st.subheader("Volume over time")
    by_day = pd.DataFrame([d.model_dump() for d in summary.by_day]).set_index("date")
    st.line_chart(by_day, y="count")

    st.subheader("Ratings per task")
    ratings = pd.DataFrame([r.model_dump() for r in summary.ratings]).set_index("task")
    rated = ratings[ratings["ratings"] > 0]
    if rated.empty:
        st.caption("No star ratings yet.")
    else:
        st.bar_chart(rated, y="mean_rating")
    st.dataframe(ratings)

    st.subheader("Win rate per adapter (preference pairs)")
    if not summary.win_rates:
        st.caption("No model-generated preference pairs yet.")
    else:
        wins = pd.DataFrame([w.model_dump() for w in summary.win_rates]).set_index("adapter")
        st.bar_chart(wins, y="win_rate")
        st.dataframe(wins)

    page_model.render_agreement(tenant_id, brand_id)

    st.subheader("By kind")
    st.dataframe(pd.DataFrame([c.model_dump() for c in summary.by_type]).rename(columns={"key": "kind"}))
