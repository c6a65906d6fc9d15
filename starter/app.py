"""The `appraisal` Typer app and what its commands share: connecting, refusing, sending events.

Every input is checked with the same pydantic models the workflow uses, and every refusal is
printed as a message a clerk can act on (exit code 1)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import asyncpg
import typer
from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from infra import db
from infra.temporal import connect

app = typer.Typer(
    help="劳动能力鉴定 case operations",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")

Actor = Annotated[str, typer.Option(help="who does this (clerk id, expert id, system)")]
EventIdOpt = Annotated[
    str | None, typer.Option("--event", help="idempotency id; repeat it to retry safely")
]


class Refusal(Exception):
    """An operator error: printed as is, exit code 1."""


def refuse(message: str) -> NoReturn:
    typer.echo(f"refused: {message}", err=True)
    raise typer.Exit(1)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except Refusal as refusal:
        refuse(str(refusal))


def run_on_db(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`work` on one PostgreSQL connection (DATABASE_URL or the embedded server)."""

    async def go() -> T:
        conn = await asyncpg.connect(db.resolve_dsn())
        try:
            return await work(conn)
        finally:
            await conn.close()

    return run(go())


def problems(error: ValidationError) -> str:
    return "\n".join(
        f"  - {'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()
    )


def parse_or_exit(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        typer.echo(f"refused: {model.__name__} is not valid:\n{problems(error)}", err=True)
        raise typer.Exit(1) from None


def event(model: type[BaseModel], event_id: str | None, actor: str, **fields: Any) -> Any:
    """An event payload with an id (new unless given) and its sender, validated."""
    given = {k: v for k, v in fields.items() if v is not None}
    return parse_or_exit(
        model, {"event_id": event_id or f"cli-{uuid.uuid4().hex[:16]}", "actor": actor, **given}
    )


async def handle(client: Client, case_id: str) -> WorkflowHandle[Any, Any]:
    found = client.get_workflow_handle(case_id)
    try:
        await found.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise Refusal(f"no case {case_id}") from None
        raise
    return found


def innermost(error: BaseException) -> str:
    """The reason at the bottom of a failure chain (an update refused by an activity's error)."""
    while error.__cause__ is not None or getattr(error, "cause", None) is not None:
        error = getattr(error, "cause", None) or error.__cause__  # type: ignore[assignment]
    return str(error)


def send_update(case_id: str, name: str, payload: BaseModel) -> None:
    async def go() -> str:
        client = await connect()
        case = await handle(client, case_id)
        try:
            result: str = await case.execute_update(name, payload, result_type=str)
        except WorkflowUpdateFailedError as failed:
            raise Refusal(innermost(failed)) from None
        return result

    typer.echo(run(go()))


def send_signal(case_id: str, name: str, payload: BaseModel, done: str) -> None:
    async def go() -> None:
        client = await connect()
        case = await handle(client, case_id)
        await case.signal(name, payload)

    run(go())
    typer.echo(done)
