"""Training data: feedback → SFT/DPO rows, row files, held-out splits and the leak guard.

Creative rows come from the project's copy corpus (:mod:`rmnlora.training.creative_rows`): the
creative agent's own prompt, targets judged by governance. This module holds what every trainer
shares whatever the rows' source.

Row contracts (TRL's standard formats, so the trainers take them as they are):
- SFT: ``{"prompt": str, "completion": str}`` (loss on the completion only);
- DPO: ``{"prompt", "chosen", "rejected"}``, strings or conversational message lists: the
  feedback export format.

Rows from a file or from feedback are split per prompt by a seeded hash, not by position, so the
same prompt lands on the same side however the dataset grows (new feedback never leaks an old
held-out prompt into training); corpus rows keep the corpus's own product/category split
(:func:`explicit_split`). Either way the split's manifest lets every trainer re-check it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rmnlora.schemas.feedback import decode_creative_prompt
from rmnlora.schemas.training import SplitManifest
from rmnlora.storage.models import Feedback

Row = dict[str, Any]


class DatasetError(ValueError):
    """Training data that cannot be used; the message names the file/row and what is wrong."""


class HeldoutLeakError(DatasetError):
    """A training row's prompt is in the recorded held-out set."""


# ---------------------------------------------------------------- feedback → data


def is_liked(item: Feedback) -> bool:
    return item.thumbs_up is True or (item.rating is not None and item.rating >= 4)


def is_disliked(item: Feedback) -> bool:
    return item.thumbs_up is False or (item.rating is not None and item.rating <= 2)


def feedback_to_dpo(items: Iterable[Feedback]) -> list[Row]:
    """Preference pairs as they are; corrections as (correction ≻ response); liked ≻ disliked answers
    to the same prompt. Pairs whose chosen side a reviewer disliked are dropped (ratings filter)."""
    items = list(items)
    disliked = {(i.prompt, i.response) for i in items if i.response and is_disliked(i)}
    rows: list[Row] = []
    for item in items:
        if item.feedback_type == "preference" and item.chosen and item.rejected:
            rows.append({"prompt": item.prompt, "chosen": item.chosen, "rejected": item.rejected})
        elif (
            item.feedback_type == "correction"
            and item.correction
            and item.response
            and item.correction.strip() != item.response.strip()
        ):
            rows.append({"prompt": item.prompt, "chosen": item.correction, "rejected": item.response})
    liked: dict[str, list[str]] = {}
    for item in items:
        if item.response and is_liked(item):
            liked.setdefault(item.prompt, []).append(item.response)
    for prompt, bad_response in sorted(disliked):
        for good_response in liked.get(prompt, []):
            rows.append({"prompt": prompt, "chosen": good_response, "rejected": bad_response})
    return [r for r in rows if (r["prompt"], r["chosen"]) not in disliked]


def feedback_to_sft(items: Iterable[Feedback]) -> list[Row]:
    """Corrections and liked responses become SFT rows; anything a reviewer disliked is filtered out."""
    items = list(items)
    disliked = {(i.prompt, i.response) for i in items if i.response and is_disliked(i)}
    rows: list[Row] = []
    for item in items:
        if item.feedback_type == "correction" and item.correction:
            rows.append({"prompt": item.prompt, "completion": item.correction})
        elif item.response and is_liked(item):
            rows.append({"prompt": item.prompt, "completion": item.response})
        elif item.feedback_type == "preference" and item.chosen:
            rows.append({"prompt": item.prompt, "completion": item.chosen})
    return [r for r in rows if (r["prompt"], r["completion"]) not in disliked]


def load_feedback(database: Any, tenant_id: str, brand_id: str, task: str | None = None) -> list[Feedback]:
    """The brand's feedback rows, read in a tenant-scoped session (another tenant's rows are invisible)."""
    from sqlmodel import col, select

    with database.get_session(tenant_id=tenant_id) as session:
        query = select(Feedback).where(Feedback.brand_id == brand_id)
        if task is not None:
            query = query.where(Feedback.task == task)
        items = list(session.exec(query.order_by(col(Feedback.id))).all())
        for item in items:
            session.expunge(item)
    return items


# ---------------------------------------------------------------- files


def _check_row(row: Any, keys: tuple[str, ...], where: str) -> Row:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected an object with keys {list(keys)}, got {type(row).__name__}")
    missing = [k for k in keys if k not in row]
    if missing:
        raise DatasetError(f"{where}: missing key(s) {missing} (expected {list(keys)})")
    for key in keys:
        value = row[key]
        ok = isinstance(value, str) and value.strip() != ""
        ok = ok or (
            isinstance(value, list)
            and bool(value)
            and all(isinstance(m, dict) and {"role", "content"} <= m.keys() for m in value)
        )
        if not ok:
            raise DatasetError(f"{where}: {key!r} must be a non-empty string or a list of chat messages")
    checked = {k: row[k] for k in keys}
    if isinstance(row.get("meta"), dict):
        checked["meta"] = row["meta"]
    return checked


SFT_KEYS = ("prompt", "completion")
DPO_KEYS = ("prompt", "chosen", "rejected")


def read_rows(path: Path, keys: tuple[str, ...]) -> list[Row]:
    """Rows from JSON lines, a JSON array, or a JSON object holding them under ``rows``/``pairs``/``data``."""
    if not path.is_file():
        raise DatasetError(f"data file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        loaded: Any = json.loads(text)
    except json.JSONDecodeError:
        loaded = None
    if isinstance(loaded, dict):
        wrapped = next(
            (loaded[k] for k in ("rows", "pairs", "data") if isinstance(loaded.get(k), list)), None
        )
        loaded = wrapped if wrapped is not None else [loaded]  # a wrapper object, or a one-line JSONL file
    if loaded is None:
        loaded = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    loaded.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    if not isinstance(loaded, list) or not loaded:
        raise DatasetError(f"{path}: no rows")
    return [_check_row(row, keys, f"{path} row {i + 1}") for i, row in enumerate(loaded)]


def write_jsonl(path: Path, rows: Iterable[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


# ---------------------------------------------------------------- chat format


def as_chat(rows: Sequence[Row], keys: tuple[str, ...]) -> list[Row]:
    """String rows → TRL conversational rows (user prompt, assistant answers).

    Why: the runtime renders every request with the model's chat template, so adapters must be
    trained on that same rendering; TRL applies the template to conversational rows itself. A
    prompt the feedback app stored as a :class:`CreativePrompt` becomes the agent's own turns.
    """
    converted: list[Row] = []
    for row in rows:
        out: Row = {}
        for key in keys:
            value = row[key]
            structured = decode_creative_prompt(value) if key == "prompt" and isinstance(value, str) else None
            if structured is not None:  # the creative agent's own turns, as the app recorded them
                value = structured.messages
            elif isinstance(value, str):
                role = "user" if key == "prompt" else "assistant"
                value = [{"role": role, "content": value.strip()}]
            out[key] = value
        converted.append(out)
    return converted


# ---------------------------------------------------------------- held-out splits


def prompt_hash(prompt: Any) -> str:
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _bucket(prompt: Any, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{prompt_hash(prompt)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_heldout(
    rows: Sequence[Row], dataset: str, heldout_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Row], list[Row], SplitManifest]:
    """Split by prompt (all rows of one prompt on one side); at least one held-out prompt when possible."""
    if not 0 < heldout_fraction < 1:
        raise DatasetError(f"heldout_fraction must be within (0, 1), got {heldout_fraction}")
    prompts = {prompt_hash(r["prompt"]): r["prompt"] for r in rows}
    held = {h for h, p in prompts.items() if _bucket(p, seed) < heldout_fraction}
    if not held and len(prompts) >= 2:
        held = {min(prompts, key=lambda h: _bucket(prompts[h], seed))}
    if len(held) == len(prompts) and len(prompts) >= 2:
        held.discard(max(held, key=lambda h: _bucket(prompts[h], seed)))
    train = [r for r in rows if prompt_hash(r["prompt"]) not in held]
    heldout = [r for r in rows if prompt_hash(r["prompt"]) in held]
    manifest = SplitManifest(
        dataset=dataset,
        seed=seed,
        heldout_fraction=heldout_fraction,
        train_rows=len(train),
        heldout_rows=len(heldout),
        heldout_prompt_hashes=sorted(held),
    )
    return train, heldout, manifest


def explicit_split(
    train: Sequence[Row], heldout: Sequence[Row], dataset: str, split_by: str
) -> tuple[list[Row], list[Row], SplitManifest]:
    """A split decided elsewhere (the corpus's held-out products), recorded like a hashed one.

    Raises :class:`HeldoutLeakError` when a training prompt is also a held-out prompt.
    """
    train, heldout = list(train), list(heldout)
    held = sorted({prompt_hash(r["prompt"]) for r in heldout})
    total = len(train) + len(heldout)
    manifest = SplitManifest(
        dataset=dataset,
        seed=0,
        heldout_fraction=len(heldout) / total if total else 0.0,
        train_rows=len(train),
        heldout_rows=len(heldout),
        heldout_prompt_hashes=held,
        split_by=split_by,
    )
    assert_no_leak(train, manifest)
    return train, heldout, manifest


def assert_no_leak(train_rows: Iterable[Row], manifest: SplitManifest) -> None:
    """Raise when any training prompt is in the manifest's held-out set."""
    held = set(manifest.heldout_prompt_hashes)
    leaked = [r for r in train_rows if prompt_hash(r["prompt"]) in held]
    if leaked:
        raise HeldoutLeakError(
            f"{len(leaked)} training row(s) use held-out prompts of dataset {manifest.dataset!r}, "
            f"e.g. {str(leaked[0]['prompt'])[:80]!r}"
        )


def save_split(folder: Path, train: Sequence[Row], heldout: Sequence[Row], manifest: SplitManifest) -> Path:
    """``train.jsonl``, ``heldout.jsonl`` and ``manifest.json`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "heldout.jsonl", heldout)
    (folder / "manifest.json").write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return folder


def load_manifest(folder: Path) -> SplitManifest | None:
    path = folder / "manifest.json"
    return SplitManifest.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None
