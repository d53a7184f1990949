"""``rmn check-copy``, ``score-governance``, ``write-copy``: governance and creative from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rmnlora.cli.common import console, fail, settings_from_cli

app = typer.Typer()


@app.command("check-copy")
def check_copy_command(
    retailer: Annotated[str, typer.Option(help="Retailer whose policy pack applies.")],
    headline: Annotated[str, typer.Option()] = "",
    body: Annotated[str, typer.Option()] = "",
    cta: Annotated[str, typer.Option()] = "",
    disclosure: Annotated[str, typer.Option()] = "",
    brand: Annotated[str | None, typer.Option(help="Brand whose pack applies too.")] = None,
    advertiser: Annotated[
        str | None,
        typer.Option(help="The advertiser's brand as the copy writes it; naming it is not a competitor."),
    ] = None,
    ad_format: Annotated[str | None, typer.Option("--format", help="Add this ad format's limits.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the GovernanceResult as JSON.")] = False,
) -> None:
    """Check ad copy against the policy packs; exits 1 when a critical violation is found."""
    from rmnlora.agents.creative import FormatSpecError, load_format_spec
    from rmnlora.agents.governance import PolicyPackError, check_copy, format_pack, load_packs
    from rmnlora.schemas.governance import AdCopy

    try:
        packs = load_packs(retailer, brand)
        if ad_format:
            packs.append(format_pack(load_format_spec(retailer, ad_format)))
    except (PolicyPackError, FormatSpecError) as exc:
        raise fail(str(exc), 2) from exc
    copy = AdCopy(headline=headline, body=body, cta=cta, disclosure=disclosure)
    result = check_copy(copy, packs, own_brand=advertiser)
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        for v in result.violations:
            where = f"{v.field}[{v.span[0]}:{v.span[1]}]" if v.span else (v.field or "copy")
            line = f"{v.severity:8} {where:18} [{v.family or v.kind}] {v.message} → {v.suggestion}"
            console.print(escape(line))
            if v.rewrite is not None:
                console.print(escape(f"{'':27} rewrite: {v.rewrite!r}"))
        console.print("[green]passed[/green]" if result.passed else "[red]blocked[/red]")
    if not result.passed:
        raise typer.Exit(1)


@app.command("score-governance")
def score_governance_command(
    golden: Annotated[
        Path, typer.Argument(help="Labelled copies (format: tests/data/governance_golden/GUIDE.md).")
    ],
    policy_dir: Annotated[
        Path | None, typer.Option(help="Policy folder (default: examples/policies).")
    ] = None,
    misses: Annotated[bool, typer.Option(help="List every disagreement with the labels.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Precision and recall of the policy rules on a labelled set, per family and severity."""
    from rmnlora.agents.governance import PolicyPackError
    from rmnlora.agents.governance.evaluation import GoldenSetError, format_report, load_golden, score

    try:
        report = score(load_golden(golden), policy_dir=policy_dir)
    except (GoldenSetError, PolicyPackError) as exc:
        raise fail(str(exc), 2) from exc
    if as_json:
        figures = {
            "copies": report.copies,
            "families": {
                f: vars(t) | {"recall": t.recall, "precision": t.precision}
                for f, t in report.families.items()
            },
            "severities": {
                s: vars(t) | {"recall": t.recall, "precision": t.precision}
                for s, t in report.severities.items()
            },
            "misses": [vars(m) for m in report.misses],
        }
        typer.echo(json.dumps(figures, indent=2))
    else:
        typer.echo(format_report(golden.name, report, show_misses=misses))


@app.command("train-claims")
def train_claims_command(
    golden: Annotated[
        list[Path] | None,
        typer.Argument(help="Labelled training copies (default: tests/data/governance_golden/train*.yaml)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the model (default: the committed claim_model.npz).")
    ] = None,
    critical_precision: Annotated[
        float, typer.Option(min=0.5, max=0.99, help="Cross-validated precision a critical family keeps.")
    ] = 0.95,
    warning_precision: Annotated[
        float, typer.Option(min=0.5, max=0.99, help="Cross-validated precision a warning family keeps.")
    ] = 0.90,
) -> None:
    """Train the governance sentence model (claim families) on labelled copies; never on a held-out split."""
    from rmnlora.agents.governance.claim_model import MODEL_FILE, ClaimModelError
    from rmnlora.agents.governance.claim_training import file_digest, train
    from rmnlora.agents.governance.evaluation import GoldenSetError, load_golden
    from rmnlora.agents.governance.packs import EXAMPLES_DIR

    files = golden or sorted((EXAMPLES_DIR.parent / "tests/data/governance_golden").glob("train*.yaml"))
    if not files:
        raise fail("no labelled copies found: give the training files (the golden set's train*.yaml)", 2)
    if held_out := [f.name for f in files if "heldout" in f.name]:
        raise fail(f"{', '.join(held_out)}: a held-out split is never trained on (GUIDE.md)", 2)
    try:
        copies = [c for path in files for c in load_golden(path)]
    except GoldenSetError as exc:
        raise fail(str(exc), 2) from exc
    console.print(f"embedding {len(copies)} copies from {len(files)} files …")
    target = out or MODEL_FILE
    try:
        model = train(
            [(c.headline, c.body, c.labels) for c in copies],
            precision_targets={"critical": critical_precision, "warning": warning_precision},
            sources={path.name: file_digest(path) for path in files},
        )
        model.save(target)
    except ClaimModelError as exc:
        raise fail(str(exc), 2) from exc
    except OSError as exc:
        raise fail(f"cannot write the model to {target}: {exc}", 2) from exc
    for family, figures in model.record["families"].items():
        threshold = figures["threshold"]
        where = (
            f"threshold {threshold:.2f}" if threshold is not None else "off (no threshold is precise enough)"
        )
        console.print(
            f"{family:20} {where}; held-back folds flagged {figures['cv_flagged']}, "
            f"right {figures['cv_right']} of {figures['labels']} labels"
        )
    console.print(f"wrote {target}")


@app.command("write-copy")
def write_copy_command(
    retailer: Annotated[str, typer.Option()],
    brand: Annotated[str, typer.Option()],
    ad_format: Annotated[str, typer.Option("--format", help="Ad format, e.g. sponsored_brands.")],
    product: Annotated[str, typer.Option()],
    message: Annotated[str, typer.Option(help="Key message.")] = "",
    k: Annotated[int, typer.Option("-k", min=1, max=10, help="Candidates.")] = 3,
    tenant: Annotated[str, typer.Option(help="Tenant whose brand adapter is used.")] = "default",
    template: Annotated[bool, typer.Option("--template", help="Template copy, no model.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the CreativeResult as JSON.")] = False,
) -> None:
    """Write ad-copy candidates (LoRA-composed model, or labelled template copy), governed and ranked."""
    from rmnlora.agents.creative import CreativeError, FormatSpecError, generate_copy
    from rmnlora.agents.governance import PolicyPackError
    from rmnlora.schemas.creative import CopyRequest

    settings = settings_from_cli()
    request = CopyRequest(
        retailer=retailer,
        brand=brand,
        ad_format=ad_format,
        product=product,
        key_message=message,
        k=k,
        tenant=tenant,
    )
    chat = None
    if template or not settings.model.enabled:
        console.print("template copy: " + ("--template given" if template else "model.enabled is false"))
    else:
        from rmnlora.adapters.chat_model import RmnChatModel

        console.print("loading the LoRA-composed model …")
        chat = RmnChatModel.from_settings(
            settings, tenant=tenant, retailer=retailer, brand=brand, task="creative"
        )
    try:
        result = generate_copy(request, chat)
    except (PolicyPackError, FormatSpecError, CreativeError) as exc:
        raise fail(str(exc), 2) from exc
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json")))
        return
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    for i, c in enumerate(result.candidates, 1):
        verdict = "pass" if c.governance.passed else "FAIL"
        console.print(
            f"{i}. [{c.source}/{verdict}] {c.copy_text.headline} | {c.copy_text.body} | {c.copy_text.cta}"
        )
    console.print(result.ranking)
