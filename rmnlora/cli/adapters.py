"""``rmn adapters list|register|delete`` and ``rmn serve`` (the multi-tenant runtime)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rmnlora.cli.common import console, fail, settings_from_cli
from rmnlora.config import Settings

app = typer.Typer()
adapters_app = typer.Typer(
    name="adapters", help="LoRA adapter registry (retailer, brand and task adapters).", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Owner tenant id (brand adapters need one; else shared).")
]


def _registry():  # type: ignore[no-untyped-def]
    from rmnlora.adapters.registry import AdapterRegistry
    from rmnlora.adapters.service import adapters_root
    from rmnlora.storage import open_db

    settings = settings_from_cli()
    return AdapterRegistry(open_db(settings), adapters_root(settings))


ADMIN_TOKEN_FILE = "admin-token"


def with_admin_token(settings: Settings) -> Settings:
    """``settings`` with an admin token: the configured one, else one generated into
    ``<data_dir>/admin-token`` (mode 0600) on first use and read back later, like the secret key."""
    import secrets

    from rmnlora.storage.crypto import load_or_create_secret

    if settings.runtime.admin_token:
        return settings
    token_file = settings.data_dir / ADMIN_TOKEN_FILE
    token = load_or_create_secret(token_file, secrets.token_urlsafe(32))
    console.print(f"admin token for POST /tenants/register (X-Admin-Token): in {token_file}")
    return settings.model_copy(update={"runtime": settings.runtime.model_copy(update={"admin_token": token})})


@adapters_app.command("list")
def adapters_list(
    tenant: Annotated[str | None, typer.Option(help="Only what this tenant may use (shared + own).")] = None,
    kind: Annotated[str | None, typer.Option(help="retailer, brand or task.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List registered adapters."""
    from rmnlora.adapters.registry import AdapterError

    try:
        found = _registry().list(tenant_id=tenant, kind=kind)
    except AdapterError as exc:
        raise fail(str(exc), 2) from exc
    if as_json:
        typer.echo(json.dumps({"adapters": [a.as_dict() for a in found]}))
        return
    if not found:
        console.print("no adapters registered")
    for a in found:
        owner = a.owner_tenant_id or "shared"
        console.print(f"{a.kind:<9} {a.name:<24} owner={owner:<12} rank={a.rank:<3} {a.path}")


@adapters_app.command("register")
def adapters_register(
    kind: Annotated[str, typer.Argument(help="retailer, brand or task.")],
    name: Annotated[str, typer.Argument(help="Adapter name (a retailer, brand or task name).")],
    path: Annotated[Path, typer.Argument(help="PEFT LoRA folder (adapter_config.json + weights).")],
    tenant: TenantOption = None,
    replace: Annotated[bool, typer.Option(help="Overwrite an adapter of the same identity.")] = False,
    metrics: Annotated[str | None, typer.Option(help="JSON object of evaluation metrics.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a PEFT LoRA folder into the registry and record it."""
    from rmnlora.adapters.registry import AdapterError

    try:
        parsed = json.loads(metrics) if metrics else {}
    except json.JSONDecodeError as exc:
        raise fail(f"--metrics is not valid JSON: {exc}", 2) from exc
    if not isinstance(parsed, dict):
        raise fail("--metrics must be a JSON object", 2)
    try:
        info = _registry().register(kind, name, path, owner_tenant_id=tenant, metrics=parsed, replace=replace)
    except AdapterError as exc:
        raise fail(str(exc), 2) from exc
    if as_json:
        typer.echo(json.dumps({"adapter": info.as_dict()}))
    else:
        console.print(f"registered {info.kind} adapter {info.name!r} (rank {info.rank}) at {info.path}")


@adapters_app.command("delete")
def adapters_delete(
    kind: Annotated[str, typer.Argument(help="retailer, brand or task.")],
    name: Annotated[str, typer.Argument()],
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete an adapter's record and its files; exits 1 when there was no such adapter."""
    from rmnlora.adapters.registry import AdapterError

    try:
        deleted = _registry().delete(kind, name, owner_tenant_id=tenant)
    except AdapterError as exc:
        raise fail(str(exc), 2) from exc
    if as_json:
        typer.echo(json.dumps({"deleted": deleted, "kind": kind, "name": name, "tenant": tenant}))
    elif deleted:
        console.print(f"deleted {kind} adapter {name!r}")
    if not deleted:
        if not as_json:
            console.print(f"[red]error:[/red] no {kind} adapter {name!r} for {tenant or 'shared'}")
        raise typer.Exit(1)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: runtime.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: runtime.port, 8000).")] = None,
) -> None:
    """Run the multi-tenant inference runtime (and the feedback API) with uvicorn."""

    import uvicorn

    from rmnlora.serving.app import create_app
    from rmnlora.storage import open_db

    settings = settings_from_cli()
    database = open_db(settings)
    routers = []
    try:
        from rmnlora.serving.routes.feedback import create_feedback_router

        routers.append(create_feedback_router(lambda: database))
    except ImportError as exc:
        console.print(f"[yellow]feedback API not mounted:[/yellow] {exc}")
    settings = with_admin_token(settings)
    console.print(f"loading base model {settings.model.base_model} ...")
    application = create_app(settings, database=database, extra_routers=routers)
    uvicorn.run(application, host=host or settings.runtime.host, port=port or settings.runtime.port)
