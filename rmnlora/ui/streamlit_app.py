"""The rmnlora app (``rmn app``): the buyer's workspace and the copywriter's feedback pages.

Buyers: New plan (exports and a brief in, a background run out), Plans (the tenant's runs), Plan
(live progress, review of a paused run, the finished plan). Teaching: one page per task,
Dashboard, Export.

Run it with ``streamlit run rmnlora/ui/streamlit_app.py``; every write goes through
:mod:`rmnlora.feedback.store`, the same code as the REST API.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="rmnlora", page_icon="🛒", layout="wide")

navigation = st.navigation(
    {
        "": [st.Page("views/home.py", title="Home", icon="🏠", default=True)],
        "Plan a campaign": [
            st.Page("views/new_plan.py", title="New plan", icon="📝"),
            st.Page("views/runs.py", title="Plans", icon="🗂️"),
            st.Page("views/run.py", title="Plan", icon="📈"),
        ],
        "Teach the copywriter": [
            st.Page("views/creative.py", title="Ad copy", icon="✍️"),
            st.Page("views/plan_explanation.py", title="Plan explanations", icon="🧭"),
            st.Page("views/dashboard.py", title="Dashboard", icon="📊"),
            st.Page("views/export.py", title="Export", icon="📦"),
        ],
    }
)
navigation.run()
