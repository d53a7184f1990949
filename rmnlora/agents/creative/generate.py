"""The creative agent: K candidates per retailer format, parsed, cleaned, governed and ranked.

With a chat model (any LangChain ``BaseChatModel``, normally the LoRA-composed ``RmnChatModel``)
the candidates are model output; with none, the template generator writes them and every
candidate says ``source="template"``. A model that fails raises :class:`CreativeError`: the
caller decides whether template copy is acceptable, nothing here substitutes it silently.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from rmnlora.agents.creative.formats import load_format_spec
from rmnlora.agents.creative.parsing import clean_copy, parse_copy, trimmed_fields
from rmnlora.agents.creative.prompts import brief_facts, build_messages
from rmnlora.agents.creative.ranking import likelihood_from_metadata, rank_candidates
from rmnlora.agents.creative.templates import template_copies
from rmnlora.agents.governance import format_pack, load_packs, review_copy
from rmnlora.schemas.creative import CopyCandidate, CopyRequest, CreativeResult, FormatSpec
from rmnlora.schemas.governance import AdCopy
from rmnlora.schemas.rmis import PolicyPack


class CreativeError(RuntimeError):
    """The chat model failed to produce candidates; the message says how."""


@dataclass(frozen=True)
class CandidateSampling:
    """How candidates after the first (greedy) one are drawn.

    The defaults are chosen by ``benchmarks/creative.py --temperature/--top-p`` on held-out
    products (docs/copywriter.md): of 0.5/0.9, 0.7/0.9 and 0.8/1.0, nucleus sampling at 0.7 gave
    the most usable candidates (71% vs 70% and 65% with task + retailer on 36 briefs, K = 3), and
    repeats are drawn again rather than kept, so cooler sampling buys no false usability.
    """

    temperature: float = 0.7
    top_p: float = 0.9
    spare_draws: int = 1
    """Draws beyond k in the first wave: a refused draw then rarely costs a second wave (a whole
    decode), and when none is refused the best k of k + spare are shown. Measured on the demo brief
    (benchmarks/create_step.py --spare, 5 runs): 0 → median 38.9 s, 1 → 26.4 s, 2 → 19.7 s, since
    the extra rows share their format's prefill and decode in the same batch."""

    def arguments(self, index: int) -> dict[str, Any]:
        """Chat-model keyword arguments for candidate ``index`` (0 is greedy)."""
        if index == 0:
            return {"temperature": 0.0}
        return {"temperature": self.temperature, "top_p": self.top_p}


DEFAULT_SAMPLING = CandidateSampling()


def _identity(copy: AdCopy) -> tuple[str, str, str]:
    """What makes two candidates the same option for a buyer: the same words in each field."""

    def words(text: str) -> str:
        return " ".join(text.casefold().split())

    return words(copy.headline), words(copy.body), words(copy.cta)


def _invoke_all(
    chat_model: BaseChatModel, messages: list[BaseMessage], wave: list[dict[str, Any]]
) -> list[Any]:
    """One reply per argument set, in order; the calls run concurrently."""

    def one(extra: dict[str, Any]) -> Any:
        try:
            return chat_model.invoke(messages, **extra)
        except Exception as exc:  # the model's own error types vary by backend
            raise CreativeError(f"chat model {type(chat_model).__name__} failed: {exc}") from exc

    if len(wave) == 1:
        return [one(wave[0])]
    with ThreadPoolExecutor(max_workers=len(wave)) as pool:
        return list(pool.map(one, wave))


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def generate_copy(
    request: CopyRequest,
    chat_model: BaseChatModel | None,
    *,
    spec: FormatSpec | None = None,
    packs: list[PolicyPack] | None = None,
    policy_dir: Path | None = None,
    formats_dir: Path | None = None,
    sampling: CandidateSampling | None = DEFAULT_SAMPLING,
) -> CreativeResult:
    """Write ``request.k`` candidates for the request's retailer format, ranked best first.

    ``packs`` default to the baseline, retailer and brand packs; the format's own limits are
    always added as a pack, so every candidate's verdict includes length and element checks, and
    the copy-quality judge runs on every candidate (template copy too), so copy that is not an ad
    (chatter, echoed instructions, cut-off or looping text) never passes.
    The first candidate is greedy; ``sampling`` says how the others are drawn (None: pass no
    sampling arguments, for chat models that take none).
    """
    spec = spec or load_format_spec(request.retailer, request.ad_format, formats_dir)
    policy = packs if packs is not None else load_packs(request.retailer, request.brand, policy_dir)
    all_packs = [*policy, format_pack(spec, product=request.product)]
    facts = brief_facts(request, spec)
    notes: list[str] = []
    candidates: list[CopyCandidate] = []
    draws = 0
    if chat_model is None:
        notes.append("no chat model configured: template copy, not model output")
        for copy, cleaning in template_copies(request, spec):
            candidates.append(
                CopyCandidate(
                    copy_text=copy,
                    source="template",
                    governance=review_copy(
                        copy,
                        all_packs,
                        product=request.product,
                        brand=request.brand,
                        trimmed=trimmed_fields(cleaning),
                        facts=facts,
                    ),
                    cleaning=cleaning,
                )
            )
        source = "template"
    else:
        messages = build_messages(request, spec)
        seen: set[tuple[str, str, str]] = set()
        repeats = 0
        unusable: list[CopyCandidate] = []
        draws = 0
        # Best-of-K with rejection: the first draw is greedy, the others sample. A draw that
        # repeats an earlier one (same words, ignoring case and spacing), or that governance or the
        # copy-quality judge refuses, is drawn again while the budget (2k draws) lasts, so the buyer
        # gets k different options that can run; refused ones fill the list only when it runs out,
        # ranked last, so the gate still sees what went wrong.
        # Draws go out in waves of as many as are still needed, concurrently, so a batching runtime
        # answers them in one forward pass per token instead of one generation after another.
        spare = 0 if sampling is None else sampling.spare_draws
        while draws < 2 * request.k and len(candidates) < request.k:
            wanted = request.k - len(candidates) + (spare if draws == 0 else 0)
            wave = [
                {} if sampling is None else sampling.arguments(draws + i)
                for i in range(min(wanted, 2 * request.k - draws))
            ]
            draws += len(wave)
            for reply in _invoke_all(chat_model, messages, wave):
                raw = _text(reply)
                copy, cleaning = clean_copy(parse_copy(raw), spec)
                key = _identity(copy)
                if key in seen:
                    repeats += 1
                    continue
                seen.add(key)
                likelihood = likelihood_from_metadata(reply.response_metadata)
                candidate = CopyCandidate(
                    copy_text=copy,
                    source="model",
                    governance=review_copy(
                        copy,
                        all_packs,
                        product=request.product,
                        brand=request.brand,
                        likelihood=likelihood,
                        trimmed=trimmed_fields(cleaning),
                        facts=facts,
                    ),
                    likelihood=likelihood,
                    raw=raw,
                    cleaning=cleaning,
                )
                (candidates if candidate.governance.passed else unusable).append(candidate)
        shown_unusable = unusable[: max(0, request.k - len(candidates))]
        candidates += shown_unusable
        if repeats:
            notes.append(f"{repeats} model answers repeated an earlier candidate and were drawn again")
        if len(unusable) > len(shown_unusable):
            notes.append(f"{len(unusable) - len(shown_unusable)} unusable model answers were drawn again")
        if len(candidates) < request.k:
            notes.append(f"only {len(candidates)} distinct candidates of {request.k} asked for")
        source = "model"
        empty = sum(1 for c in candidates if not c.copy_text.headline)
        if empty:
            notes.append(f"{empty} of {len(candidates)} model answers had no usable headline")
    ranked, how = rank_candidates(candidates)
    ranked = ranked[: request.k]  # a spare draw that also passed competes for a place, it adds none
    failing = sum(1 for c in ranked if not c.governance.passed)
    if failing:
        notes.append(f"{failing} of {len(ranked)} candidates fail governance (critical violations)")
    return CreativeResult(
        retailer=request.retailer,
        ad_format=spec.name,
        source=source,
        candidates=ranked,
        ranking=how,
        notes=notes,
        draws=draws,
    )
