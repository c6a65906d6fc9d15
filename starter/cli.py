"""`appraisal`: the operators' command line. Every input is checked with the same pydantic
models the workflow uses, and every refusal is printed as a message a clerk can act on."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from infra import db
from infra.process import run_and_exit
from infra.settings import settings
from infra.temporal import connect
from schemas.application import AppraisalApplication
from schemas.events import ConclusionDecision, ExpertOpinion, PostalEvent, PostalStatus
from schemas.outcome import Outcome, SelfCare, Verdict
from schemas.status import CaseStatus
from schemas.steps import STAGE_LABELS
from workflows import search_attributes as sa
from workflows.case import AppraisalCase

app = typer.Typer(
    help="劳动能力鉴定 case operations",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")

Actor = Annotated[str, typer.Option(help="who does this (clerk id, expert id, system)")]
EventIdOpt = Annotated[
    str | None, typer.Option(help="idempotency id; repeat it to retry safely (default: new)")
]


class Refusal(Exception):
    """An operator error: printed as is, exit code 1."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except Refusal as refusal:
        typer.echo(f"refused: {refusal}", err=True)
        raise typer.Exit(1) from None


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


async def new_case_id() -> str:
    config = settings()
    conn = await asyncpg.connect(db.resolve_dsn(config))
    try:
        number = await conn.fetchval("SELECT nextval('case_number_seq')")
    finally:
        await conn.close()
    return f"{config.case_prefix}-{datetime.now(UTC).year}-{number:06d}"


def summary(application: AppraisalApplication, case_id: str) -> str:
    flags = [application.case_type.value, application.mode.value]
    if application.green_channel:
        flags.append("绿色通道 green channel")
    return f"{case_id} · " + " · ".join(flags)


async def handle(client: Client, case_id: str) -> WorkflowHandle[Any, Any]:
    handle = client.get_workflow_handle(case_id)
    try:
        await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise Refusal(f"no case {case_id}") from None
        raise
    return handle


async def update(case_id: str, name: str, event: BaseModel) -> None:
    client = await connect()
    case = await handle(client, case_id)
    try:
        typer.echo(await case.execute_update(name, event, result_type=str))
    except WorkflowUpdateFailedError as failed:
        raise Refusal(str(failed.cause or failed)) from None


@app.command()
def start(
    file: Annotated[str, typer.Argument(help="application JSON file, or - for standard input")],
    case_id: Annotated[
        str | None, typer.Option(help="case number (default: next JN-YYYY-NNNNNN)")
    ] = None,
) -> None:
    """Start a case from an application (鉴定申请)."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        typer.echo(f"refused: the application is not JSON: {error}", err=True)
        raise typer.Exit(1) from None
    application = parse_or_exit(AppraisalApplication, data)

    async def go() -> str:
        client = await connect()
        number = case_id or await new_case_id()
        try:
            await client.start_workflow(
                AppraisalCase.run,
                application,
                id=number,
                task_queue=settings().task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=summary(application, number),
            )
        except WorkflowAlreadyStartedError:
            raise Refusal(f"case {number} already exists") from None
        return number

    typer.echo(run(go()))


@app.command()
def status(
    case_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Where a case stands: stage, panel, opinions, letters, pending actions."""

    async def go() -> CaseStatus:
        client = await connect()
        case = await handle(client, case_id)
        result: CaseStatus = await case.query(AppraisalCase.status)
        return result

    current = run(go())
    if as_json:
        typer.echo(current.model_dump_json(indent=2))
        return
    typer.echo(
        f"{current.case_id}  {current.case_type.value}  {STAGE_LABELS[current.stage]} ({current.stage.value})"
    )
    if current.panel:
        for member in current.panel.members:
            opinion = current.opinions.get(member.expert_id)
            typer.echo(
                f"  expert {member.expert_id} {member.name} {member.title}: "
                f"{opinion.label() if opinion else '-'}"
            )
    if current.conclusion:
        typer.echo(f"  conclusion: {current.conclusion.label()}")
    for shipment in current.shipments:
        typer.echo(
            f"  letter to {shipment.recipient.value}: {shipment.waybill_no} {shipment.status}"
        )
    for action in current.pending_actions:
        typer.echo(f"  pending: {action}")


def event_id(given: str | None) -> str:
    return given or f"cli-{uuid.uuid4().hex[:16]}"


@app.command()
def opinion(
    case_id: str,
    expert: Annotated[str, typer.Option(help="expert id, a panel member")],
    verdict: Annotated[
        Verdict, typer.Option(help="grade_1..grade_10, below_grade, or illness scale")
    ],
    self_care: Annotated[SelfCare, typer.Option()] = SelfCare.none,
    actor: Actor = "clerk",
    event: EventIdOpt = None,
) -> None:
    """Record an expert's opinion (专家意见) at the appraisal site."""
    payload = parse_or_exit(
        ExpertOpinion,
        {
            "event_id": event_id(event),
            "actor": actor,
            "expert_id": expert,
            "outcome": {"verdict": verdict, "self_care": self_care},
        },
    )
    run(update(case_id, "record_opinion", payload))


@app.command()
def conclude(
    case_id: str,
    verdict: Annotated[Verdict, typer.Option()],
    self_care: Annotated[SelfCare, typer.Option()] = SelfCare.none,
    basis: Annotated[str, typer.Option(help="standard applied")] = "GB/T 16180-2014",
    actor: Actor = "committee",
    event: EventIdOpt = None,
) -> None:
    """Issue the committee's conclusion (鉴定结论), following the panel majority."""
    payload = parse_or_exit(
        ConclusionDecision,
        {
            "event_id": event_id(event),
            "actor": actor,
            "basis": basis,
            "outcome": Outcome(verdict=verdict, self_care=self_care),
        },
    )
    run(update(case_id, "issue_conclusion", payload))


@app.command()
def postal(
    case_id: str,
    waybill: Annotated[str, typer.Option(help="EMS waybill number")],
    status: Annotated[PostalStatus, typer.Option()] = PostalStatus.delivered,
    signer: Annotated[str | None, typer.Option(help="who signed for it")] = None,
    at: Annotated[str | None, typer.Option(help="ISO time with offset (default now)")] = None,
    reason: Annotated[str | None, typer.Option(help="why it came back")] = None,
    actor: Actor = "ems",
    event: EventIdOpt = None,
) -> None:
    """Report a postal tracking event (EMS 签收 / 退回) for a conclusion letter."""
    payload: PostalEvent = parse_or_exit(
        PostalEvent,
        {
            "event_id": event_id(event),
            "actor": actor,
            "waybill_no": waybill,
            "status": status,
            "occurred_at": at or datetime.now(UTC).isoformat(),
            "signer": signer,
            "reason": reason,
        },
    )

    async def go() -> None:
        client = await connect()
        case = await handle(client, case_id)
        await case.signal(AppraisalCase.postal_event, payload)

    run(go())
    typer.echo(f"postal event {payload.status.value} sent for {waybill}")


@app.command("list")
def list_cases(
    query: Annotated[str, typer.Option(help="visibility query")] = "WorkflowType = 'AppraisalCase'",
    limit: int = 50,
) -> None:
    """List cases, e.g. --query \"CaseStage = 'conclusion' AND GreenChannel = true\"."""

    async def go() -> list[str]:
        client = await connect()
        rows = []
        async for wf in client.list_workflows(query, limit=limit):
            found = wf.typed_search_attributes
            rows.append(
                f"{wf.id}  {wf.status.name if wf.status else '-'}"
                f"  {found.get(sa.CASE_TYPE) or '-'}  {found.get(sa.CASE_STAGE) or '-'}"
            )
        return rows

    for row in run(go()):
        typer.echo(row)


def main() -> None:
    """Console entry point `appraisal`."""
    run_and_exit(app)
