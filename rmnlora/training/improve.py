"""Close the learning loop for one brand: new feedback → a candidate on top of the served adapter →
judged against it → promoted only when it is better, and served from the next request.

``improve`` is the one implementation behind ``rmn improve``, the API's improvement route and the
app's button. It holds a database lock per (tenant, brand), so two runs never overlap, and writes
an :class:`ImprovementRun` row that says what it read, what it trained, what it measured and what
it decided; the candidate becomes an :class:`AdapterVersion` (promoted or refused, with why).
"""

from __future__ import annotations

import math
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import select

from rmnlora.adapters.registry import AdapterInfo, AdapterRegistry
from rmnlora.adapters.service import adapters_root
from rmnlora.adapters.versions import AdapterVersions
from rmnlora.config import Settings
from rmnlora.storage.database import Database
from rmnlora.storage.locks import LockHeldError, acquire, release
from rmnlora.storage.models import Brand, ImprovementRun, utcnow
from rmnlora.training.corpus import Corpus
from rmnlora.training.datasets import as_chat
from rmnlora.training.dpo import DPORunConfig, train_dpo
from rmnlora.training.improve_data import BrandData, collect_brand_data
from rmnlora.training.improve_decision import Decision, PromotionRule, decide
from rmnlora.training.improve_eval import BaseLoader, VersionScores, compare_versions, model_with_task
from rmnlora.training.sft import SFTRunConfig, train_sft

Progress = Callable[[float, str], None]


class ImproveError(RuntimeError):
    """The run could not start or failed; the message says why (the run row says it too)."""


class RunInProgressError(ImproveError):
    """Another run for the same brand holds its lock."""


@dataclass
class ImproveConfig:
    """How much feedback a run needs, how it trains, and the promotion rule it applies."""

    task: str = "creative"
    min_pairs: int = 8
    min_heldout_pairs: int = 3
    heldout_fraction: float = 0.25
    epochs: float = 2.0
    max_steps: int = 40
    batch_size: int = 4
    learning_rate: float = 5e-5
    sft_learning_rate: float = 1e-4
    beta: float = 0.1
    rank: int = 8  # for a brand's first adapter; an existing one keeps its own shape
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    seed: int = 0
    max_generations: int = 12
    rule: PromotionRule = field(default_factory=PromotionRule)
    lock_ttl_s: float = 6 * 3600
    trigger: str = "cli"
    actor: str = "rmn improve"

    def __post_init__(self) -> None:
        if self.min_pairs < 1 or self.min_heldout_pairs < 1:
            raise ValueError("min_pairs and min_heldout_pairs must be at least 1")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(f"heldout_fraction must be within (0, 1), got {self.heldout_fraction}")


@dataclass
class ImproveOutcome:
    """What one run did; ``status`` is promoted, refused, not_enough_feedback or failed."""

    run_id: int
    status: str
    message: str
    current: str | None = None
    candidate: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "message": self.message,
            "current": self.current,
            "candidate": self.candidate,
            "counts": self.counts,
            "metrics": self.metrics,
            "seconds": round(self.seconds, 1),
        }


def lock_key(tenant_id: str, brand_id: str) -> str:
    return f"improve:{tenant_id}:{brand_id}"


class _Run:
    """The run's audit row, updated as the run goes (the app's progress bar reads it)."""

    @classmethod
    def existing(cls, database: Database, tenant_id: str, run_id: int) -> _Run:
        run = cls.__new__(cls)
        run.database, run.tenant_id, run.id = database, tenant_id, run_id
        return run

    def __init__(self, database: Database, tenant_id: str, brand_id: str, config: ImproveConfig) -> None:
        self.database, self.tenant_id = database, tenant_id
        with database.get_session(tenant_id=tenant_id) as session:
            row = ImprovementRun(
                tenant_id=tenant_id,
                brand_id=brand_id,
                task=config.task,
                trigger=config.trigger,
                stage="starting",
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            self.id: int = row.id

    def update(self, **values: Any) -> None:
        with self.database.get_session(tenant_id=self.tenant_id) as session:
            row = session.get(ImprovementRun, self.id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)
            session.add(row)


def _brand_exists(database: Database, tenant_id: str, brand_id: str) -> bool:
    with database.get_session(tenant_id=tenant_id) as session:
        return session.exec(select(Brand).where(Brand.id == brand_id)).first() is not None


def _step_callback(report: Progress, start: float, span: float, stage: str) -> Any:
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            total = max(int(state.max_steps or 1), 1)
            report(
                start + span * min(state.global_step / total, 1.0),
                f"{stage}: step {state.global_step}/{total}",
            )

    return StepProgress()


def _steps(rows: int, config: ImproveConfig) -> int:
    return max(1, min(config.max_steps, math.ceil(config.epochs * rows / config.batch_size)))


def train_candidate(
    load_base: BaseLoader,
    task: AdapterInfo | None,
    current: AdapterInfo | None,
    data: BrandData,
    work_dir: Path,
    config: ImproveConfig,
    report: Progress,
) -> tuple[Path, dict[str, Any]]:
    """SFT on the window's corrections and liked answers (if any), then DPO on its pairs, both
    continuing the served brand adapter's own weights (a fresh LoRA when the brand has none)."""
    from peft import PeftModel, get_peft_model

    from rmnlora.training.common import lora_config

    model, tokenizer = model_with_task(load_base, task.path if task else None)
    # What both stages share: a fresh run each time, quiet, no mid-run checkpoints, and the LoRA
    # shape a brand's first adapter gets (an existing adapter keeps its own).
    common: dict[str, Any] = {
        "kind": "brand",
        "name": "candidate",
        "batch_size": config.batch_size,
        "seed": config.seed,
        "resume": False,
        "progress": False,
        "save_steps": 10_000,
        "lora_rank": config.rank,
        "lora_alpha": 2 * config.rank,
        "target_modules": list(config.targets),
    }
    sft = SFTRunConfig(
        output_dir=work_dir / "sft",
        max_steps=_steps(max(len(data.train_sft), 1), config),
        learning_rate=config.sft_learning_rate,
        **common,
    )
    if current is not None:
        peft_model = PeftModel.from_pretrained(model, current.path, is_trainable=True)
    else:
        peft_model = get_peft_model(model, lora_config(sft))
    figures: dict[str, Any] = {}
    if data.train_sft:
        result = train_sft(
            peft_model,
            tokenizer,
            as_chat(data.train_sft, ("prompt", "completion")),
            sft,
            callbacks=[_step_callback(report, 0.15, 0.2, "SFT")],
        )
        figures["sft"] = {
            "steps": result.steps,
            "first_loss": result.first_loss,
            "last_loss": result.last_loss,
        }
    dpo = DPORunConfig(
        output_dir=work_dir / "dpo",
        max_steps=_steps(len(data.train_pairs), config),
        learning_rate=config.learning_rate,
        beta=config.beta,
        **common,
    )
    result = train_dpo(
        peft_model,
        tokenizer,
        as_chat(data.train_pairs, ("prompt", "chosen", "rejected")),
        dpo,
        callbacks=[_step_callback(report, 0.35, 0.3, "DPO")],
    )
    rewards = result.extra.get("train_reward_accuracies") or []
    figures["dpo"] = {
        "steps": result.steps,
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
        "last_reward_accuracy": rewards[-1] if rewards else None,
    }
    return dpo.adapter_dir, figures


@dataclass
class PreparedRun:
    """A run that holds its brand's lock and has its audit row; :func:`execute` runs it."""

    settings: Settings
    database: Database
    tenant_id: str
    brand_id: str
    config: ImproveConfig
    holder: str
    run_id: int


def prepare(
    settings: Settings,
    database: Database,
    *,
    tenant_id: str,
    brand_id: str,
    config: ImproveConfig | None = None,
) -> PreparedRun:
    """Check the brand, take its lock and open the run's row; ImproveError when it cannot start.

    Split from :func:`execute` so the API and the app can answer with the run id at once and
    train in the background.
    """
    config = config or ImproveConfig()
    if not _brand_exists(database, tenant_id, brand_id):
        raise ImproveError(f"brand {brand_id!r} does not exist for tenant {tenant_id!r}")
    holder = f"{config.trigger}:{uuid.uuid4().hex[:12]}"
    key = lock_key(tenant_id, brand_id)
    try:
        acquire(database, key, holder, config.lock_ttl_s)
    except LockHeldError as exc:
        raise RunInProgressError(f"an improvement run for {brand_id} is already in progress: {exc}") from exc
    try:
        run = _Run(database, tenant_id, brand_id, config)
    except Exception:
        release(database, key, holder)
        raise
    return PreparedRun(settings, database, tenant_id, brand_id, config, holder, run.id)


def execute(
    prepared: PreparedRun,
    *,
    load_base: BaseLoader | None = None,
    corpus: Corpus | None = None,
    progress: Progress | None = None,
) -> ImproveOutcome:
    """Run a prepared run to its end; the lock is released and the row closed whatever happens."""
    from rmnlora.training.pipeline import default_loader

    try:
        return _run(
            prepared,
            load_base or default_loader(prepared.settings),
            corpus,
            progress,
        )
    finally:
        release(prepared.database, lock_key(prepared.tenant_id, prepared.brand_id), prepared.holder)


def improve(
    settings: Settings,
    database: Database,
    *,
    tenant_id: str,
    brand_id: str,
    config: ImproveConfig | None = None,
    load_base: BaseLoader | None = None,
    corpus: Corpus | None = None,
    progress: Progress | None = None,
) -> ImproveOutcome:
    """One improvement run, start to end (see the module docstring). Raises ImproveError when it
    cannot start (unknown brand; RunInProgressError: a run is already going) or when it failed."""
    prepared = prepare(settings, database, tenant_id=tenant_id, brand_id=brand_id, config=config)
    return execute(prepared, load_base=load_base, corpus=corpus, progress=progress)


def _run(
    prepared: PreparedRun,
    load_base: BaseLoader,
    corpus: Corpus | None,
    progress: Progress | None,
) -> ImproveOutcome:
    started = time.perf_counter()
    settings, database, config = prepared.settings, prepared.database, prepared.config
    tenant_id, brand_id = prepared.tenant_id, prepared.brand_id
    run = _Run.existing(database, tenant_id, prepared.run_id)

    def report(fraction: float, stage: str) -> None:
        run.update(progress=round(fraction, 3), stage=stage[:255])
        if progress is not None:
            progress(fraction, stage)

    def finish(outcome: ImproveOutcome) -> ImproveOutcome:
        outcome.seconds = time.perf_counter() - started
        run.update(
            status=outcome.status,
            progress=1.0,
            stage="done",
            reason=outcome.message,
            rows=outcome.counts,
            metrics=outcome.metrics,
            finished_at=utcnow(),
        )
        if progress is not None:
            progress(1.0, outcome.message)
        return outcome

    try:
        registry = AdapterRegistry(database, adapters_root(settings))
        versions = AdapterVersions(database, adapters_root(settings))
        resolved = registry.resolve(tenant_id, retailer=None, brand=brand_id, task=config.task).components
        current, task = resolved.get("brand"), resolved.get("task")
        served = versions.current("brand", brand_id, owner_tenant_id=tenant_id) if current else None
        run.update(current_version=served.version if served else None)
        report(0.05, "collecting feedback")
        after = (served.feedback_through or 0) if served else 0
        data = collect_brand_data(
            database,
            tenant_id,
            brand_id,
            task=config.task,
            after=after,
            heldout_fraction=config.heldout_fraction,
            seed=config.seed,
            corpus=corpus,
        )
        counts = data.counts()
        label = served.label if served else f"{brand_id} (no brand adapter yet: the task adapter alone)"
        short = []
        if len(data.train_pairs) < config.min_pairs:
            short.append(
                f"{len(data.train_pairs)} new preference pairs to train on since {label} "
                f"(from {data.new_items} feedback items after #{after}; held-out prompts are judged, "
                f"not trained on); {config.min_pairs} are needed, "
                f"{config.min_pairs - len(data.train_pairs)} more"
            )
        if len(data.heldout_pairs) < config.min_heldout_pairs:
            short.append(
                f"{len(data.heldout_pairs)} held-out pairs to judge a candidate on; "
                f"{config.min_heldout_pairs} are needed (about 1 answered prompt in "
                f"{round(1 / config.heldout_fraction)} is held out)"
            )
        if short:
            return finish(
                ImproveOutcome(
                    run.id,
                    "not_enough_feedback",
                    "not enough feedback: " + "; ".join(short),
                    current=served.label if served else None,
                    counts=counts,
                )
            )
        work_dir = settings.data_dir / "training" / "improve" / tenant_id / brand_id / f"run-{run.id}"
        report(0.1, "training the candidate")
        candidate_dir, figures = train_candidate(load_base, task, current, data, work_dir, config, report)
        report(0.7, "judging candidate against current")
        current_scores, candidate_scores = compare_versions(
            load_base,
            task.path if task else None,
            current.path if current else None,
            str(candidate_dir),
            data,
            max_generations=config.max_generations,
        )
        decision = decide(current_scores, candidate_scores, config.rule)
        metrics = _metrics(current_scores, candidate_scores, decision, figures)
        report(0.95, "deciding")
        outcome = _apply(
            registry,
            versions,
            tenant_id,
            brand_id,
            served.version if served else None,
            candidate_dir,
            data,
            decision,
            metrics,
            config,
        )
        run.update(candidate_version=outcome[0])
        return finish(
            ImproveOutcome(
                run.id,
                "promoted" if decision.promote else "refused",
                decision.summary(),
                current=served.label if served else None,
                candidate=outcome[1],
                counts=counts,
                metrics=metrics,
            )
        )
    except Exception as exc:  # the run row must close whatever failed; the caller gets the reason
        detail = f"{type(exc).__name__}: {exc}"
        run.update(
            status="failed",
            stage="failed",
            reason=detail,
            finished_at=utcnow(),
            metrics={"traceback": traceback.format_exc(limit=8)},
        )
        raise ImproveError(f"improvement run {run.id} failed: {detail}") from exc


def _metrics(
    current: VersionScores, candidate: VersionScores, decision: Decision, figures: dict[str, Any]
) -> dict[str, Any]:
    return {
        "current": current.as_dict(),
        "candidate": candidate.as_dict(),
        "deltas": decision.deltas,
        "decision": {"promote": decision.promote, "reasons": decision.reasons},
        "training": figures,
    }


def _apply(
    registry: AdapterRegistry,
    versions: AdapterVersions,
    tenant_id: str,
    brand_id: str,
    served: int | None,
    candidate_dir: Path,
    data: BrandData,
    decision: Decision,
    metrics: dict[str, Any],
    config: ImproveConfig,
) -> tuple[int | None, str | None]:
    """Record the candidate as a version and promote or refuse it; returns (version, label)."""
    window = data.window()
    if served is None:
        if not decision.promote:  # no adapter row to hang a refused version on: the run row keeps it
            return None, None
        registry.register("brand", brand_id, candidate_dir, owner_tenant_id=tenant_id, metrics=metrics)
        first = versions.current("brand", brand_id, owner_tenant_id=tenant_id)
        versions.annotate(
            "brand",
            brand_id,
            first.version,
            owner_tenant_id=tenant_id,
            feedback_after=window["after"],
            feedback_through=window["through"],
            rows=data.counts(),
        )
        return first.version, first.label
    added = versions.add_candidate(
        "brand",
        brand_id,
        candidate_dir,
        owner_tenant_id=tenant_id,
        parent_version=served,
        feedback_after=window["after"],
        feedback_through=window["through"],
        rows=data.counts(),
        metrics=metrics,
    )
    if decision.promote:
        versions.promote(
            "brand",
            brand_id,
            added.version,
            owner_tenant_id=tenant_id,
            actor=config.actor,
            reason=decision.summary(),
        )
    else:
        versions.refuse(
            "brand",
            brand_id,
            added.version,
            owner_tenant_id=tenant_id,
            actor=config.actor,
            reason=decision.summary(),
        )
    return added.version, added.label
