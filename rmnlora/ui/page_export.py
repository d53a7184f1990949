"""DPO export: the brand's preference pairs (and corrections) as JSON lines for TRL, to download."""

from __future__ import annotations

import datetime as dt

import streamlit as st
from pydantic import ValidationError

from rmnlora.feedback import export
from rmnlora.schemas.feedback import ExportFilter
from rmnlora.ui import app_state

ALL_TASKS = "All tasks"


def render() -> None:
    tenant_id, brand_id = app_state.require_brand()
    st.title(f"Export training data · {st.session_state.get('rmn_brand_name') or brand_id}")
    st.write(
        "Preference pairs in TRL's DPO format (`prompt`, `chosen`, `rejected`), one JSON object per line."
    )
    task = st.selectbox("Task", [ALL_TASKS, *app_state.TASKS], key="export_task")
    include_corrections = st.checkbox(
        "Include corrections (corrected text preferred to the original)",
        value=True,
        key="export_corrections",
    )
    since: dt.date | None = None
    until: dt.date | None = None
    if st.checkbox("Only a date range", key="export_by_date"):
        today = dt.datetime.now(dt.UTC).date()
        since = st.date_input("From", value=today - dt.timedelta(days=30), key="export_since")
        until = st.date_input("To", value=today, key="export_until")
    try:
        flt = ExportFilter(
            brand_id=brand_id,
            task=None if task == ALL_TASKS else task,
            since=since,
            until=until,
            include_corrections=include_corrections,
        )
    except ValidationError as exc:
        st.error("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
        return
    lines = list(export.iter_dpo_jsonl(app_state.database(), tenant_id, flt))
    st.metric("Pairs in this export", len(lines))
    if not lines:
        st.info("Nothing to export yet for these filters.")
        return
    st.download_button(
        "Download DPO JSONL",
        data="".join(lines).encode("utf-8"),
        file_name=f"dpo-{brand_id}.jsonl",
        mime="application/x-ndjson",
        key="export_download",
    )
    st.caption("First rows:")
    st.code("".join(lines[:3]), language="json")
