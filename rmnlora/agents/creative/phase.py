"""The creative agent's planner phase: copy for every retailer format the brief names.

Revisions it can apply (:class:`CreateRevision`): more candidates, or writing again. A model
that fails gives labelled template copy and says so; an unknown format gives no copy and says
why, so the gate counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from langchain_core.language_models import BaseChatModel

from rmnlora.agents.creative.formats import FormatSpecError, load_format_specs
from rmnlora.agents.creative.generate import CreativeError, generate_copy
from rmnlora.agents.governance import PolicyPackError
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.creative import CopyRequest, CreativeResult
from rmnlora.schemas.phases import CreateResult, CreateRevision

MAX_CANDIDATES = 10

ModelFor = Callable[[str], BaseChatModel | None]
"""The chat model for one retailer (None: no model, template copy)."""


def create_for_brief(
    brief: CampaignBrief,
    model_for: ModelFor,
    revision: CreateRevision | None = None,
    previous: CreateResult | None = None,
) -> CreateResult:
    """Write copy for each (retailer, format) concurrently, so a batching runtime serves them together.

    A revision that regenerates named formats ('walmart/sponsored_products') writes only those
    again and keeps ``previous`` copy for the others: a format that already has usable copy is not
    thrown away because another one had none.
    """
    revision = revision or CreateRevision()
    targets = set(revision.regenerate or [])
    kept: dict[str, CreativeResult] = {}
    if previous is not None and targets and "all" not in targets:
        kept = {
            key: copy
            for copy in previous.copies
            if copy.candidates and (key := f"{copy.retailer}/{copy.ad_format}") not in targets
        }
    k = revision.candidates or brief.creative.candidates
    if revision.regenerate is not None:
        k = min(MAX_CANDIDATES, max(k, brief.creative.candidates) * 2)
    applied = CreateRevision(candidates=k) if revision.given() else CreateRevision()
    jobs: list[tuple[CopyRequest, BaseChatModel | None]] = []
    order: list[str] = []  # the brief's (retailer, format) order, kept copy and new alike
    missing: list[CreativeResult] = []
    for retailer in brief.retailers:
        try:
            formats = retailer.formats or sorted(load_format_specs(retailer.name))[:1]
        except FormatSpecError as exc:
            missing.append(no_copy(retailer.name, ", ".join(retailer.formats) or "(default)", str(exc)))
            continue
        model = model_for(retailer.name)
        for ad_format in formats:
            order.append(f"{retailer.name}/{ad_format}")
            if order[-1] in kept:
                continue
            jobs.append((copy_request(brief, retailer.name, ad_format, k), model))

    def write(job: tuple[CopyRequest, BaseChatModel | None]) -> tuple[CreativeResult, str | None]:
        request, model = job
        try:
            return generate_copy(request, model), None
        except CreativeError as exc:  # said in the result and the gate; the copy shown is labelled template
            return generate_copy(request, None), f"{request.retailer}/{request.ad_format}: {exc}"
        except (FormatSpecError, PolicyPackError) as exc:  # an unknown format: no copy, and the gate sees it
            return no_copy(request.retailer, request.ad_format, str(exc)), str(exc)

    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        outcomes = list(pool.map(write, jobs))
    written = {
        f"{request.retailer}/{request.ad_format}": copy
        for (request, _), (copy, _) in zip(jobs, outcomes, strict=True)
    }
    return CreateResult(
        copies=[kept[key] if key in kept else written[key] for key in order] + missing,
        errors=[error for _, error in outcomes if error] + [m.notes[0] for m in missing],
        applied_changes=applied,
    )


def copy_request(brief: CampaignBrief, retailer: str, ad_format: str, k: int) -> CopyRequest:
    """The request the plan writes one format's copy from; the app rebuilds it to record feedback."""
    return CopyRequest(
        retailer=retailer,
        brand=brief.brand,
        ad_format=ad_format,
        product=brief.creative.product,
        key_message=brief.creative.key_message,
        tone=brief.creative.tone,
        claims=brief.creative.claims,
        k=k,
        tenant=brief.tenant,
    )


def no_copy(retailer: str, ad_format: str, reason: str) -> CreativeResult:
    """A result with no candidates, carrying why: shown in the report and counted at the gate."""
    return CreativeResult(
        retailer=retailer,
        ad_format=ad_format,
        source="none",
        ranking="",
        notes=[f"{retailer}/{ad_format}: no copy written: {reason}"],
    )
