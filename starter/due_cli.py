"""`appraisal due`: the work queue across open cases, soonest first.

The live case is the truth: the running cases come from Temporal's visibility (the stage,
green-channel and overdue filters go into its query as search attributes), then each case is
asked its `status` query, a bounded number at a time. The search attributes may lag a step
behind the case, so the filters are applied again to what each case answers. A case that does
not answer is listed as such."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated

import typer
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from schemas.status import CaseStatus, WaitsFor
from schemas.steps import Stage
from schemas.vocabulary import ClockName
from starter.app import (
    AsJson,
    Refusal,
    app,
    deadline_time,
    one_line,
    print_json,
    reason,
    run,
    table,
    temporal,
    yes,
)
from starter.case_cli import stage_name
from starter.experts_cli import Input, parse
from workflows.case import AppraisalCase

ASKED_AT_ONCE = 16  # status queries in flight: each takes a worker's turn
QUERY_TIMEOUT = timedelta(seconds=10)  # a case that takes longer is listed as not answering


class DueAction(BaseModel):
    """One row of the work queue: a pending action of a case, or a case that did not answer."""

    case_id: str
    stage: Stage | None = None
    green_channel: bool = False
    action: str
    waits_for: WaitsFor | None = None
    clock: ClockName | None = None
    due_at: datetime | None = None  # China time
    overdue: bool = False
    answered: bool = True


def visibility_query(stage: Stage | None, overdue: bool, green: bool) -> str:
    """The running cases the filters may match, as Temporal's list filter reads them."""
    query = "WorkflowType = 'AppraisalCase' AND ExecutionStatus = 'Running'"
    if stage is not None:
        query += f" AND CaseStage = '{stage.value}'"
    if overdue:
        query += " AND Overdue = true"
    if green:
        query += " AND GreenChannel = true"
    return query


async def ask(client: Client, case_id: str, turns: asyncio.Semaphore) -> CaseStatus | str:
    """The case's status, or why it gave none."""
    async with turns:
        try:
            return await client.get_workflow_handle(case_id).query(
                AppraisalCase.status, rpc_timeout=QUERY_TIMEOUT
            )
        except WorkflowQueryFailedError as failed:
            return reason(failed)
        except RPCError as error:
            return one_line(error.message) or error.status.name.lower()


def rows_of(case_id: str, answer: CaseStatus | str) -> list[DueAction]:
    if isinstance(answer, str):
        return [DueAction(case_id=case_id, action=f"no answer: {answer}", answered=False)]
    return [
        DueAction(
            case_id=case_id,
            stage=answer.stage,
            green_channel=answer.green_channel,
            **pending.model_dump(),
        )
        for pending in answer.pending
    ]


def wanted(
    row: DueAction, stage: Stage | None, roles: list[WaitsFor], overdue: bool, green: bool
) -> bool:
    """The filters against the live answer; a case that did not answer is always shown."""
    if not row.answered:
        return True
    return (
        (stage is None or row.stage is stage)
        and (not roles or row.waits_for in roles)
        and (not overdue or row.overdue)
        and (not green or row.green_channel)
    )


def soonest_first(row: DueAction) -> tuple[bool, float, str]:
    """By due time; actions without one, and cases that did not answer, last."""
    return (row.due_at is None, row.due_at.timestamp() if row.due_at else 0.0, row.case_id)


async def work_queue(
    stage: Stage | None, roles: list[WaitsFor], overdue: bool, green: bool
) -> list[DueAction]:
    client = await temporal()
    query = visibility_query(stage, overdue, green)
    try:
        case_ids = [wf.id async for wf in client.list_workflows(query)]
    except RPCError as error:
        raise Refusal(f"Temporal cannot filter cases ({error.message})") from None
    turns = asyncio.Semaphore(ASKED_AT_ONCE)
    answers = await asyncio.gather(*(ask(client, case_id, turns) for case_id in case_ids))
    rows = [
        row
        for case_id, answer in zip(case_ids, answers, strict=True)
        for row in rows_of(case_id, answer)
        if wanted(row, stage, roles, overdue, green)
    ]
    return sorted(rows, key=soonest_first)


def due_text(row: DueAction) -> str | None:
    return deadline_time(row.due_at) if row.due_at else None


class DueFilter(Input):
    stage: Stage | None = None
    roles: list[WaitsFor] = Field(default_factory=list)


ROLES = ", ".join(WaitsFor)


@app.command()
def due(
    stage: Annotated[
        str | None,
        typer.Option(help="only cases in this stage: " + ", ".join(Stage)),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(help=f"only actions waiting for this role (repeat for several): {ROLES}"),
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="only overdue actions")] = False,
    green: Annotated[bool, typer.Option("--green", help="only green-channel cases")] = False,
    as_json: AsJson = False,
) -> None:
    """The work queue: what open cases wait for, from whom, by when (北京时间), soonest first."""
    given = parse(DueFilter, stage=stage, roles=role or [])
    rows = run(work_queue(given.stage, given.roles, overdue, green))
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    headers = ["due", "overdue", "case", "stage", "waits for", "action"]
    cells = [
        [
            due_text(row),
            yes(row.overdue),
            row.case_id + (" 绿色通道" if row.green_channel else ""),
            stage_name(row.stage) if row.stage else None,
            row.waits_for.value if row.waits_for else None,
            row.action,
        ]
        for row in rows
    ]
    typer.echo(table(headers, cells))
    cases = len({row.case_id for row in rows})
    silent = sum(not row.answered for row in rows)
    typer.echo(
        f"{len(rows) - silent} actions in {cases - silent} cases"
        + (f"; {silent} cases did not answer" if silent else "")
    )
