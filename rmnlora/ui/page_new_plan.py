"""New plan: the tenant's exports, a brief (form or YAML), reviewed mappings, and a background run.

1. Exports are uploaded into the tenant's folder (:mod:`rmnlora.ui.uploads`) or picked from it.
2. The brief is filled in (every field checked by :class:`CampaignBrief`, each message under its
   field) or uploaded as YAML (the CLI's rules; its files are names of stored exports).
3. A retailer with no shipped mapping gets the proposer's mapping to review and accept.
4. "Start plan" hands the brief to the app's :class:`PlanRunner` and opens the run's page.

Tenant and brand are never typed here: the signed-in tenant, the brand chosen on Home.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import streamlit as st

from rmnlora.agents.harmonizer.mapping import MappingError
from rmnlora.planner.background import RunError
from rmnlora.schemas.brief import MAX_FILES_PER_RETAILER, BriefError, CampaignBrief, RetailerPlan
from rmnlora.ui import app_state, uploads
from rmnlora.ui import brief_form as bf
from rmnlora.ui.brief_form import key, retailer_key
from rmnlora.yaml_input import MAX_YAML_BYTES

CHECKED_KEY = "np_checked"  # (CampaignBrief, where it came from): what "Start plan" would start
FORM_ERRORS_KEY = "np_form_errors"
FORM_SAVED_KEY = "np_form_saved"  # the last submitted form values, restored when the page returns
YAML_ERROR_KEY = "np_yaml_error"
UPLOADED_KEY = "np_uploaded"  # uploader file id → (level, message): each file is stored once
PROPOSALS_KEY = "np_proposals"  # (retailer, first export) → (mapping YAML, problem)
MAX_FILES_PER_UPLOAD = 20
MAX_MONEY = 1e12
MAX_NAME_CHARS = 120
FLIGHT_BOUNDS = (dt.date(2000, 1, 1), dt.date(2100, 12, 31))
MAX_SELECTED_FILES = min(MAX_FILES_PER_RETAILER, 50)


# --- 1. exports -------------------------------------------------------------------------------------


def _store(tenant_id: str, data_dir: Path, upload: Any) -> tuple[str, str]:
    try:
        saved = uploads.save_upload(data_dir, tenant_id, upload.name, upload, size=upload.size)
    except uploads.UploadError as exc:
        return "error", f"Not stored: {exc}"
    except OSError as exc:
        return "error", f"Not stored: {upload.name} could not be written ({exc.strerror or exc})"
    if saved.duplicate:
        return "info", f"{upload.name}: the same file is already stored as {saved.export.name}."
    renamed = "" if saved.export.name == upload.name else f" as {saved.export.name}"
    return "success", f"Stored {upload.name}{renamed}."


def _exports(tenant_id: str, data_dir: Path) -> list[uploads.StoredExport]:
    st.subheader("1. Retailer exports")
    limit = uploads.MAX_UPLOAD_BYTES // uploads.MB
    files = st.file_uploader(
        "Upload exports (CSV, Parquet, JSON lines, Excel)",
        type=[suffix.lstrip(".") for suffix in uploads.EXPORT_SUFFIXES],
        accept_multiple_files=True,
        key="np_upload",
        help=f"Up to {limit} MB per file and {MAX_FILES_PER_UPLOAD} files at a time. They are kept for your "
        "organisation only; the same file uploaded twice is stored once.",
    )
    done: dict[str, tuple[str, str]] = st.session_state.setdefault(UPLOADED_KEY, {})
    for upload in (files or [])[:MAX_FILES_PER_UPLOAD]:
        if upload.file_id not in done:
            done[upload.file_id] = _store(tenant_id, data_dir, upload)
        level, message = done[upload.file_id]
        {"error": st.error, "info": st.info}.get(level, st.success)(message)
    if files and len(files) > MAX_FILES_PER_UPLOAD:
        st.warning(f"Only the first {MAX_FILES_PER_UPLOAD} files were stored; upload the rest next.")
    stored = uploads.list_exports(data_dir, tenant_id)
    if not stored:
        st.info("Your organisation has no stored exports yet: upload each retailer's report above.")
        return stored
    st.caption("Your stored exports (pick them per retailer in the brief):")
    st.dataframe(
        [
            {
                "file": item.name,
                "size (MB)": round(item.size / uploads.MB, 2),
                "uploaded at (UTC)": item.uploaded_at.strftime("%Y-%m-%d %H:%M"),
            }
            for item in stored
        ],
        hide_index=True,
    )
    return stored


# --- 2a. the form -----------------------------------------------------------------------------------


def _under(where: Any, errors: dict[str, list[str]], widget: str) -> None:
    """The messages of ``widget``'s last check, right under it."""
    for message in errors.get(widget, []):
        where.error(message)


def _seed(defaults: dict[str, Any]) -> None:
    """Start values for the form's widgets: the last submitted ones, else the defaults."""
    saved: dict[str, Any] = st.session_state.get(FORM_SAVED_KEY) or {}
    for widget, value in defaults.items():
        if widget not in st.session_state:
            st.session_state[widget] = saved.get(widget, value)


def _form_defaults(count: int, stored: list[str]) -> dict[str, Any]:
    start = dt.date.today() + dt.timedelta(days=7)
    defaults: dict[str, Any] = {
        key("name"): "",
        key("currency"): "USD",
        key("objective"): bf.OBJECTIVES[0],
        key("flight_start"): start,
        key("flight_end"): start + dt.timedelta(days=27),
        key("product"): "",
        key("key_message"): "",
        key("tone"): "friendly",
        key("claims"): "",
        key("candidates"): 3,
        key("design"): bf.DESIGNS[0],
        key("expected_lift"): 0.05,
        key("alpha"): 0.05,
        key("power"): 0.8,
        key("budget"): None,
        key("roas_floor"): None,
    }
    known = bf.known_retailers()
    for index in range(count):
        defaults |= {
            retailer_key(index, "choice"): known[index] if index < len(known) else bf.OTHER,
            retailer_key(index, "custom"): "",
            retailer_key(index, "data"): [],
            retailer_key(index, "min_spend"): 0.0,
            retailer_key(index, "max_spend"): None,
            retailer_key(index, "max_share"): None,
            retailer_key(index, "current_spend"): None,
            retailer_key(index, "must_spend"): False,
            retailer_key(index, "formats"): [],
        }
        picked = st.session_state.get(retailer_key(index, "data"))
        if isinstance(picked, list) and any(name not in stored for name in picked):  # gone since picked
            st.session_state[retailer_key(index, "data")] = [name for name in picked if name in stored]
    return defaults


def _money(where: Any, title: str, widget: str, errors: dict[str, list[str]], **extra: Any) -> None:
    where.number_input(title, min_value=0.0, max_value=MAX_MONEY, step=1000.0, key=widget, **extra)
    _under(where, errors, widget)


def _retailer_block(index: int, stored: list[str], errors: dict[str, list[str]]) -> None:
    st.markdown(f"**Retailer {index + 1}**")
    left, right = st.columns(2)
    left.selectbox("Retailer", [*bf.known_retailers(), bf.OTHER], key=retailer_key(index, "choice"))
    right.text_input("Custom retailer name (when Other…)", max_chars=64, key=retailer_key(index, "custom"))
    _under(right, errors, retailer_key(index, "name"))
    st.multiselect(
        "Data files (stored exports)",
        stored,
        max_selections=MAX_SELECTED_FILES,
        key=retailer_key(index, "data"),
        placeholder="Choose this retailer's exports",
    )
    _under(st, errors, retailer_key(index, "data"))
    columns = st.columns(4)
    _money(columns[0], "Min spend", retailer_key(index, "min_spend"), errors)
    _money(columns[1], "Max spend (optional)", retailer_key(index, "max_spend"), errors, value=None)
    columns[2].number_input(
        "Max share of budget (optional)",
        min_value=0.0,
        max_value=1.0,
        step=0.05,
        value=None,
        key=retailer_key(index, "max_share"),
    )
    _under(columns[2], errors, retailer_key(index, "max_share"))
    _money(columns[3], "Current spend (optional)", retailer_key(index, "current_spend"), errors, value=None)
    left, right = st.columns([3, 1])
    offered = ", ".join(f"{name}: {', '.join(formats)}" for name, formats in bf.known_formats().items())
    left.multiselect(
        "Ad formats to write copy for", bf.all_formats(), key=retailer_key(index, "formats"), help=offered
    )
    _under(left, errors, retailer_key(index, "formats"))
    right.checkbox("Must spend", key=retailer_key(index, "must_spend"))


def _form(tenant_id: str, brand_id: str, stored: list[uploads.StoredExport]) -> None:
    names = [item.name for item in stored]
    errors: dict[str, list[str]] = st.session_state.get(FORM_ERRORS_KEY) or {}
    _seed({key("retailer_count"): 1})
    count = int(
        st.number_input(
            "Number of retailers",
            min_value=1,
            max_value=bf.MAX_RETAILER_BLOCKS,
            step=1,
            key=key("retailer_count"),
        )
    )
    defaults = _form_defaults(count, names)
    _seed(defaults)
    if errors:
        st.error(
            "The brief is not valid yet:\n\n"
            + "\n".join(f"- {line}" for line in bf.FormCheck(None, errors).summary)
        )
    with st.form("np_brief_form"):
        left, right = st.columns(2)
        left.text_input("Campaign name", max_chars=MAX_NAME_CHARS, key=key("name"))
        _under(left, errors, key("name"))
        right.selectbox(
            "Objective", bf.OBJECTIVES, key=key("objective"), format_func=lambda o: o.replace("_", " ")
        )
        _under(right, errors, key("objective"))
        _money(left, "Budget", key("budget"), errors, value=None)
        right.text_input("Currency", max_chars=3, key=key("currency"))
        _under(right, errors, key("currency"))
        low, high = FLIGHT_BOUNDS
        left.date_input("Flight start", min_value=low, max_value=high, key=key("flight_start"))
        _under(left, errors, key("flight_start"))
        right.date_input("Flight end", min_value=low, max_value=high, key=key("flight_end"))
        _under(right, errors, key("flight_end"))

        st.markdown("##### Retailers")
        _under(st, errors, key("retailers"))
        for index in range(count):
            _retailer_block(index, names, errors)

        st.markdown("##### Constraints")
        st.number_input(
            "ROAS floor (optional, attributed sales per unit spent)",
            min_value=0.0,
            max_value=1000.0,
            step=0.1,
            value=None,
            key=key("roas_floor"),
        )
        _under(st, errors, key("roas_floor"))

        st.markdown("##### Creative")
        left, right = st.columns(2)
        left.text_input("Product", max_chars=200, key=key("product"))
        _under(left, errors, key("product"))
        right.text_input("Key message", max_chars=300, key=key("key_message"))
        _under(right, errors, key("key_message"))
        left.text_input("Tone", max_chars=40, key=key("tone"))
        _under(left, errors, key("tone"))
        right.number_input(
            "Copy candidates per format", min_value=1, max_value=10, step=1, key=key("candidates")
        )
        _under(right, errors, key("candidates"))
        st.text_area("Claims the brand makes (one per line)", max_chars=4000, key=key("claims"))
        _under(st, errors, key("claims"))

        st.markdown("##### Measurement")
        columns = st.columns(4)
        columns[0].selectbox("Design", bf.DESIGNS, key=key("design"))
        _under(columns[0], errors, key("design"))
        for column, (name, title, top, step) in zip(
            columns[1:],
            (
                ("expected_lift", "Expected lift", 1.0, 0.01),
                ("alpha", "Significance level (alpha)", 0.5, 0.01),
                ("power", "Power", 1.0, 0.05),
            ),
            strict=True,
        ):
            column.number_input(title, min_value=0.0, max_value=top, step=step, key=key(name))
            _under(column, errors, key(name))
        submitted = st.form_submit_button("Check the brief", type="primary", key="np_check_form")
    if submitted:
        values = st.session_state.to_dict()
        saved = st.session_state.get(FORM_SAVED_KEY) or {}
        st.session_state[FORM_SAVED_KEY] = saved | {
            k: values[k] for k in [key("retailer_count"), *defaults] if k in values
        }
        result = bf.check_form(values, count, tenant=tenant_id, brand=brand_id, stored=_by_name(stored))
        st.session_state[FORM_ERRORS_KEY] = result.errors
        if result.brief is not None:
            _set_checked(result.brief, "the form")
        else:
            st.session_state.pop(CHECKED_KEY, None)
        st.rerun()


def _by_name(stored: list[uploads.StoredExport]) -> dict[str, Path]:
    return {item.name: item.path for item in stored}


# --- 2b. a brief YAML --------------------------------------------------------------------------------


def _yaml(tenant_id: str, brand_id: str, data_dir: Path, stored: list[uploads.StoredExport]) -> None:
    st.write(
        "A brief as `rmn plan` reads it (see `examples/brief.yaml`). Its `data:` entries name your stored "
        "exports by file name; `tenant` and `brand` may be left out (yours are used) and must be yours."
    )
    upload = st.file_uploader("Brief YAML", type=["yaml", "yml"], key="np_brief_file")
    pasted = st.text_area("…or paste it here", height=240, max_chars=MAX_YAML_BYTES, key="np_brief_text")
    if st.button("Check the YAML brief", key="np_check_yaml"):
        st.session_state[YAML_ERROR_KEY] = ""
        try:
            if upload is not None and upload.size > MAX_YAML_BYTES:
                raise BriefError(
                    f"brief file {upload.name} is {upload.size:,} bytes; the limit is {MAX_YAML_BYTES:,}"
                )
            raw, source = (
                (upload.getvalue(), upload.name) if upload is not None else (pasted.encode(), "(pasted)")
            )
            brief = bf.brief_from_yaml(
                raw,
                source,
                tenant=tenant_id,
                brand=brand_id,
                exports=_by_name(stored),
                mappings=uploads.stored_mappings(data_dir, tenant_id),
            )
        except BriefError as exc:
            st.session_state[YAML_ERROR_KEY] = str(exc)
            st.session_state.pop(CHECKED_KEY, None)
        else:
            _set_checked(brief, f"the YAML brief {source}")
    if problem := st.session_state.get(YAML_ERROR_KEY):
        st.error(f"Not accepted: {problem}")


# --- 3. mappings and start ---------------------------------------------------------------------------


def _set_checked(brief: CampaignBrief, source: str) -> None:
    st.session_state[CHECKED_KEY] = (brief, source)
    for stale in [k for k in st.session_state if str(k).startswith(("np_map_text_", "np_map_note_"))]:
        del st.session_state[stale]  # a new brief: mapping editors start from what is saved or proposed


def _template(retailer: str, path: Path) -> str:
    fmt = {".parquet": "parquet", ".xlsx": "xlsx", ".jsonl": "ndjson", ".ndjson": "ndjson", ".json": "ndjson"}
    return (
        f"retailer: {retailer}\nformat: {fmt.get(path.suffix.lower(), 'csv')}\ncolumns:\n"
        "  # Source column: RMIS field. Required: event_date, campaign_id, spend, and gtin14\n"
        "  # (a product id column; id_type says which kind; id_type: none for a report without one).\n"
        "  Date: event_date\ndate_format: '%Y-%m-%d'\ncurrency: USD\n"
    )


def _proposal(retailer: RetailerPlan) -> tuple[str, str]:
    """The proposer's mapping for the retailer's first export, once per session; (YAML, problem)."""
    first = retailer.data[0]
    cache: dict[tuple[str, str], tuple[str, str]] = st.session_state.setdefault(PROPOSALS_KEY, {})
    cached = cache.get((retailer.name, str(first)))
    if cached is not None:
        return cached
    from rmnlora.agents.harmonizer.propose import propose_mapping

    with st.spinner(f"Proposing a mapping for {retailer.name} from {first.name}…"):
        try:
            result = propose_mapping(first, retailer.name).to_yaml(), ""
        except MappingError as exc:
            result = _template(retailer.name, first), str(exc)
        except Exception as exc:  # an unreadable export: say so, and let the buyer write the mapping
            result = _template(retailer.name, first), f"{first.name} could not be read: {exc}"
    cache[(retailer.name, str(first))] = result
    return result


def _mapping_editor(retailer: RetailerPlan, tenant_id: str, data_dir: Path) -> Path | None:
    """Review of the mapping for a retailer nothing ships one for; the accepted mapping's path."""
    slug = uploads.mapping_file_name(retailer.name).removesuffix(".yaml")
    text_key, note_key = f"np_map_text_{slug}", f"np_map_note_{slug}"
    saved = uploads.saved_mapping(data_dir, tenant_id, retailer.name)
    with st.container(border=True):
        st.markdown(f"**Column mapping for {retailer.name}**")
        if saved is not None:
            st.caption(
                f"Using the mapping your organisation accepted ({saved.name}). "
                "Edit it and accept again to change it."
            )
        else:
            st.caption(
                f"No mapping ships for {retailer.name}: this one is proposed from {retailer.data[0].name}. "
                "Check each column and the date format, correct what is wrong, then accept it."
            )
        if text_key not in st.session_state:
            if saved is not None:
                try:
                    st.session_state[text_key] = saved.read_text(encoding="utf-8")[:MAX_YAML_BYTES]
                except (OSError, UnicodeDecodeError) as exc:
                    st.session_state[text_key], st.session_state[note_key] = "", f"{saved.name}: {exc}"
            else:
                st.session_state[text_key], st.session_state[note_key] = _proposal(retailer)
        if problem := st.session_state.get(note_key):
            st.warning(f"The proposer could not map everything: {problem}")
        st.text_area("Mapping YAML", height=360, max_chars=MAX_YAML_BYTES, key=text_key)
        if st.button("Accept mapping", key=f"np_map_accept_{slug}"):
            try:
                saved = uploads.save_mapping(data_dir, tenant_id, retailer.name, st.session_state[text_key])
            except (MappingError, uploads.UploadError) as exc:
                st.error(f"Not accepted: {exc}")
            except OSError as exc:
                st.error(f"Not accepted: the mapping could not be saved ({exc.strerror or exc})")
            else:
                st.session_state[note_key] = ""
                st.success(f"Accepted: saved as {saved.name}; {retailer.name}'s exports are read with it.")
    return saved


def _mapping_label(retailer: RetailerPlan, accepted: dict[str, Path]) -> str:
    if retailer.mapping is not None:
        return f"yours: {retailer.mapping.name}"
    if retailer.name in accepted:
        return f"yours: {accepted[retailer.name].name}"
    return "shipped" if bf.has_shipped_mapping(retailer.name) else "needs review"


def _summary(brief: CampaignBrief, source: str, accepted: dict[str, Path]) -> None:
    st.caption(f"Checked: {source}")
    flight = brief.flight
    st.markdown(
        f"**{brief.name}** for brand **{brief.brand}**: budget {brief.budget:,.0f} {brief.currency}, "
        f"objective {brief.objective.replace('_', ' ')}, "
        f"flight {flight.start} → {flight.end} ({flight.days} days)."
    )
    st.dataframe(
        [
            {
                "retailer": r.name,
                "exports": ", ".join(p.name for p in r.data),
                "min spend": r.min_spend,
                "max spend": r.max_spend,
                "max share": r.max_share,
                "current spend": r.current_spend,
                "formats": ", ".join(r.formats),
                "mapping": _mapping_label(r, accepted),
            }
            for r in brief.retailers
        ],
        hide_index=True,
    )
    creative, measurement = brief.creative, brief.measurement
    floor = brief.constraints.roas_floor
    st.markdown(
        f"Constraints: ROAS floor {floor if floor is not None else 'none'}. "
        f"Creative: {creative.product} ({creative.tone}, {creative.candidates} candidates"
        f"{', claims: ' + '; '.join(creative.claims) if creative.claims else ''}). "
        f"Measurement: {measurement.design}, expected lift {measurement.expected_lift:.0%}, "
        f"alpha {measurement.alpha}, power {measurement.power}."
    )


def _start(brief: CampaignBrief, tenant_id: str) -> None:
    try:
        run_id = app_state.runner().start(brief, tenant_id=tenant_id)
    except RunError as exc:
        st.error(str(exc))
        return
    except Exception as exc:  # the planner could not be opened; the buyer sees why, not a traceback
        st.error(f"The plan could not be started: {exc}")
        return
    st.session_state.pop(CHECKED_KEY, None)
    app_state.open_run(run_id)


def _checked(tenant_id: str, data_dir: Path) -> None:
    checked = st.session_state.get(CHECKED_KEY)
    if not checked:
        return
    brief, source = checked
    st.subheader("3. Check and start")
    summary = st.container()
    accepted: dict[str, Path] = {}
    waiting = []
    for retailer in bf.unmapped(brief):
        path = _mapping_editor(retailer, tenant_id, data_dir)
        if path is None:
            waiting.append(retailer.name)
        else:
            accepted[retailer.name] = path
    with summary:
        _summary(brief, source, accepted)
    if waiting:
        st.warning(f"Accept a mapping for {', '.join(waiting)} before starting.")
    if st.button("Start plan", type="primary", disabled=bool(waiting), key="np_start"):
        _start(bf.with_mappings(brief, accepted), tenant_id)


def render() -> None:
    tenant_id, brand_id = app_state.require_brand()
    data_dir = Path(app_state.settings().data_dir)
    brand_name = st.session_state.get("rmn_brand_name") or brand_id
    st.title("New plan")
    st.caption(f"Organisation **{tenant_id}** · brand **{brand_name}** (choose another on Home)")
    try:
        stored = _exports(tenant_id, data_dir)
    except (uploads.UploadError, OSError) as exc:
        app_state.stop_with(f"Your exports cannot be listed: {exc}")
    st.subheader("2. The brief")
    form_tab, yaml_tab = st.tabs(["Fill in the form", "Upload a brief YAML"])
    with form_tab:
        _form(tenant_id, brand_id, stored)
    with yaml_tab:
        _yaml(tenant_id, brand_id, data_dir, stored)
    _checked(tenant_id, data_dir)
