"""`appraisal gateway`: serve the HTTP gateway; `appraisal gateway clients …`: the other
systems' credentials (a new token is printed once, and only its SHA-256 is kept)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import asyncpg
import typer
import uvicorn

from gateway import clients
from infra import logs
from infra.settings import settings
from starter.app import AsJson, china_time, print_json, refuse, run_on_db, table

app = typer.Typer(
    help="the HTTP gateway for other systems (OpenAPI at /docs)", invoke_without_command=True
)
clients_app = typer.Typer(help="other systems' credentials and scopes", no_args_is_help=True)
app.add_typer(clients_app, name="clients")

ClientId = Annotated[str, typer.Argument(help="e.g. ems, hospital-jnfy, hotline-12345")]


@app.callback()
def gateway(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="default: GATEWAY_PORT (8000)")] = None,
) -> None:
    """Serve the gateway (POST /v1/postal/webhooks, /v1/cases/…, /v1/ledger; /docs)."""
    if ctx.invoked_subcommand is not None:
        return
    from gateway.app import create_app  # FastAPI only when serving

    logs.configure()
    config = settings()
    uvicorn.run(create_app(config), host=host, port=port or config.gateway_port, log_config=None)


def checked(client_id: str) -> str:
    if not re.fullmatch(clients.CLIENT_ID, client_id):
        refuse(
            f"客户端编号须为 2-39 位小写字母、数字或连字符 (client id {client_id!r}: "
            "2-39 of a-z, 0-9, -)"
        )
    return client_id


def show_token(client_id: str, token: str, as_json: bool, what: str) -> None:
    if as_json:
        print_json({"client_id": client_id, "token": token})
        return
    typer.echo(f"{what}; its token, shown this once (keep it secret, send it as Bearer):")
    typer.echo(token)


def attempt(work: Callable[[asyncpg.Connection], Awaitable[str]]) -> str:
    try:
        return run_on_db(work)
    except clients.ClientError as refused:
        refuse(str(refused))


@clients_app.command("add")
def add(
    client_id: ClientId,
    name: Annotated[str, typer.Option(help="who it is, e.g. 济宁市第一人民医院")],
    scope: Annotated[
        list[clients.Scope],
        typer.Option(help="what it may do (repeat): postal, examinations, re_appraisal, ledger"),
    ],
    as_json: AsJson = False,
) -> None:
    """Add a client with its scopes; prints its token once."""
    checked(client_id)
    token = attempt(lambda conn: clients.add(conn, client_id, name, scope))
    show_token(client_id, token, as_json, f"client {client_id} added ({', '.join(scope)})")


@clients_app.command("rotate")
def rotate(
    client_id: ClientId,
    grace_hours: Annotated[
        float, typer.Option(min=0, help="how long the old token stays valid (0: not at all)")
    ] = clients.DEFAULT_GRACE.total_seconds() / 3600,
    as_json: AsJson = False,
) -> None:
    """A new token; the old one stays valid for the grace period."""
    grace = timedelta(hours=grace_hours)
    checked(client_id)
    token = attempt(lambda conn: clients.rotate(conn, client_id, grace))
    show_token(
        client_id, token, as_json, f"token of {client_id} rotated (old one valid {grace_hours:g} h)"
    )


@clients_app.command("revoke")
def revoke(client_id: ClientId) -> None:
    """End every token of the client at once, for good."""

    checked(client_id)

    async def work(conn: asyncpg.Connection) -> str:
        await clients.revoke(conn, client_id)
        return ""

    attempt(work)
    typer.echo(f"client {client_id} revoked: its tokens no longer open the gateway")


@clients_app.command("list")
def listing(as_json: AsJson = False) -> None:
    """Every client, its scopes and how many tokens are valid now (never the tokens)."""
    found = run_on_db(clients.listing)
    if as_json:
        print_json([c.model_dump(mode="json") for c in found])
        return
    rows = [
        (
            c.client_id,
            c.name,
            ",".join(c.scopes),
            c.tokens,
            china_time(c.created_at),
            china_time(c.revoked_at) if c.revoked_at else "-",
        )
        for c in found
    ]
    typer.echo(table(["client", "name", "scopes", "valid tokens", "added", "revoked"], rows))
    typer.echo(f"{len(found)} clients")
