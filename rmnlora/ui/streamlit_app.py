"""The RLHF feedback app (``rmn feedback-app``): Home, one page per task, Dashboard, Export.

Run it with ``streamlit run rmnlora/ui/streamlit_app.py``; every write goes through
:mod:`rmnlora.feedback.store`, the same code as the REST API.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="rmnlora · feedback", page_icon="🛒", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("pages/creative.py", title="Ad copy", icon="✍️"),
        st.Page("pages/plan_explanation.py", title="Plan explanations", icon="🧭"),
        st.Page("pages/dashboard.py", title="Dashboard", icon="📊"),
        st.Page("pages/export.py", title="Export", icon="📦"),
    ]
)
navigation.run()
