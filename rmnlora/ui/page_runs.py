"""Plans: the signed-in tenant's planner runs, newest first, with filters and a link to each.

Only the tenant's runs are read (the query is scoped to the tenant and filtered by it); the
status is the run's live one (a paused run says so, a run whose process died says interrupted).
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from rmnlora.planner.background import RunError
from rmnlora.ui import app_state

LINKS_SHOWN = 50
_ICONS = {"running": "⏳", "awaiting_review": "🙋", "completed": "✅", "blocked": "⛔", "interrupted": "⏸️"}
STATUSES = ["running", "awaiting_review", "completed", "blocked", "interrupted", "failed"]


def _rows(tenant_id: str) -> list[dict[str, object]]:
    runner = app_state.runner()
    rows = []
    for run in runner.runs(tenant_id):
        status: str
        try:
            status = runner.status(run.id, tenant_id=tenant_id)
        except RunError:  # a row without a checkpoint (e.g. the checkpoint store was reset)
            status = run.status
        rows.append(
            {
                "open": f"run?run={run.id}",
                "run": run.id,
                "brief": run.brief_name,
                "brand": (run.brief or {}).get("brand", ""),
                "status": status,
                "started": run.started_at.replace(microsecond=0),
                "finished": run.finished_at.replace(microsecond=0) if run.finished_at else None,
            }
        )
    return rows


def render() -> None:
    tenant_id = app_state.require_tenant()
    st.title("Plans")
    st.caption(f"Organisation: **{tenant_id}**")
    rows = _rows(tenant_id)
    if not rows:
        st.info("No plans yet.")
        st.page_link("views/new_plan.py", label="Start a new plan", icon="📝")
        return
    left, right = st.columns([2, 1])
    search = left.text_input("Brief name contains", max_chars=200, key="runs_search")
    statuses = right.multiselect("Status", STATUSES, key="runs_status")
    table = pl.DataFrame(rows)
    if search.strip():
        table = table.filter(pl.col("brief").str.contains(search.strip(), literal=True))
    if statuses:
        table = table.filter(pl.col("status").is_in(statuses))
    st.dataframe(
        table,
        hide_index=True,
        column_config={"open": st.column_config.LinkColumn("open", display_text="open")},
    )
    st.caption(f"{table.height} of {len(rows)} plans")
    st.caption("Open a plan:")
    for row in table.head(LINKS_SHOWN).iter_rows(named=True):
        st.page_link(
            "views/run.py",
            label=f"{row['brief']} · {row['status'].replace('_', ' ')} · {row['run']}",
            icon=_ICONS.get(row["status"], "📈"),
            query_params={"run": row["run"]},
        )
    if table.height > LINKS_SHOWN:
        st.caption(f"…and {table.height - LINKS_SHOWN} more: narrow the filters to see them.")
