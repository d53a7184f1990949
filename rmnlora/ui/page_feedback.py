"""One task's feedback page: two responses side by side, preference, thumbs, stars, correction."""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from rmnlora.feedback import store
from rmnlora.schemas.creative import CopyRequest
from rmnlora.schemas.feedback import CreativePrompt, FeedbackIn, PreferencePairIn
from rmnlora.ui import app_state
from rmnlora.ui.samples import sample_prompts

OWN_PROMPT = "✍️ Write my own prompt"

GUIDELINES = """
**Judge the copy as the retailer's shopper would see it, then as the brand's lawyer would read it.**

1. *Could it run?* Prefer the response that names the product (or the brand), fits the format's
   limits and ends as a finished phrase. Copy that talks to you ("Here is a revised version..."),
   repeats the request's labels, or is cut off is never the better one, however fluent.
2. *Is every fact in the brief?* A number, an ingredient or a claim ("gluten-free", "organic",
   "8 g protein") the brief does not give is a defect, even when it sounds good.
3. *Then voice.* Between two that could run, prefer the one closer to the brand's tone.
4. *Unsure or both bad?* Don't pick: rate each one, or write the copy it should have been
   (a correction teaches more than a coin flip).
5. Judge each item on its own; others may judge it too, and the dashboard shows how far you agree.
"""


def _explain(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())


def _generate(task: str, brand_id: str, prompt: str) -> None:
    status = app_state.generator()
    if status.generator is None:
        return
    try:
        first, second = status.generator(prompt, brand_id=brand_id, task=task)
    except Exception as exc:  # the person sees why; nothing is made up in its place
        st.error(f"The model failed to answer: {exc}")
        return
    for side, candidate in (("a", first), ("b", second)):
        st.session_state[f"{task}_{side}"] = candidate.text
        st.session_state[f"{task}_{side}_generated"] = (candidate.text, candidate.source)


def _source(task: str, side: str, text: str) -> str | None:
    """The producing adapter, only while the text is still exactly what the model wrote."""
    generated = st.session_state.get(f"{task}_{side}_generated")
    return generated[1] if generated and generated[0] == text else None


def _save_preference(
    task: str, tenant_id: str, brand_id: str, prompt: str, a: str, b: str, pick: str
) -> None:
    chosen, rejected = ("a", "b") if pick == "A" else ("b", "a")
    texts = {"a": a, "b": b}
    try:
        item = PreferencePairIn(
            brand_id=brand_id,
            task=task,
            prompt=prompt,
            chosen=texts[chosen],
            rejected=texts[rejected],
            chosen_adapter=_source(task, chosen, texts[chosen]),
            rejected_adapter=_source(task, rejected, texts[rejected]),
            user=app_state.user(),
        )
    except ValidationError as exc:
        st.error(f"Not saved: {_explain(exc)}")
        return
    key = app_state.submission_key("pair", brand_id, task, prompt, item.chosen, item.rejected)
    result = store.record_preference(app_state.database(), tenant_id, item, idempotency_key=key)
    if result.created:
        st.success(f"Preference saved (#{result.record.id}). Thank you!")
    else:
        st.info(f"You already saved this preference (#{result.record.id}).")


def _save_rating(task: str, tenant_id: str, brand_id: str, prompt: str, response: str, side: str) -> None:
    thumbs = st.session_state.get(f"{task}_thumbs")
    stars = st.session_state.get(f"{task}_stars")
    correction = st.session_state.get(f"{task}_correction") or None
    try:
        item = FeedbackIn(
            brand_id=brand_id,
            task=task,
            prompt=prompt,
            response=response or None,
            thumbs_up=None if thumbs is None else bool(thumbs),
            rating=None if stars is None else int(stars) + 1,
            correction=correction,
            adapter=_source(task, side, response),
            user=app_state.user(),
        )
    except ValidationError as exc:
        st.error(f"Not saved: {_explain(exc)}")
        return
    key = app_state.submission_key("rating", brand_id, task, prompt, response, thumbs, stars, correction)
    result = store.record_feedback(app_state.database(), tenant_id, item, idempotency_key=key)
    if result.created:
        st.success(f"Feedback saved (#{result.record.id}). Thank you!")
    else:
        st.info(f"You already saved this feedback (#{result.record.id}).")


RETAILERS = ("walmart", "amazon", "kroger")
TONES = ("friendly", "playful", "warm", "confident", "premium", "practical")


def _creative_brief(brand_id: str, brand_name: str) -> str:
    """The brief the creative agent is asked, as a form; returns it encoded as the stored prompt.

    The prompt stored with each answer is the brief and the agent's exact chat turns, so the
    candidates are what the served adapters write for it and ``rmn improve`` trains on the
    request the planner really sends ("" while the brief is incomplete).
    """
    from rmnlora.agents.creative.formats import load_format_specs
    from rmnlora.training.corpus import prompt_messages

    left, right = st.columns(2)
    retailer = left.selectbox("Retailer", RETAILERS, key="creative_retailer")
    specs = load_format_specs(retailer)
    ad_format = right.selectbox("Ad format", sorted(specs), key="creative_format")
    product = left.text_input("Product", value=brand_name, key="creative_product").strip()
    key_message = right.text_input("Key message", key="creative_message").strip()
    tone = left.selectbox("Tone", TONES, key="creative_tone")
    claims = right.text_input("Allowed claims (separate with ;)", key="creative_claims")
    if not product:
        st.error("Name the product the ad is for.")
        return ""
    request = CopyRequest(
        retailer=retailer,
        brand=brand_id,
        ad_format=ad_format,
        product=product,
        key_message=key_message,
        tone=tone,
        claims=[c.strip() for c in claims.split(";") if c.strip()],
    )
    messages = prompt_messages(request, specs[ad_format])
    with st.expander("What the model is asked", expanded=False):
        for turn in messages:
            st.text(f"{turn['role']}: {turn['content']}")
    return CreativePrompt(request=request.model_dump(), messages=messages).encode()


def _free_prompt(task: str, brand_name: str) -> str:
    samples = sample_prompts(task, brand_name)
    picked = st.selectbox("Start from a sample prompt", [*samples, OWN_PROMPT], key=f"{task}_sample")
    prompt_key = f"{task}_prompt"
    if st.session_state.get(f"{task}_prompt_from") != picked:
        st.session_state[prompt_key] = "" if picked == OWN_PROMPT else picked
        st.session_state[f"{task}_prompt_from"] = picked
    return str(st.text_area("Prompt", key=prompt_key)).strip()


def render(task: str) -> None:
    tenant_id, brand_id = app_state.require_brand()
    brand_name = str(st.session_state.get("rmn_brand_name") or brand_id)
    st.title(f"{app_state.TASKS.get(task, task)} · {brand_name}")
    with st.expander("Guidelines for annotators", expanded=False):
        st.markdown(GUIDELINES)
    prompt = _creative_brief(brand_id, brand_name) if task == "creative" else _free_prompt(task, brand_name)

    status = app_state.generator()
    if status.generator is None:
        st.warning(
            f"Model unavailable: {status.detail}. No responses can be generated; "
            "you can still paste two responses below and compare them."
        )
    elif st.button("Generate two responses", type="primary", disabled=not prompt, key=f"{task}_generate"):
        with st.spinner("Writing two responses with the served model…"):
            _generate(task, brand_id, prompt)

    left, right = st.columns(2)
    a = left.text_area("Response A", key=f"{task}_a", height=160).strip()
    b = right.text_area("Response B", key=f"{task}_b", height=160).strip()
    for column, side, text in ((left, "a", a), (right, "b", b)):
        source = _source(task, side, text)
        column.caption(f"from model: {source}" if source else "written or edited by hand")

    st.subheader("Which response is better?")
    pick = st.radio("Better response", ["A", "B"], index=None, horizontal=True, key=f"{task}_pick")
    if st.button("Save preference", key=f"{task}_save_pair"):
        if pick is None or not prompt:
            st.error("Not saved: write a prompt and pick A or B.")
        else:
            _save_preference(task, tenant_id, brand_id, prompt, a, b, pick)

    st.divider()
    st.subheader("Rate one response")
    side = st.radio("Response to rate", ["A", "B"], horizontal=True, key=f"{task}_rate_side")
    response = a if side == "A" else b
    st.feedback("thumbs", key=f"{task}_thumbs")
    st.feedback("stars", key=f"{task}_stars")
    st.text_area("Correction: what should it have said? (optional)", key=f"{task}_correction")
    if st.button("Save feedback", key=f"{task}_save_rating"):
        if not prompt:
            st.error("Not saved: write a prompt first.")
        else:
            _save_rating(task, tenant_id, brand_id, prompt, response, "a" if side == "A" else "b")
