"""Home: sign in with the tenant's API key (unless started for one tenant) and choose a brand."""

from __future__ import annotations

import re

import streamlit as st

from rmnlora.feedback import store
from rmnlora.schemas.feedback import ExportFilter
from rmnlora.storage.tenants import tenant_for_api_key
from rmnlora.ui import app_state

_BRAND_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _sign_in() -> None:
    st.write("Sign in with your organisation's API key (ask your admin; it starts with `rmn_`).")
    api_key = st.text_input("API key", type="password", key="home_api_key")
    if st.button("Sign in", key="home_sign_in"):
        with app_state.database().get_session() as session:
            found = tenant_for_api_key(session, api_key.strip())
        if found is None:
            st.error("That API key is not valid.")
        else:
            st.session_state[app_state.TENANT_KEY] = found.id
            st.session_state[app_state.API_KEY] = api_key.strip()  # for the runtime, when it is remote
            st.rerun()


def _add_brand(tenant_id: str) -> None:
    with st.form("add_brand", clear_on_submit=True):
        brand_id = st.text_input("Brand id (lowercase, e.g. acme-cola)")
        name = st.text_input("Brand name")
        if st.form_submit_button("Add brand"):
            if not _BRAND_ID.match(brand_id) or not name.strip():
                st.error("Give a brand id (lowercase letters, digits, '-' or '_') and a name.")
            else:
                try:
                    store.create_brand(app_state.database(), tenant_id, brand_id, name.strip())
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    st.session_state[app_state.BRAND_KEY] = brand_id
                    st.rerun()


def _introduction() -> None:
    st.title("rmnlora")
    plan, teach = st.columns(2)
    with plan:
        st.subheader("Plan a campaign")
        st.write(
            "Upload your retailer exports, fill in the brief, and follow the plan as it is made: "
            "budget allocation, the incrementality test, ad copy per format and the governance "
            "verdict. When a step needs a person, the plan waits for your answer."
        )
    with teach:
        st.subheader("Teach the copywriter")
        st.write(
            "Judge ad copy and plan explanations: choose the better of two, give a thumb or stars, "
            "or write what it should have said. Answers train the brand's next model version when an "
            "improvement runs (Dashboard → Improve the model now, or `rmn improve`); it is served only "
            "if it measures better than the one served now."
        )


def render() -> None:
    _introduction()
    tenant_id = app_state.tenant()
    if tenant_id is None:
        _sign_in()
        return
    st.caption(f"Organisation: **{tenant_id}**")
    brands = store.list_brands(app_state.database(), tenant_id)
    if not brands:
        st.info("Your organisation has no brands yet. Add one to start.")
        _add_brand(tenant_id)
        return
    names = {b.id: b.name for b in brands}
    current = app_state.brand()
    index = list(names).index(current) if current in names else 0
    chosen = st.selectbox("Brand", list(names), index=index, format_func=lambda b: f"{names[b]} ({b})")
    st.session_state[app_state.BRAND_KEY] = chosen
    st.session_state["rmn_brand_name"] = names[chosen]
    name = st.text_input("Your name (optional, saved with your feedback)", value=app_state.user() or "")
    st.session_state[app_state.USER_KEY] = name.strip() or None
    summary = store.stats(app_state.database(), tenant_id, ExportFilter(brand_id=chosen))
    left, right = st.columns(2)
    left.metric("Feedback given for this brand", summary.total)
    right.metric("Training pairs ready", summary.dpo_pairs)
    with st.expander("Add another brand"):
        _add_brand(tenant_id)
    links = st.columns(4)
    links[0].page_link("views/new_plan.py", label="New plan", icon="📝")
    links[1].page_link("views/runs.py", label="Plans", icon="🗂️")
    links[2].page_link("views/creative.py", label="Judge ad copy", icon="✍️")
    links[3].page_link("views/dashboard.py", label="Dashboard", icon="📊")
