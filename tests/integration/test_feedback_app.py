"""Streamlit app pages driven with streamlit.testing AppTest, writing to a real SQLite database."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select
from streamlit.testing.v1 import AppTest

from rmnlora.adapters.registry import AdapterRegistry
from rmnlora.adapters.service import InferenceService
from rmnlora.adapters.tiny import build_tiny_model
from rmnlora.config import load_settings
from rmnlora.feedback import store as feedback_store
from rmnlora.schemas.feedback import ExportFilter, PreferencePairIn, decode_creative_prompt
from rmnlora.storage import Database, Feedback
from rmnlora.ui import app_state
from rmnlora.ui.generation import GeneratorStatus, runtime_generator
from tests.support.adapter_helpers import make_lora
from tests.support.feedback_support import add_tenant
from tests.support.paths import REPO_ROOT

APP = str(REPO_ROOT / "rmnlora" / "ui" / "streamlit_app.py")
UNAVAILABLE = GeneratorStatus(None, "no model configured in this test")


def _tiny_runtime(database: Database, root: Path) -> GeneratorStatus:
    """The real runtime code path (RmnChatModel → InferenceService) over the tiny model and two LoRAs."""
    registry = AdapterRegistry(database, root / "adapters")

    def build() -> object:
        return build_tiny_model(0)[0]

    registry.register("task", "creative", make_lora(build, root / "task", seed=2, rank=4))
    registry.register(
        "brand", "acme-cola", make_lora(build, root / "brand", seed=3, rank=4), owner_tenant_id="acme"
    )
    model, tokenizer = build_tiny_model(0)
    service = InferenceService(model, tokenizer, registry, max_wait_ms=0, default_max_new_tokens=8)
    settings = load_settings(data_dir=root, model={"max_new_tokens": 8})
    return runtime_generator(settings, "acme", service=service)


def _app(database: Database, generator: GeneratorStatus = UNAVAILABLE, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[app_state.DATABASE_KEY] = database
    at.session_state[app_state.GENERATOR_KEY] = generator
    at.session_state[app_state.TENANT_KEY] = "acme"
    at.session_state[app_state.BRAND_KEY] = "acme-cola"
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _rows(database: Database) -> list[Feedback]:
    with database.get_session() as session:
        return list(session.exec(select(Feedback).order_by(Feedback.id)))


def test_home_signs_in_with_api_key_and_lists_brands(sqlite_db: Database) -> None:
    key = add_tenant(sqlite_db, "acme", ("acme-cola", "acme-chips"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[app_state.DATABASE_KEY] = sqlite_db
    at.run()
    at.text_input(key="home_api_key").set_value("rmn_wrong").run()
    at.button(key="home_sign_in").click().run()
    assert "not valid" in at.error[0].value
    at.text_input(key="home_api_key").set_value(key).run()
    at.button(key="home_sign_in").click().run()
    assert at.session_state[app_state.TENANT_KEY] == "acme"
    assert at.selectbox[0].options == ["Acme-Chips (acme-chips)", "Acme-Cola (acme-cola)"]
    at.selectbox[0].set_value("acme-cola").run()
    assert at.session_state[app_state.BRAND_KEY] == "acme-cola"


def test_home_offers_to_add_a_brand_when_there_is_none(sqlite_db: Database) -> None:
    add_tenant(sqlite_db, "acme", ())
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[app_state.DATABASE_KEY] = sqlite_db
    at.session_state[app_state.TENANT_KEY] = "acme"
    at.run()
    assert "no brands yet" in at.info[0].value
    at.text_input[0].set_value("new-brand")
    at.text_input[1].set_value("New Brand")
    at.button[0].click().run()
    assert [b.id for b in feedback_store.list_brands(sqlite_db, "acme")] == ["new-brand"]


def test_adding_a_brand_id_another_tenant_holds_shows_a_message_not_a_traceback(sqlite_db: Database) -> None:
    add_tenant(sqlite_db, "globex", ("taken-brand",))
    add_tenant(sqlite_db, "acme", ())
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[app_state.DATABASE_KEY] = sqlite_db
    at.session_state[app_state.TENANT_KEY] = "acme"
    at.run()
    at.text_input[0].set_value("taken-brand")
    at.text_input[1].set_value("Mine now")
    at.button[0].click().run()
    assert not at.exception, at.exception  # the page shows the message; no SQL reaches the browser
    assert "brand id 'taken-brand' is already in use; choose another" in at.error[0].value
    assert feedback_store.list_brands(sqlite_db, "acme") == []
    assert [b.id for b in feedback_store.list_brands(sqlite_db, "globex")] == ["taken-brand"]


def test_preference_from_two_real_generations_is_stored_with_adapters(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Ad copy is asked as a brief; both candidates are what the served composition writes for it,
    and the stored prompt is the brief with the agent's exact turns (what ``rmn improve`` trains on)."""
    add_tenant(sqlite_db, "acme", ("acme-cola",))
    at = _app(sqlite_db, _tiny_runtime(sqlite_db, tmp_path), page="views/creative.py")
    at.text_input(key="creative_product").set_value("Acme Cola 12-pack").run()
    at.text_input(key="creative_message").set_value("Ice-cold for game night").run()
    at.button(key="creative_generate").click().run()
    assert not at.exception, at.exception
    a, b = at.text_area(key="creative_a").value, at.text_area(key="creative_b").value
    assert a.startswith("Headline:") and b.startswith("Headline:") and a != b
    source_a, source_b = at.caption[0].value, at.caption[1].value
    assert source_a == source_b and "brand:acme-cola" in source_a and "task:creative" in source_a
    at.radio(key="creative_pick").set_value("B").run()
    at.button(key="creative_save_pair").click().run()
    assert "Preference saved" in at.success[0].value
    at.button(key="creative_save_pair").click().run()  # a double click stores nothing new
    assert "already saved" in at.info[0].value
    [row] = _rows(sqlite_db)
    assert (row.feedback_type, row.chosen, row.rejected) == ("preference", b.strip(), a.strip())
    structured = decode_creative_prompt(row.prompt)
    assert structured is not None
    assert (
        structured.request["product"] == "Acme Cola 12-pack" and structured.request["retailer"] == "walmart"
    )
    assert (
        structured.messages[0]["role"] == "system"
        and "Acme Cola 12-pack" in structured.messages[1]["content"]
    )


def test_without_a_model_the_page_says_so_and_takes_manual_text(sqlite_db: Database) -> None:
    add_tenant(sqlite_db, "acme", ("acme-cola",))
    at = _app(sqlite_db, page="views/plan_explanation.py")
    assert "Model unavailable: no model configured in this test" in at.warning[0].value
    assert all(button.key != "plan_explanation_generate" for button in at.button)
    assert at.text_area(key="plan_explanation_a").value == ""  # nothing invented
    at.text_area(key="plan_explanation_a").set_value("Walmart has the best marginal ROAS.")
    at.text_area(key="plan_explanation_b").set_value("Because the model said so.")
    at.radio(key="plan_explanation_pick").set_value("A")
    at.button(key="plan_explanation_save_pair").click().run()
    [row] = _rows(sqlite_db)
    assert row.task == "plan_explanation" and row.chosen == "Walmart has the best marginal ROAS."
    assert row.adapter is None  # hand-written text is not credited to any adapter


def test_thumbs_stars_and_correction_are_saved(sqlite_db: Database) -> None:
    add_tenant(sqlite_db, "acme", ("acme-cola",))
    at = _app(sqlite_db, page="views/creative.py")
    at.text_area(key="creative_a").set_value("Cola. Buy it.")
    at.feedback(key="creative_thumbs").set_value(0)
    at.feedback(key="creative_stars").set_value(1)
    at.text_area(key="creative_correction").set_value("Ice-cold Acme Cola, ready when you are.")
    at.button(key="creative_save_rating").click().run()
    assert "Feedback saved" in at.success[0].value, [e.value for e in at.error]
    [row] = _rows(sqlite_db)
    assert (row.thumbs_up, row.rating, row.feedback_type) == (False, 2, "correction")
    assert (row.response, row.correction) == ("Cola. Buy it.", "Ice-cold Acme Cola, ready when you are.")


def test_saving_nothing_is_refused_with_a_message(sqlite_db: Database) -> None:
    add_tenant(sqlite_db, "acme", ("acme-cola",))
    at = _app(sqlite_db, page="views/creative.py")
    at.button(key="creative_save_rating").click().run()
    assert "give at least one of thumbs_up, rating or correction" in at.error[0].value
    at.button(key="creative_save_pair").click().run()
    assert "pick A or B" in at.error[0].value
    assert _rows(sqlite_db) == []


def _seed(database: Database) -> None:
    for i, (winner, loser) in enumerate([("v2", "v1"), ("v2", "v1"), ("v1", "v2")]):
        feedback_store.record_preference(
            database,
            "acme",
            PreferencePairIn(
                brand_id="acme-cola",
                task="creative",
                prompt=f"prompt {i}",
                chosen=f"good {i}",
                rejected=f"bad {i}",
                chosen_adapter=winner,
                rejected_adapter=loser,
            ),
        )


def test_dashboard_shows_volume_ratings_and_win_rates(sqlite_db: Database) -> None:
    add_tenant(sqlite_db, "acme", ("acme-cola",))
    empty = _app(sqlite_db, page="views/dashboard.py")
    assert any("No feedback for this brand yet" in info.value for info in empty.info)
    _seed(sqlite_db)
    at = _app(sqlite_db, page="views/dashboard.py")
    assert at.metric[0].value == "3" and at.metric[1].value == "3"
    assert [s.value for s in at.subheader][:4] == [
        "The brand's model",
        "Volume over time",
        "Ratings per task",
        "Win rate per adapter (preference pairs)",
    ]
    wins = next(df.value for df in at.dataframe if "wins" in df.value.columns)
    assert wins.loc["v2", "wins"] == 2 and wins.loc["v1", "wins"] == 1
    assert len(at.get("vega_lite_chart")) >= 2  # volume line + win-rate bars


def test_export_page_offers_the_brand_pairs_for_download(sqlite_db: Database) -> None:
    add_tenant(sqlite_db, "acme", ("acme-cola",))
    _seed(sqlite_db)
    at = _app(sqlite_db, page="views/export.py")
    assert at.metric[0].value == "3"
    assert at.get("download_button")[0].proto.label == "Download DPO JSONL"
    assert '"chosen": "good 0"' in at.code[0].value
    at.selectbox(key="export_task").set_value("plan_explanation").run()
    assert at.metric[0].value == "0"
    expected = feedback_store.stats(sqlite_db, "acme", ExportFilter(brand_id="acme-cola")).dpo_pairs
    assert expected == 3


def test_pages_ask_for_a_brand_first(sqlite_db: Database) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[app_state.DATABASE_KEY] = sqlite_db
    at.session_state[app_state.TENANT_KEY] = "acme"
    at.run()
    at.switch_page("views/export.py").run()
    assert "Choose a brand on the Home page first." in at.info[0].value
