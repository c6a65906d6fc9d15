"""Case commands: number, start, status, list."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.storage import allocate_case_number
from infra.settings import settings
from infra.temporal import start_case
from schemas.application import AppraisalApplication
from schemas.clock import CHINA_TZ
from schemas.status import CaseStatus, Deadline
from schemas.steps import STAGE_LABELS, Stage
from starter.app import (
    ANSWER_TIMEOUT,
    AsJson,
    Case,
    Refusal,
    app,
    china_time,
    database,
    deadline_time,
    find_case,
    no_answer,
    parse_or_exit,
    print_json,
    reason,
    refuse,
    run,
    table,
    temporal,
    workflow_state,
    yes,
)
from workflows import search_attributes as sa
from workflows.case import AppraisalCase
from workflows.rules import application_problems


async def new_case_id() -> str:
    """The next free case number of this China-time year, from PostgreSQL."""
    async with database() as conn:
        year = datetime.now(CHINA_TZ).year
        return await allocate_case_number(conn, settings().case_prefix, year)


@app.command()
def number(as_json: AsJson = False) -> None:
    """Take the next free case number, for a case started from the Web UI."""
    show_case_id(run(new_case_id()), as_json)


def show_case_id(case_id: str, as_json: bool) -> None:
    if as_json:
        print_json({"case_id": case_id})
    else:
        typer.echo(case_id)


def summary(application: AppraisalApplication, case_id: str) -> str:
    flags = [application.case_type.value, application.mode.value, application.jurisdiction.value]
    if application.green_channel:
        flags.append("绿色通道 green channel")
    return f"{case_id} · " + " · ".join(flags)


def read_application(file: str) -> Any:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as error:
        refuse(f"cannot read {file}: {error.strerror}")
    except UnicodeDecodeError:
        refuse(f"{file} is not UTF-8 text")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        refuse(f"the application is not JSON: {error}")


@app.command()
def start(
    file: Annotated[str, typer.Argument(help="application JSON file, or - for standard input")],
    case_id: Annotated[
        str | None, typer.Option(help="case number (default: next JN-YYYY-NNNNNN)")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Start a case from an application (鉴定申请)."""
    application = parse_or_exit(AppraisalApplication, read_application(file))
    if found := application_problems(application):
        refuse(f"AppraisalApplication is not valid: {found}")

    async def go() -> str:
        client = await temporal()
        while True:
            number = case_id or await new_case_id()
            try:
                await start_case(
                    client,
                    application,
                    number,
                    # A case number is used once, ever: also after the case closed.
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=summary(application, number),
                )
                return number
            except WorkflowAlreadyStartedError:
                if case_id:
                    raise Refusal(f"case {number} already exists") from None
                # Taken through the UI a moment ago, not yet registered: take the next one.

    show_case_id(run(go()), as_json)


@app.command()
def status(case_id: str, as_json: AsJson = False) -> None:
    """Where a case stands: stage, deadlines, panel, appointment, letters, pending actions."""

    async def go() -> CaseStatus:
        case = await find_case(await temporal(), case_id)
        try:
            return await case.query(AppraisalCase.status, rpc_timeout=ANSWER_TIMEOUT)
        except WorkflowQueryFailedError as failed:
            raise Refusal(await no_status(case, failed)) from None
        except RPCError as error:
            # The client's own deadline comes back as CANCELLED ("Timeout expired").
            if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise no_answer(case_id, "try again when it runs") from None
            raise

    current = run(go())
    typer.echo(current.model_dump_json(indent=2) if as_json else describe(current))


async def no_status(case: Case, failed: WorkflowQueryFailedError) -> str:
    """Why a case cannot answer: above all, a case that failed on its input never had a status."""
    if (await case.describe()).status == WorkflowExecutionStatus.FAILED:
        try:
            await case.result()
        except WorkflowFailureError as failure:
            return (
                f"case {case.id} failed and has no status: {reason(failure)}; "
                "start a new case with the corrected application"
            )
    return f"case {case.id} cannot answer its status now: {reason(failed)}"


def describe(current: CaseStatus) -> str:
    """The status as a clerk reads it; every time in China time."""
    head = f"{current.case_id}  {current.case_type.value}  {stage_name(current.stage)}"
    head += f"  {current.mode.value}  {current.jurisdiction.value}"
    lines = [head + ("  绿色通道" if current.green_channel else "")]
    if grant := current.green_channel_grant:
        lines.append(f"green channel: {grant.label()}")
    if current.receipt_date:
        lines.append(f"received {current.receipt_date}, complete {current.complete_on or '-'}")
    lines += section(
        "stages",
        ["stage", "entered"],
        [[stage_name(s.stage), china_time(s.entered_at)] for s in current.stages],
    )
    lines += section(
        "deadlines",
        ["clock", "last day", "passes", "left", "overdue"],
        [
            [d.name, d.due_on, deadline_time(d.due_at), left(d), yes(d.overdue)]
            for d in current.deadlines
        ],
    )
    warnings = dict.fromkeys(d.calendar_warning for d in current.deadlines if d.calendar_warning)
    lines += [f"warning: {warning}" for warning in warnings]
    if current.deadline_shift_days:
        lines.append(f"conclusion deadline moved by {current.deadline_shift_days} days")
    if current.appointment:
        booked = current.appointment
        lines.append(
            f"appointment  {china_time(booked.starts_at)}  {booked.place}  "
            f"({booked.mode.value}, {booked.session_id})"
            + (f"  attendance: {current.attendance}" if current.attendance else "")
        )
    if current.panel:
        panel = current.panel
        lines += section(
            f"panel (draw {panel.attempt}, {panel.eligible} of {panel.pool_size} eligible)",
            ["expert", "name", "title", "opinion"],
            [
                [m.expert_id, m.name, m.title, label(current.opinions.get(m.expert_id))]
                for m in panel.members
            ],
        )
        lines += section(
            "recused",
            ["expert", "reason", "detail"],
            [[x.expert_id, x.reason.value, x.detail] for x in panel.exclusions],
        )
    if current.panel_majority or current.conclusion:
        lines.append(
            f"majority: {label(current.panel_majority)}  conclusion: {label(current.conclusion)}"
        )
    lines += section(
        "letters",
        ["to", "waybill", "status", "delivered", "signer"],
        [
            [
                s.recipient.value,
                s.waybill_no,
                s.status,
                china_time(s.delivered_at) if s.delivered_at else None,
                s.signer,
            ]
            for s in current.shipments
        ],
    )
    lines += delivery_lines(current)
    if current.closed_reason:
        lines.append(f"closed: {current.closed_reason}")
    if current.archive_sha256:
        lines.append(f"archive sha256 {current.archive_sha256}")
    if current.archive_seal:
        lines.append(f"archive signed by key {current.archive_seal.statement.key_id}")
    if current.pending_actions:
        lines.append("pending")
        lines += [f"  - {action}" for action in current.pending_actions]
    return "\n".join(lines)


def delivery_lines(current: CaseStatus) -> list[str]:
    """Delivery in full: each recipient's letter to its delivery date, public notices, the
    dispute windows and the referral."""
    lines = section(
        "delivery",
        ["to", "attempt", "delivered", "how", "returned", "dispute window ends"],
        [
            [
                d.recipient.value,
                d.attempt,
                d.delivered_on,
                ("deemed (公告)" if d.deemed else "signed") if d.delivered_on else None,
                "; ".join(r.reason for r in d.returns) or None,
                d.dispute_window_ends,
            ]
            for d in current.deliveries
        ],
    )
    for d in current.deliveries:
        if notice := d.public_notice:
            lines.append(
                f"public notice ({d.recipient.value}): {china_time(notice.published_at)}, "
                f"{notice.place}; deemed delivered {notice.deemed_delivered_on}"
            )
    if current.referral_id:
        lines.append(f"re-appraisal referred to the province: {current.referral_id}")
    return lines


def section(title: str, headers: list[str], rows: list[list[Any]]) -> list[str]:
    """A titled, indented table; nothing when there are no rows."""
    if not rows:
        return []
    return [title] + ["  " + line for line in table(headers, rows).splitlines()]


def stage_name(stage: Stage | str) -> str:
    try:
        return f"{STAGE_LABELS[Stage(stage)]} {stage}"
    except ValueError:
        return str(stage)


def label(outcome: Any) -> str:
    return outcome.label() if outcome else "-"


def left(deadline: Deadline) -> str:
    seconds = deadline.seconds_left
    if seconds <= 0:
        return "passed"
    days, rest = divmod(int(seconds), 86400)
    return f"{days} d {rest // 3600} h" if days else f"{rest // 3600} h {rest % 3600 // 60} min"


@app.command("list")
def list_cases(
    query: Annotated[str, typer.Option(help="visibility query")] = "WorkflowType = 'AppraisalCase'",
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: AsJson = False,
) -> None:
    """List cases, e.g. --query \"CaseStage = 'conclusion' AND GreenChannel = true\"."""

    async def go() -> list[dict[str, Any]]:
        client = await temporal()
        rows = []
        try:
            async for wf in client.list_workflows(query, limit=limit):
                found = wf.typed_search_attributes
                rows.append(
                    {
                        "case_id": wf.id,
                        "status": workflow_state(wf.status),
                        "case_type": found.get(sa.CASE_TYPE),
                        "stage": found.get(sa.CASE_STAGE),
                        "next_deadline": found.get(sa.NEXT_DEADLINE),
                        "overdue": bool(found.get(sa.OVERDUE)),
                        "green_channel": bool(found.get(sa.GREEN_CHANNEL)),
                    }
                )
        except RPCError as error:
            if error.status == RPCStatusCode.INVALID_ARGUMENT:
                raise Refusal(
                    f"the query is not valid ({error.message}); "
                    "write it like --query \"CaseStage = 'delivery' AND Overdue = true\""
                ) from None
            raise
        return rows

    rows = run(go())
    if as_json:
        print_json(rows)
        return
    headers = ["case", "status", "type", "stage", "next deadline", "overdue", "green channel"]
    typer.echo(
        table(
            headers,
            [
                [
                    r["case_id"],
                    r["status"],
                    r["case_type"],
                    stage_name(r["stage"]) if r["stage"] else None,
                    deadline_time(r["next_deadline"]) if r["next_deadline"] else None,
                    yes(r["overdue"]),
                    yes(r["green_channel"]),
                ]
                for r in rows
            ],
        )
    )
    typer.echo(f"{len(rows)} cases")
