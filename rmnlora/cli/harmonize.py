"""`rmn harmonize` and `rmn examples generate`: the harmonizer's command-line contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from rmnlora.cli.common import console, fail, settings_from_cli
from rmnlora.yaml_input import read_yaml_document

app = typer.Typer()
examples_app = typer.Typer(
    name="examples",
    help="Example data: retailer exports in different formats, with ground truth.",
    no_args_is_help=True,
)


def _load_fx(path: Path) -> dict[str, float]:
    """An FX YAML file: ``usd_per_unit: {CODE: rate}`` (re-based later) or a flat ``{CODE: rate}``."""
    data = read_yaml_document(path, "FX file", ValueError)
    table = data.get("usd_per_unit", data) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table:
        raise ValueError(f"FX file {path} must map currency codes to rates")
    return {str(k).upper(): float(v) for k, v in table.items()}


@app.command("harmonize")
def harmonize_command(
    inputs: Annotated[list[Path], typer.Argument(help="Raw retailer exports (CSV, Parquet, JSON lines).")],
    retailer: Annotated[
        str | None,
        typer.Option("--retailer", help="Retailer name (selects its mapping; with --report: the report's)."),
    ] = None,
    report: Annotated[
        str | None,
        typer.Option(
            "--report",
            help="A shipped network report mapping by name: amazon_sp_console, amazon_sb_console, "
            "amazon_sd_console, amazon_api_v3_sp, walmart_search, walmart_display, criteo_api.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder: events/ and quarantine.parquet.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="Mapping YAML (default: stored/shipped).")
    ] = None,
    propose: Annotated[
        bool, typer.Option("--propose", help="Print a proposed mapping as YAML and stop.")
    ] = False,
    fx: Annotated[
        Path | None, typer.Option("--fx", help="FX YAML, USD per unit (default: example table).")
    ] = None,
    target_currency: Annotated[str, typer.Option("--currency", help="Currency of the output money.")] = "USD",
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Load daily aggregates for this tenant.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")] = False,
) -> None:
    """Harmonize a retailer's exports into RMIS events; bad rows go to quarantine with a reason."""
    import polars as pl

    from rmnlora.agents.harmonizer.engine import HarmonizeError, fx_to_target, harmonize, read_events
    from rmnlora.agents.harmonizer.mapping import MappingError, resolve_mapping
    from rmnlora.schemas.harmonize import HarmonizeRequest

    if report is not None and mapping is not None:
        raise fail("pass --report NAME or --mapping FILE, not both")
    if retailer is None:
        if report is None or propose:
            raise fail("--retailer NAME is required (with --report it defaults to the report's retailer)")
        from rmnlora.agents.harmonizer.mapping import shipped_reports

        reports = shipped_reports()
        if report not in reports:
            raise fail(f"no shipped report mapping {report!r}; shipped: {', '.join(reports)}")
        retailer = reports[report]
    if propose:
        from rmnlora.agents.harmonizer.propose import propose_mapping

        console.print(f"proposing a mapping for {retailer} from {inputs[0]} (review it, then pass --mapping)")
        try:
            proposal = propose_mapping(inputs[0], retailer)
        except (MappingError, ValueError, OSError, pl.exceptions.PolarsError) as exc:
            message = str(exc)  # most already name the file
            raise fail(message if inputs[0].name in message else f"{inputs[0]}: {message}") from exc
        typer.echo(proposal.to_yaml(), nl=False)
        return
    if out is None:
        raise fail("--out DIR is required (or use --propose)")
    database = None
    try:
        settings = settings_from_cli()
        if (mapping is None and report is None) or tenant is not None:
            from rmnlora.storage import open_db

            database = open_db(settings)
        chosen = resolve_mapping(
            retailer,
            mapping_file=mapping,
            database=None if report is not None else database,
            report=report,
            inputs=inputs,
        )
        rates = None
        if fx is not None:
            rates = fx_to_target(_load_fx(fx), target_currency)
            console.print(f"FX table: {fx}")
        else:
            console.print(
                "FX table: the shipped example table (rmnlora/datagen/fx_usd.yaml); pass --fx for real rates"
            )
        request = HarmonizeRequest(
            inputs=inputs, retailer=retailer, mapping=mapping, out=out, target_currency=target_currency
        )
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"harmonizing {retailer}", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=f"{retailer}: {stage}", completed=done, total=total)

            summary = harmonize(request, mapping=chosen, fx=rates, progress=progress)
        loaded = None
        products = summary.products
        if tenant is not None and products is not None and products.events_by_retailer_id:
            raise fail(
                f"not loaded into PerformanceMetric, whose rows name products by GTIN-14: {products.note}. "
                f"The harmonized events are in {out}."
            )
        if tenant is not None and database is not None:
            from rmnlora.agents.harmonizer.load import load_daily_aggregates

            loaded = load_daily_aggregates(database, tenant, read_events(out, retailer))
            console.print(f"loaded {loaded} daily aggregate rows into PerformanceMetric for tenant {tenant}")
        else:
            console.print("not loaded into PerformanceMetric (pass --tenant ID to load daily aggregates)")
    except (MappingError, HarmonizeError, ValidationError, ValueError, OSError) as exc:
        raise fail(str(exc)) from exc
    finally:
        if database is not None:
            database.dispose()
    if as_json:
        typer.echo(json.dumps(summary.model_dump(mode="json")))
        return
    console.print(
        f"[green]{summary.retailer}[/green]: {summary.rows_in} rows in, {summary.rows_accepted} accepted, "
        f"{summary.rows_quarantined} quarantined {summary.quarantine_reasons or ''}"
    )
    totals = summary.totals
    console.print(
        f"totals: {totals.impressions:,} impressions, {totals.clicks:,} clicks, spend {totals.spend:,.2f} "
        f"{target_currency}, attributed sales {totals.attributed_sales:,.2f} {target_currency}"
        f"  → {summary.output}"
    )
    if summary.products is not None:
        products = summary.products
        colour = "green" if products.coverage == 1 else "yellow"
        console.print(
            f"[{colour}]products[/{colour}] ({products.id_type}): {products.coverage:.0%} of accepted events "
            f"by GTIN-14" + (f"; {products.note}" if products.note else "")
        )
    for check in summary.ratio_checks:
        colour = "green" if check.passed else "red"
        console.print(
            f"[{colour}]ratio check[/{colour}] {check.column.strip()} ({check.kind.upper()}): holds on "
            f"{check.agreement:.0%} of {check.rows_checked} rows"
            + (f"; e.g. {check.evidence}" if check.evidence and not check.passed else "")
        )
    for warning in summary.warnings:
        console.print(f"[red]warning:[/red] {warning}", markup=True)


@examples_app.command("generate")
def examples_generate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the exports and ground_truth.json.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    days: Annotated[int, typer.Option("--days", min=1)] = 120,
    markets: Annotated[int, typer.Option("--markets", min=1)] = 40,
    world: Annotated[
        str,
        typer.Option(
            "--world",
            help="quiet (row noise only) or realistic (market shocks, trends, holidays, promotions, "
            "price changes, spend reacting to sales).",
        ),
    ] = "realistic",
    networks: Annotated[
        str | None,
        typer.Option(
            "--networks",
            help="Also write exports in the shapes networks deliver, into OUT/networks/: 'all' or "
            "comma-separated names (amazon_sp_console, amazon_sb_console, amazon_sd_console, "
            "amazon_api_v3_sp, walmart_search, walmart_display, criteo_api), each with planted bad rows "
            "and networks/network_truth.json; harmonize one with --report NAME.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the ground truth as one JSON object.")
    ] = False,
) -> None:
    """Write example Walmart (CSV), Amazon (JSON lines) and Kroger (Parquet) exports with ground truth."""
    from rmnlora.datagen import generate_exports
    from rmnlora.datagen.console_exports import NETWORK_SHAPES, generate_network_exports
    from rmnlora.datagen.world import WorldSettings

    if world not in ("quiet", "realistic"):
        raise fail(f"--world must be quiet or realistic, not {world!r}")
    shapes: list[str] = []
    if networks is not None:
        shapes = (
            list(NETWORK_SHAPES) if networks.strip() == "all" else [n.strip() for n in networks.split(",")]
        )
        unknown = [n for n in shapes if n not in NETWORK_SHAPES]
        if unknown or not shapes:
            raise fail(f"--networks: unknown shape(s) {unknown}; known: all, {', '.join(NETWORK_SHAPES)}")
    settings = WorldSettings() if world == "realistic" else WorldSettings.quiet()
    truth = generate_exports(out, seed=seed, days=days, markets=markets, world=settings)
    written = generate_network_exports(Path(out) / "networks", shapes, seed=seed) if shapes else {}
    if as_json:
        typer.echo(truth.model_dump_json())
        return
    for name, item in truth.retailers.items():
        console.print(f"{name}: {item.rows_written} rows ({item.format}) → {', '.join(item.files)}")
    console.print(f"ground truth: {Path(out) / 'ground_truth.json'}")
    for key, export in written.items():
        console.print(
            f"{key}: {export.rows_written} rows, {sum(export.quarantine.values())} bad → {export.file}"
            f"  (rmn harmonize {export.file} --report {export.shape} --out DIR)"
        )
    if written:
        console.print(f"network truth: {Path(out) / 'networks' / 'network_truth.json'}")
