"""The dashboard's model section and agreement view, driven with AppTest over a real SQLite database:
the served version, the improvement button (a real run in the background, with its progress), and
Krippendorff's alpha per question with answers per annotator."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.service import adapters_root
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.config import load_settings
from rmnlora.feedback.store import record_feedback, record_preference
from rmnlora.schemas.feedback import FeedbackIn, PreferencePairIn
from rmnlora.storage import Database
from rmnlora.storage.models import ImprovementRun
from rmnlora.training.improve import ImproveConfig
from rmnlora.ui import app_state, page_model
from tests.support.adapter_helpers import make_lora
from tests.support.annotators import answers
from tests.support.feedback_support import add_tenant
from tests.support.paths import REPO_ROOT

APP = str(REPO_ROOT / "rmnlora" / "ui" / "streamlit_app.py")
BRAND = "acme-snacks"


def _dashboard(database: Database, root: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[app_state.DATABASE_KEY] = database
    at.session_state[app_state.SETTINGS_KEY] = load_settings(data_dir=root, model={"enabled": False})
    at.session_state[app_state.TENANT_KEY] = "acme"
    at.session_state[app_state.BRAND_KEY] = BRAND
    at.session_state[page_model.IMPROVE_CONFIG_KEY] = ImproveConfig(
        min_pairs=8, max_steps=3, learning_rate=1e-3, max_generations=1, trigger="app"
    )
    at.session_state[page_model.IMPROVE_LOADER_KEY] = lambda: build_tiny_model(0)
    at.run()
    at.switch_page("views/dashboard.py").run()
    assert not at.exception, at.exception
    return at


def _seed(database: Database, root: Path) -> None:
    add_tenant(database, "acme", (BRAND,))
    settings = load_settings(data_dir=root)
    registry = AdapterRegistry(database, adapters_root(settings))
    registry.register(
        "brand",
        BRAND,
        make_lora(lambda: build_tiny_model(0)[0], root / "v1", seed=1, rank=4),
        owner_tenant_id="acme",
    )
    for item in answers(0, 24, brand=BRAND):
        record_preference(database, "acme", PreferencePairIn(**item))
    # the same six items answered again by a second annotator, who disagrees on two of them
    for index, item in enumerate(answers(0, 6, brand=BRAND, swapped=False)):
        if index < 2:
            item["chosen"], item["rejected"] = item["rejected"], item["chosen"]
        record_preference(database, "acme", PreferencePairIn(**{**item, "user": "second-annotator"}))
    for user, up in (("ann", True), ("bob", True), ("ann", False), ("bob", True)):
        record_feedback(
            database,
            "acme",
            FeedbackIn(
                brand_id=BRAND,
                task="creative",
                prompt=f"p-{user}-{up}"[:3],
                response="Acme Crunch",
                thumbs_up=up,
                user=user,
            ),
        )


def test_the_dashboard_shows_the_served_version_and_annotator_agreement(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _seed(sqlite_db, tmp_path)
    at = _dashboard(sqlite_db, tmp_path)
    text = " ".join(m.value for m in at.markdown)
    assert f"Serving {BRAND}@1" in text
    frames = [df.value for df in at.dataframe]
    agreement = next(f for f in frames if "Krippendorff's alpha" in f.columns)
    preference = agreement[agreement["question"].str.startswith("preference")].iloc[0]
    assert preference["items with 2+ answers"] == 6 and preference["Krippendorff's alpha"] != "–"
    assert float(preference["Krippendorff's alpha"]) < 1.0  # the second annotator disagreed twice
    annotators = next(f for f in frames if "annotator" in f.columns)
    assert set(annotators["annotator"]) >= {"second-annotator", "ann", "bob"}


def test_the_improve_button_starts_a_background_run_and_shows_how_it_ended(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _seed(sqlite_db, tmp_path)
    at = _dashboard(sqlite_db, tmp_path)
    at.button(key="improve_now").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state[page_model.RUN_KEY]
    deadline = time.monotonic() + 600
    while True:
        with sqlite_db.get_session(tenant_id="acme") as session:
            row = session.get(ImprovementRun, run_id)
            assert row is not None
            status, trigger = row.status, row.trigger
        if status != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(1)
    assert trigger == "app" and status in {"promoted", "refused"}
    at.run()
    shown = [m.value for m in (*at.success, *at.warning)]
    assert any(f"Run #{run_id} {status}" in m for m in shown), shown
    runs = next(df.value for df in at.dataframe if "run" in df.value.columns)
    assert runs.iloc[0]["status"] == status and runs.iloc[0]["by"] == "app"
