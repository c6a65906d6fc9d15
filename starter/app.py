"""The `appraisal` Typer app and what its commands share: reaching Temporal and PostgreSQL,
refusing, sending events, and printing (tables, China time, JSON).

Every input is checked with the same pydantic models the workflow uses. Nothing ends in a
traceback: a request that cannot be done prints one line `refused: <reason>` (exit code 1), a
service that cannot be reached one line `error: <reason>` (exit code 3); both on stderr."""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, NoReturn, TypeVar

import asyncpg
import typer
from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from infra import db
from infra.codec import PayloadKeyError
from infra.settings import settings
from infra.temporal import connect, send_event
from schemas.clock import CHINA_TZ, china_text
from schemas.events import CaseEvent
from schemas.problems import problems as field_problems

app = typer.Typer(
    help="劳动能力鉴定 case operations",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")
E = TypeVar("E", bound=CaseEvent)
Case = WorkflowHandle[Any, Any]

REFUSED, UNAVAILABLE = 1, 3  # exit codes: fix the request / try again when the service is back
# Updates and queries wait for a worker's answer; without one they would wait for good.
ANSWER_TIMEOUT = timedelta(seconds=30)

# Who does it: a roster member's staff id (or an expert's id for their own opinion), never a
# role; the operator's own id may be set once in APPRAISAL_ACTOR. The case checks it.
Actor = Annotated[
    str | None,
    typer.Option(
        envvar="APPRAISAL_ACTOR",
        help="your own id on the staff roster (e.g. W0101); default: $APPRAISAL_ACTOR",
    ),
]
NO_ACTOR = (
    "须写明办理人工号 --actor 或设置 APPRAISAL_ACTOR "
    "(who does this: your staff id on the roster, e.g. --actor W0101)"
)
EventIdOpt = Annotated[
    str | None, typer.Option("--event", help="idempotency id; repeat it to retry safely")
]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output (JSON)")]


class Refusal(Exception):
    """The request cannot be done (unknown case, wrong stage, bad input): `refused: ...`."""


class Unavailable(Exception):
    """A service the command needs does not answer: `error: ...`."""


def refuse(message: str) -> NoReturn:
    typer.echo(f"refused: {one_line(message)}", err=True)
    raise typer.Exit(REFUSED)


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(UNAVAILABLE)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except Refusal as refusal:
        refuse(str(refusal))
    except Unavailable as down:
        fail(str(down))
    except RPCError as error:  # Temporal answered, but not with what the command needs
        fail(f"Temporal: {error.message}")
    except asyncpg.PostgresError as error:
        fail(f"PostgreSQL: {error}")
    except PayloadKeyError as error:  # no keys, or not the key a case was encrypted with
        fail(f"payload keys: {error}")


# --- the services ---------------------------------------------------------------------------


async def temporal() -> Client:
    config = settings()
    try:
        return await connect(config)
    except RuntimeError as error:  # the SDK's "Failed client connect: <transport error>"
        raise Unavailable(
            f"cannot reach Temporal at {config.temporal_address} ({transport_reason(error)}): "
            "is the stack running (`make run`)? TEMPORAL_ADDRESS says where it is"
        ) from None


def transport_reason(error: Exception) -> str:
    """'Connection refused' out of the Rust transport error's debug text."""
    found = re.findall(r'message: "([^"]+)"', str(error))
    return found[-1] if found else one_line(str(error))[:200]


@asynccontextmanager
async def database() -> AsyncIterator[asyncpg.Connection]:
    """One connection to DATABASE_URL, or to the embedded server `make run` keeps in DATA_DIR."""
    config = settings()
    embedded = config.data_dir / "postgres"
    dsn = config.database_url or db.running_embedded(embedded)
    if dsn is None:
        raise Unavailable(
            f"no database: DATABASE_URL is not set and no embedded PostgreSQL runs in {embedded}; "
            "start the stack with `make run` or set DATABASE_URL"
        )
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        where = "DATABASE_URL" if config.database_url else f"the embedded server in {embedded}"
        raise Unavailable(f"cannot reach PostgreSQL ({where}): {error}") from None
    try:
        yield conn
    finally:
        await conn.close()


def run_on_db(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`work` on one PostgreSQL connection."""

    async def go() -> T:
        async with database() as conn:
            return await work(conn)

    return run(go())


# --- cases and their events -----------------------------------------------------------------


async def find_case(client: Client, case_id: str) -> Case:
    found = client.get_workflow_handle(case_id)
    try:
        await found.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise Refusal(f"no case {case_id}") from None
        raise
    return found


async def closed(case: Case) -> Refusal:
    state = workflow_state((await case.describe()).status)
    return Refusal(f"case {case.id} is closed ({state}): it takes no more events")


def reason(error: BaseException) -> str:
    """The human reason at the bottom of a failure chain (an update refused by a validator, or
    by an activity's error), without the error type the SDK puts in front ("ValueError: ...")."""
    while (cause := getattr(error, "cause", None) or error.__cause__) is not None:
        error = cause
    return one_line(error.message if isinstance(error, FailureError) else str(error))


def send_update(
    case_id: str,
    # Any: the SDK types `@workflow.update(description=...)` handlers as returning a coroutine.
    update: UpdateMethodMultiParam[[Any, E], Any],
    payload: E,
    as_json: bool = False,
) -> None:
    """The event as an update whose id is the event id: the server answers a repeat with the
    first outcome."""

    async def go() -> str:
        case = await find_case(await temporal(), case_id)
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT.total_seconds()):
                result = await send_event(case, update, payload, payload.event_id)
            return str(result)
        except WorkflowUpdateFailedError as failed:
            raise Refusal(reason(failed)) from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise no_answer(
                case_id, f"repeating it with --event {payload.event_id} is safe"
            ) from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise await closed(case) from None
            raise

    answer(case_id, run(go()), as_json)


def no_answer(case_id: str, advice: str) -> Unavailable:
    return Unavailable(
        f"case {case_id} did not answer within {ANSWER_TIMEOUT.seconds} s: is a worker running "
        f"on task queue {settings().task_queue}? {advice}"
    )


def send_signal(
    case_id: str,
    signal: Callable[[Any, E], Awaitable[None]],
    payload: E,
    done: str,
    as_json: bool = False,
) -> None:
    """A fact reported by another system; the workflow ignores a repeated event id."""

    async def go() -> None:
        case = await find_case(await temporal(), case_id)
        try:
            await case.signal(signal, payload)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise await closed(case) from None
            raise

    run(go())
    answer(case_id, done, as_json)


def answer(case_id: str, text: str, as_json: bool) -> None:
    if as_json:
        print_json({"case_id": case_id, "answer": text})
    else:
        typer.echo(text)


# --- input ----------------------------------------------------------------------------------


def problems(error: ValidationError) -> str:
    """Every field and reason on one line, never a value (the workflow words them the same)."""
    return "; ".join(field_problems(error))


def parse_or_exit(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        refuse(f"{model.__name__} is not valid: {problems(error)}")


def event(model: type[E], event_id: str | None, actor: str | None, **fields: Any) -> E:
    """An event payload with an id (new unless given) and its sender, validated; refused
    without a sender (--actor or APPRAISAL_ACTOR)."""
    if not actor:
        refuse(NO_ACTOR)
    given = {k: v for k, v in fields.items() if v is not None}
    parsed: E = parse_or_exit(
        model, {"event_id": event_id or f"cli-{uuid.uuid4().hex[:16]}", "actor": actor, **given}
    )
    return parsed


# pydantic's text: "<loc>\n  <msg> [type=..., input_value=...]" per problem.
PYDANTIC_PROBLEM = re.compile(r"^(\S[^\n]*)\n  ([^\n]+?)(?: \[type=[^\n]*)?$", re.MULTILINE)


def one_line(text: str) -> str:
    """A message on one line; pydantic's multi-line text as `loc: msg; ...` (without the
    input it repeats, which may be personal data)."""
    if "validation error" in text.partition("\n")[0]:
        found = PYDANTIC_PROBLEM.findall(text)
        if found:
            return "; ".join(f"{loc}: {msg.removeprefix('Value error, ')}" for loc, msg in found)
    return " ".join(text.split())


# --- output ---------------------------------------------------------------------------------

CHINA = "北京时间"


china_time = china_text  # an instant as people here read it: '2026-10-15 09:00 北京时间'.


def deadline_time(instant: datetime) -> str:
    """A deadline passes at midnight: shown as the end of its last day, '2026-10-15 24:00'."""
    local = instant.astimezone(CHINA_TZ)
    if local.time() == time(0):
        return f"{local - timedelta(days=1):%Y-%m-%d} 24:00 {CHINA}"
    return china_time(local)


def _json_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_text(data: Any) -> str:
    """JSON as the commands print it; times in China time, ISO 8601 with the offset."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_value)


def print_json(data: Any) -> None:
    """JSON on stdout; times in China time, ISO 8601 with the offset."""
    typer.echo(json_text(data))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Plain-text columns under a header; Chinese characters count two columns wide."""
    cells = [list(headers)] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    cells.insert(1, ["-" * w for w in widths])
    return "\n".join(
        "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def yes(flag: bool | None) -> str:
    return "yes" if flag else "no"


def workflow_state(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status else "-"
