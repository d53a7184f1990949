"""``rmn improve`` (one brand, or ``--all`` for cron) and ``rmn adapters versions|promote|rollback``.

Exit codes, so a scheduler can tell outcomes apart: 0 promoted or refused (a decision was made),
3 not enough feedback yet, 4 a run for the brand is already in progress, 1 the run failed,
2 bad input (unknown brand, tenant or version).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from rmnlora.cli.adapters import adapters_app
from rmnlora.cli.common import console, fail, settings_from_cli

app = typer.Typer()

EXIT = {"promoted": 0, "refused": 0, "not_enough_feedback": 3, "in_progress": 4, "failed": 1}
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object per brand to stdout.")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant that owns the brand.")]


def _database() -> Any:
    from rmnlora.storage import open_db

    settings = settings_from_cli()
    return settings, open_db(settings)


def _brands(database: Any, tenant: str | None) -> list[tuple[str, str]]:
    from sqlmodel import select

    from rmnlora.storage.models import Brand

    with database.get_session() as session:
        query = select(Brand)
        if tenant:
            query = query.where(Brand.tenant_id == tenant)
        return [(b.tenant_id, b.id) for b in session.exec(query.order_by(Brand.tenant_id, Brand.id)).all()]


def _progress(fraction: float, stage: str) -> None:
    console.print(f"  [{fraction:4.0%}] {stage}")


def _one(settings: Any, database: Any, tenant: str, brand: str, config: Any, quiet: bool) -> dict[str, Any]:
    from rmnlora.training.corpus import DEFAULT_CORPUS, load_corpus
    from rmnlora.training.improve import ImproveError, RunInProgressError, improve

    corpus = load_corpus(DEFAULT_CORPUS) if DEFAULT_CORPUS.is_dir() else None
    try:
        outcome = improve(
            settings,
            database,
            tenant_id=tenant,
            brand_id=brand,
            config=config,
            corpus=corpus,
            progress=None if quiet else _progress,
        )
    except RunInProgressError as exc:
        return {"tenant": tenant, "brand": brand, "status": "in_progress", "message": str(exc)}
    except ImproveError as exc:
        status = "bad_input" if "does not exist" in str(exc) else "failed"
        return {"tenant": tenant, "brand": brand, "status": status, "message": str(exc)}
    return {"tenant": tenant, "brand": brand, **outcome.as_dict()}


@app.command("improve")
def improve_command(
    brand: Annotated[str | None, typer.Option("--brand", help="Brand to improve.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant that owns the brand.")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every brand (of --tenant, or of every tenant): for cron.")
    ] = False,
    min_pairs: Annotated[int, typer.Option(help="New preference pairs a run needs.")] = 8,
    margin: Annotated[float, typer.Option(help="Preference-accuracy gain (0-1) a promotion needs.")] = 0.05,
    tolerance: Annotated[float, typer.Option(help="Largest drop (0-1) in usable/pass rates allowed.")] = 0.05,
    max_steps: Annotated[int, typer.Option(help="Most optimizer steps per training stage.")] = 40,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines (cron).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Train a brand adapter on the feedback since its served version; promote it only if better."""
    from rmnlora.training.improve import ImproveConfig
    from rmnlora.training.improve_decision import PromotionRule

    if every == (brand is not None):
        raise fail("give --brand B (with --tenant T) or --all")
    settings, database = _database()
    if brand is not None:
        owners = [t for t, b in _brands(database, tenant) if b == brand]
        if not owners:
            raise fail(f"no brand {brand!r}" + (f" for tenant {tenant!r}" if tenant else ""), 2)
        if tenant is None and len(owners) > 1:
            raise fail(f"brand {brand!r} exists for several tenants ({', '.join(owners)}): give --tenant", 2)
        targets = [(tenant or owners[0], brand)]
    else:
        targets = _brands(database, tenant)
        if not targets:
            raise fail("no brands" + (f" for tenant {tenant!r}" if tenant else ""), 2)
    try:
        config = ImproveConfig(
            min_pairs=min_pairs,
            max_steps=max_steps,
            rule=PromotionRule(margin=margin, tolerance=tolerance),
            trigger="schedule" if every else "cli",
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    worst = 0
    for owner, name in targets:
        if not quiet and not as_json:
            console.print(f"[bold]{owner}/{name}[/bold]")
        result = _one(settings, database, owner, name, config, quiet or as_json)
        code = 2 if result["status"] == "bad_input" else EXIT.get(result["status"], 1)
        if every and code == 3:
            code = 0  # for cron, "nothing new yet" is the normal case, not an error
        worst = max(worst, code)
        if as_json:
            typer.echo(json.dumps(result, default=str))
        else:
            colour = {"promoted": "green", "refused": "yellow"}.get(result["status"], "red")
            console.print(f"[{colour}]{result['status']}[/{colour}] {owner}/{name}: {result['message']}")
    if worst:
        raise typer.Exit(worst)


def _versions() -> Any:
    from rmnlora.adapters.service import adapters_root
    from rmnlora.adapters.versions import AdapterVersions

    settings, database = _database()
    return AdapterVersions(database, adapters_root(settings))


@adapters_app.command("versions")
def versions_command(
    name: Annotated[str, typer.Argument(help="Brand adapter name (the brand id).")],
    tenant: TenantOpt,
    kind: Annotated[str, typer.Option(help="retailer, brand or task.")] = "brand",
    as_json: JsonFlag = False,
) -> None:
    """Every version of an adapter, which one is served, and the audit trail of changes."""
    from rmnlora.adapters.versions import VersionError

    versions = _versions()
    owner = tenant if kind == "brand" else None
    try:
        history = versions.history(kind, name, owner_tenant_id=owner)
        events = versions.events(kind, name, owner_tenant_id=owner)
    except VersionError as exc:
        raise fail(str(exc), 2) from exc
    if as_json:
        typer.echo(
            json.dumps({"versions": [v.as_dict() for v in history], "events": [e.as_dict() for e in events]})
        )
        return
    for v in history:
        served = "*" if v.status == "promoted" else " "
        pref = (v.metrics.get("candidate") or {}).get("preference_accuracy")
        shown = f" pref.acc {pref:.0%}" if isinstance(pref, float) else ""
        console.print(
            f"{served} {v.label:<24} {v.status:<9} parent={v.parent_version or '-'} "
            f"feedback ({v.feedback_after}, {v.feedback_through}]{shown}  {v.reason[:90]}"
        )
    for e in events:
        console.print(
            f"  {e.created_at:%Y-%m-%d %H:%M} {e.action:<8} {e.from_version} → {e.to_version} {e.actor}"
        )


@adapters_app.command("promote")
def promote_command(
    name: Annotated[str, typer.Argument(help="Brand adapter name.")],
    version: Annotated[int, typer.Argument(help="Version to serve.")],
    tenant: TenantOpt,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
    kind: Annotated[str, typer.Option(help="retailer, brand or task.")] = "brand",
) -> None:
    """Serve a version from the next request on (audited)."""
    from rmnlora.adapters.versions import VersionError

    try:
        info = _versions().promote(
            kind,
            name,
            version,
            owner_tenant_id=tenant if kind == "brand" else None,
            actor="cli",
            reason=reason,
        )
    except VersionError as exc:
        raise fail(str(exc), 2) from exc
    console.print(f"[green]serving[/green] {info.label}")


@adapters_app.command("rollback")
def rollback_command(
    name: Annotated[str, typer.Argument(help="Brand adapter name.")],
    tenant: TenantOpt,
    to: Annotated[
        int | None, typer.Option("--to", help="Version to go back to (default: the previous).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
    kind: Annotated[str, typer.Option(help="retailer, brand or task.")] = "brand",
) -> None:
    """Serve the version served before the current one (or --to N), audited."""
    from rmnlora.adapters.versions import VersionError

    try:
        info = _versions().rollback(
            kind,
            name,
            owner_tenant_id=tenant if kind == "brand" else None,
            to_version=to,
            actor="cli",
            reason=reason,
        )
    except VersionError as exc:
        raise fail(str(exc), 2) from exc
    console.print(f"[green]serving[/green] {info.label}")
