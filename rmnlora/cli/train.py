"""``rmn train sft|dpo`` and ``rmn eval``: LoRA adapters trained with TRL, scored on held-out data."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rmnlora.cli.common import console, fail, settings_from_cli

app = typer.Typer()
train_app = typer.Typer(
    name="train", help="Train LoRA adapters (TRL SFT / DPO, optional QLoRA).", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")]
Steps = Annotated[int, typer.Option(help="Optimizer steps.")]
Rank = Annotated[int, typer.Option(help="LoRA rank.")]
QLora = Annotated[bool, typer.Option("--qlora", help="Load the base in 4-bit NF4 (bitsandbytes).")]
Heldout = Annotated[
    float,
    typer.Option(
        help="Share of prompts held out for evaluation (file/feedback rows; the corpus has its own split)."
    ),
]
Tenant = Annotated[str | None, typer.Option(help="Tenant that owns brand adapters / feedback.")]


def _emit(result: Any, as_json: bool) -> None:
    payload = result.model_dump(exclude={"losses"})
    if as_json:
        typer.echo(json.dumps(payload, default=str))
        return
    held = payload["extra"].get("heldout") or {}
    console.print(
        f"[green]trained[/green] {payload['method']} {payload['kind']}:{payload['name']} "
        f"steps={payload['steps']} loss {payload['first_loss']} → {payload['last_loss']} "
        f"({payload['seconds_per_step']:.2f} s/step) registered id={payload['registered_id']}"
    )
    if not held.get("base"):
        console.print("no held-out rows for this adapter: nothing to score it on")
    else:
        base, adapter = held["base"], held["adapter"]
        console.print(
            f"held-out ({held['rows']} rows): loss {base['loss']} → {adapter['loss']}, "
            f"preference accuracy {base['preference_accuracy']} → {adapter['preference_accuracy']}"
        )


@train_app.command("sft")
def train_sft_command(
    kind: Annotated[str, typer.Option(help="retailer | brand | task")],
    name: Annotated[str, typer.Option(help="Adapter name (brand id, retailer name, or task).")],
    data: Annotated[Path | None, typer.Option(help="JSONL of {prompt, completion} rows.")] = None,
    corpus: Annotated[
        Path | None,
        typer.Option(
            help="Copy corpus folder: the brand's / retailer's / every copy, as the creative agent asks."
        ),
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Use the project's copy corpus (examples/corpus).")
    ] = False,
    tenant: Tenant = None,
    steps: Steps = 60,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 2e-4,
    rank: Rank = 8,
    batch_size: Annotated[int, typer.Option(help="Rows per step.")] = 8,
    qlora: QLora = False,
    heldout: Heldout = 0.2,
    as_json: JsonFlag = False,
) -> None:
    """Supervised LoRA training for one adapter; registers it with its held-out metrics.

    From the copy corpus, rows are the creative agent's own request for each brief and the copy
    that answers it (governance-checked); held out are the corpus's held-out products.
    """
    from rmnlora.storage import open_db
    from rmnlora.training.corpus import DEFAULT_CORPUS, CorpusError, load_corpus
    from rmnlora.training.creative_rows import CORPUS_SPLIT, sft_split
    from rmnlora.training.datasets import DatasetError, Row
    from rmnlora.training.pipeline import rows_from_file, train_and_register
    from rmnlora.training.sft import SFTRunConfig

    if kind not in ("retailer", "brand", "task"):
        raise fail(f"--kind must be retailer, brand or task, got {kind!r}")
    if (data is not None) + (corpus is not None or example) != 1:
        raise fail("give one of --data FILE (JSONL rows), --corpus DIR or --example (the project's corpus)")
    settings = settings_from_cli()
    held: list[Row] | None = None
    try:
        if data is not None:
            rows = rows_from_file(data, "sft")
        else:
            rows, held = sft_split(load_corpus(corpus or DEFAULT_CORPUS), kind, name)
        config = SFTRunConfig(
            kind=kind,
            name=name,
            output_dir=Path("."),
            max_steps=steps,
            learning_rate=lr,
            lora_rank=rank,
            lora_alpha=2 * rank,
            batch_size=batch_size,
            qlora=qlora,
        )
        with contextlib.redirect_stdout(sys.stderr):  # trainer logs must not pollute --json stdout
            result = train_and_register(
                settings,
                open_db(settings),
                config,
                rows,
                tenant_id=tenant,
                heldout_fraction=heldout,
                heldout=held,
                split_by=CORPUS_SPLIT,
            )
    except (CorpusError, DatasetError, ValueError) as exc:
        raise fail(str(exc)) from exc
    _emit(result, as_json)


@train_app.command("dpo")
def train_dpo_command(
    brand: Annotated[str, typer.Option(help="Brand id the preference data belongs to.")],
    tenant: Tenant = None,
    from_feedback: Annotated[bool, typer.Option("--from-feedback", help="Read the Feedback table.")] = False,
    data: Annotated[
        Path | None, typer.Option(help="DPO export: JSONL of {prompt, chosen, rejected}.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Adapter name (default: <brand>-dpo).")] = None,
    task: Annotated[str | None, typer.Option(help="Only feedback of this task.")] = None,
    steps: Steps = 40,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 5e-5,
    beta: Annotated[float, typer.Option(help="DPO beta.")] = 0.1,
    rank: Rank = 8,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = 8,
    qlora: QLora = False,
    heldout: Heldout = 0.2,
    as_json: JsonFlag = False,
) -> None:
    """Preference (DPO) training of a brand adapter from feedback or an export file."""
    from rmnlora.storage import open_db
    from rmnlora.training.datasets import DatasetError
    from rmnlora.training.dpo import DPORunConfig
    from rmnlora.training.pipeline import feedback_dpo_rows, rows_from_file, train_and_register

    if from_feedback == (data is not None):
        raise fail("give exactly one of --from-feedback or --data FILE")
    if not tenant:
        raise fail("--tenant is required: brand adapters and feedback belong to a tenant")
    settings = settings_from_cli()
    database = open_db(settings)
    try:
        if data is not None:
            rows = rows_from_file(data, "dpo")
        else:
            rows = feedback_dpo_rows(database, tenant, brand, task)
            if len(rows) < 2:
                raise fail(
                    f"brand {brand!r} of tenant {tenant!r} has {len(rows)} usable preference pair(s); need 2+"
                )
        config = DPORunConfig(
            kind="brand",
            name=name or f"{brand}-dpo",
            output_dir=Path("."),
            max_steps=steps,
            learning_rate=lr,
            beta=beta,
            lora_rank=rank,
            lora_alpha=2 * rank,
            batch_size=batch_size,
            qlora=qlora,
        )
        with contextlib.redirect_stdout(sys.stderr):  # trainer logs must not pollute --json stdout
            result = train_and_register(
                settings, database, config, rows, tenant_id=tenant, heldout_fraction=heldout
            )
    except (DatasetError, ValueError) as exc:
        raise fail(str(exc)) from exc
    _emit(result, as_json)


@app.command("eval")
def eval_command(
    adapter: Annotated[list[str], typer.Option(help="kind:name of a registered adapter (repeatable).")],
    tenant: Tenant = None,
    data: Annotated[
        Path | None, typer.Option(help="Held-out SFT rows (default: the adapter's own split).")
    ] = None,
    pairs: Annotated[Path | None, typer.Option(help="Held-out DPO pairs (JSONL).")] = None,
    compose: Annotated[
        list[str] | None, typer.Option(help="Comma-separated adapter names to compose.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for eval.json, report.md, eval.png.")] = Path(
        "eval-report"
    ),
    generations: Annotated[int, typer.Option(help="Held-out prompts to generate for task metrics.")] = 24,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate adapters (and compositions) against the base model on held-out data."""
    from rmnlora.adapters.base_model import load_base_model
    from rmnlora.adapters.registry import AdapterRegistry
    from rmnlora.adapters.service import adapters_root
    from rmnlora.storage import open_db
    from rmnlora.training.datasets import DPO_KEYS, SFT_KEYS, DatasetError, read_rows
    from rmnlora.training.evaluate import evaluate_variants, load_adapters
    from rmnlora.training.pipeline import dataset_dir
    from rmnlora.training.report import write_report

    settings = settings_from_cli()
    registry = AdapterRegistry(open_db(settings), adapters_root(settings))
    known: dict[tuple[str, str], Any] = {(a.kind, a.name): a for a in registry.list(tenant_id=tenant)}
    chosen: dict[str, str] = {}
    for spec in adapter:
        kind, _, name = spec.partition(":")
        if (kind, name) not in known:
            raise fail(f"no registered adapter {spec!r} visible to tenant {tenant!r} (use kind:name)")
        chosen[name] = known[(kind, name)].path
    try:
        sft_rows = read_rows(data, SFT_KEYS) if data else []
        pair_rows = read_rows(pairs, DPO_KEYS) if pairs else []
        if not sft_rows and not pair_rows:
            for spec in adapter:
                kind, _, name = spec.partition(":")
                for method, keys, target in (("sft", SFT_KEYS, sft_rows), ("dpo", DPO_KEYS, pair_rows)):
                    path = dataset_dir(settings, method, kind, name) / "heldout.jsonl"  # type: ignore[arg-type]
                    if path.is_file():
                        target.extend(read_rows(path, keys))
        if not sft_rows and not pair_rows:
            raise fail("no held-out data: give --data/--pairs, or train the adapters with `rmn train` first")
    except DatasetError as exc:
        raise fail(str(exc)) from exc
    combos = [[n.strip() for n in c.split(",") if n.strip()] for c in (compose or [])]
    for combo in combos:
        unknown = [n for n in combo if n not in chosen]
        if unknown:
            raise fail(f"--compose names {unknown} that are not among the --adapter options")
    base, tokenizer = load_base_model(settings)
    model = load_adapters(base, chosen)
    console.print(
        f"evaluating base + {len(chosen)} adapter(s) on {len(sft_rows)} rows, {len(pair_rows)} pairs"
    )
    with contextlib.redirect_stdout(sys.stderr):
        scores = evaluate_variants(
            model,
            tokenizer,
            list(chosen),
            sft_rows=sft_rows,
            pairs=pair_rows,
            compositions=combos,
            max_generations=generations,
        )
    document = write_report(scores, out, {"adapters": adapter, "compositions": combos})
    if as_json:
        typer.echo(json.dumps(document, default=str))
    else:
        console.print(f"report written to {out / 'report.md'}")


@train_app.command("shipped")
def train_shipped_command(
    corpus: Annotated[Path, typer.Option(help="The copy corpus folder.")] = Path("examples/corpus"),
    only: Annotated[
        list[str] | None, typer.Option(help="Train only these (kind/name, e.g. task/creative); repeatable.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where the adapters go (default: the package's adapters/shipped).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    max_steps: Annotated[int | None, typer.Option(help="Cap steps per adapter (smoke runs).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train the default adapters (creative task, one per retailer, the example brand) from the corpus."""
    from rmnlora.adapters.base_model import load_base_model
    from rmnlora.training.corpus import CorpusError, load_corpus
    from rmnlora.training.shipped import SHIPPED, SHIPPED_DIR, ShipRun, train_shipped

    settings = settings_from_cli()
    known = [s.key for s in SHIPPED]
    unknown = sorted(set(only or []) - set(known))
    if unknown:
        raise fail(f"unknown shipped adapter(s) {unknown}; choose from {', '.join(known)}", 2)
    try:
        data = load_corpus(corpus)
    except CorpusError as exc:
        raise fail(str(exc), 2) from exc
    run = ShipRun(
        work_dir=settings.data_dir / "training" / "shipped",
        out_dir=out or SHIPPED_DIR,
        seed=seed,
        max_steps=max_steps,
        progress=not as_json,
    )
    try:
        results = train_shipped(data, lambda: load_base_model(settings), run, only or ())
    except (CorpusError, FileNotFoundError) as exc:  # a bad corpus row, or a child before its parent
        raise fail(str(exc), 2) from exc
    summary = {
        key: {
            "steps": r.steps,
            "rows": r.train_rows,
            "first_loss": r.first_loss,
            "last_loss": r.last_loss,
            "seconds": round(r.seconds, 1),
        }
        for key, r in results.items()
    }
    if as_json:
        typer.echo(json.dumps({"out": str(run.out_dir), "adapters": summary}))
        return
    for key, row in summary.items():
        console.print(
            f"{key}: {row['rows']} rows, {row['steps']} steps, loss {row['first_loss']:.3f} → "
            f"{row['last_loss']:.3f} ({row['seconds']} s)"
        )
    console.print(f"adapters in {run.out_dir}")
