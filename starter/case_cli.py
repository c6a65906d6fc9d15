"""Case commands: start, status, list."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from infra import db
from infra.settings import settings
from infra.temporal import connect
from schemas.application import AppraisalApplication
from schemas.status import CaseStatus
from schemas.steps import STAGE_LABELS
from starter.app import Refusal, app, handle, parse_or_exit, run
from workflows import search_attributes as sa
from workflows.case import AppraisalCase


async def new_case_id() -> str:
    config = settings()
    conn = await asyncpg.connect(db.resolve_dsn(config))
    try:
        number = await conn.fetchval("SELECT nextval('case_number_seq')")
    finally:
        await conn.close()
    return f"{config.case_prefix}-{datetime.now(UTC).year}-{number:06d}"


def summary(application: AppraisalApplication, case_id: str) -> str:
    flags = [application.case_type.value, application.mode.value, application.jurisdiction.value]
    if application.green_channel:
        flags.append("绿色通道 green channel")
    return f"{case_id} · " + " · ".join(flags)


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
                # A case number is used once, ever: also after the case closed.
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
    """Where a case stands: stage, deadlines, panel, appointment, letters, pending actions."""

    async def go() -> CaseStatus:
        client = await connect()
        case = await handle(client, case_id)
        result: CaseStatus = await case.query(AppraisalCase.status)
        return result

    current = run(go())
    typer.echo(current.model_dump_json(indent=2) if as_json else describe(current))


def describe(current: CaseStatus) -> str:
    lines = [
        f"{current.case_id}  {current.case_type.value}  {STAGE_LABELS[current.stage]} ({current.stage.value})"
        + ("  绿色通道" if current.green_channel else "")
    ]
    for deadline in current.deadlines:
        flag = "  OVERDUE" if deadline.overdue else ""
        lines.append(f"  deadline {deadline.name}: {deadline.due_on}{flag}")
    if current.panel:
        for member in current.panel.members:
            opinion = current.opinions.get(member.expert_id)
            lines.append(
                f"  expert {member.expert_id} {member.name} {member.title}: "
                f"{opinion.label() if opinion else '-'}"
            )
        for exclusion in current.panel.exclusions:
            lines.append(
                f"  recused {exclusion.expert_id}: {exclusion.reason.value} {exclusion.detail}"
            )
    if current.appointment:
        at = current.appointment.starts_at
        lines.append(
            f"  appointment {current.appointment.session_id} {at:%Y-%m-%d %H:%M} {current.appointment.place}"
        )
    if current.conclusion:
        lines.append(f"  conclusion: {current.conclusion.label()}")
    for shipment in current.shipments:
        lines.append(
            f"  letter to {shipment.recipient.value}: {shipment.waybill_no} {shipment.status}"
        )
    if current.closed_reason:
        lines.append(f"  closed: {current.closed_reason}")
    lines += [f"  pending: {action}" for action in current.pending_actions]
    return "\n".join(lines)


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
                f"{'  绿色通道' if found.get(sa.GREEN_CHANNEL) else ''}"
                f"{'  OVERDUE' if found.get(sa.OVERDUE) else ''}"
            )
        return rows

    for row in run(go()):
        typer.echo(row)
