"""What every page of the Streamlit app needs: the database, the tenant, the brand, the generator.

Each comes from ``st.session_state`` when a test (or an embedding app) put it there, else from
the configuration (``RMN_CONFIG``), opened once per server process. The tenant comes from a
signed-in API key, or from ``RMN_FEEDBACK_TENANT`` when ``rmn app --tenant`` started it.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import TYPE_CHECKING, Any, NoReturn

import streamlit as st

from rmnlora.config import Settings, load_settings
from rmnlora.storage.database import Database
from rmnlora.ui.generation import GeneratorStatus, runtime_generator

if TYPE_CHECKING:
    from rmnlora.planner.background import PlanRunner

DATABASE_KEY = "rmn_database"
GENERATOR_KEY = "rmn_generator"
TENANT_KEY = "rmn_tenant"
BRAND_KEY = "rmn_brand"
USER_KEY = "rmn_user"
API_KEY = "rmn_api_key"
TENANT_ENV = "RMN_FEEDBACK_TENANT"

TASKS: dict[str, str] = {"creative": "Ad copy", "plan_explanation": "Plan explanations"}


@st.cache_resource
def _settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner="Opening the database…")
def _configured_database() -> Database:
    from rmnlora.storage import open_db

    return open_db(_settings())


@st.cache_resource(show_spinner="Loading the model (once per server)…")
def _inference_service() -> tuple[Any, str]:
    """The in-process runtime service, or None and why it could not start (cached either way)."""
    from rmnlora.adapters.service import InferenceService

    try:
        return InferenceService.from_settings(_settings(), _configured_database()), ""
    except Exception as exc:  # shown on the page; hand-written A/B still works
        return None, f"the model could not be loaded: {exc}"


SETTINGS_KEY = "rmn_settings"
RUNNER_KEY = "rmn_runner"
RUN_KEY = "rmn_run"  # the run the Plan page shows (also ?run=ID in the URL)


@st.cache_resource(show_spinner="Starting the planner…")
def _configured_runner() -> PlanRunner:
    from rmnlora.planner.background import PlanRunner

    return PlanRunner(_settings())


def runner() -> PlanRunner:
    """The process's planner runner (background threads over the checkpoint store), or a test's."""
    injected = st.session_state.get(RUNNER_KEY)
    return injected if injected is not None else _configured_runner()


def open_run(run_id: str) -> None:
    """Show ``run_id`` on the Plan page (called after starting or choosing a run)."""
    st.session_state[RUN_KEY] = run_id
    st.switch_page("views/run.py", query_params={"run": run_id})  # a link the buyer can keep


def settings() -> Settings:
    """The settings a test injected, else the configuration's."""
    injected = st.session_state.get(SETTINGS_KEY)
    return injected if injected is not None else _settings()


def database() -> Database:
    injected = st.session_state.get(DATABASE_KEY)
    return injected if injected is not None else _configured_database()


def generator() -> GeneratorStatus:
    """Two-response generator for this tenant: the runtime at ``runtime.url``, else in-process."""
    injected = st.session_state.get(GENERATOR_KEY)
    if injected is not None:
        return injected  # type: ignore[no-any-return]
    tenant_id, settings = tenant(), _settings()
    if tenant_id is None:
        return GeneratorStatus(None, "not signed in")
    if not settings.model.enabled:
        return GeneratorStatus(None, "the model is disabled in the configuration (model.enabled: false)")
    if settings.runtime.url:
        return runtime_generator(settings, tenant_id, api_key=st.session_state.get(API_KEY))
    service, problem = _inference_service()
    if service is None:
        return GeneratorStatus(None, problem)
    return runtime_generator(settings, tenant_id, service=service)


def tenant() -> str | None:
    chosen = st.session_state.get(TENANT_KEY) or os.environ.get(TENANT_ENV)
    return str(chosen) if chosen else None


def brand() -> str | None:
    chosen = st.session_state.get(BRAND_KEY)
    return str(chosen) if chosen else None


def user() -> str | None:
    chosen = st.session_state.get(USER_KEY)
    return str(chosen) if chosen else None


def stop_with(message: str) -> NoReturn:
    st.info(message)
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises; this keeps type checkers honest


def require_tenant() -> str:
    """The signed-in tenant, or a pointer to the Home page."""
    tenant_id = tenant()
    if tenant_id is None:
        stop_with("Sign in on the Home page first.")
    return tenant_id


def require_brand() -> tuple[str, str]:
    """(tenant, brand) or a pointer to the Home page."""
    tenant_id, brand_id = tenant(), brand()
    if tenant_id is None:
        stop_with("Sign in on the Home page first.")
    if brand_id is None:
        from rmnlora.feedback import store

        brands = store.list_brands(database(), tenant_id)
        if len(brands) != 1:
            stop_with("Choose a brand on the Home page first.")
        brand_id = st.session_state[BRAND_KEY] = brands[0].id  # the only one: nothing to choose
        st.session_state.setdefault("rmn_brand_name", brands[0].name)
    return tenant_id, brand_id


def submission_key(*parts: Any) -> str:
    """Same submission twice in one browser session → same idempotency key → one stored row."""
    session = st.session_state.setdefault("rmn_session_id", uuid.uuid4().hex)
    digest = hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f"app:{session}:{digest}"
