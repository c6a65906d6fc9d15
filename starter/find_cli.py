"""`appraisal find`: a worker's cases, oldest first, from the PostgreSQL projection.

A worker is found by the keyed hash of the citizen ID (`cases.worker_ref`), never by the number:
it is read from an option or standard input (`--citizen-id -`, hidden at a terminal), checked,
hashed and forgotten; the output names the worker only by a short prefix of the hash. For each
concluded case it says from when a review appraisal (复查) may be applied for and whether the
re-appraisal window (申请再次鉴定期限) still runs (DOMAIN.md)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Self

import typer
from pydantic import BaseModel, Field, model_validator
from temporalio.exceptions import ApplicationError

from activities.policy import read_policy
from activities.storage import worker_ref
from activities.workdays import HolidayCalendar, due_date
from infra.settings import settings
from schemas.application import CaseType
from schemas.clock import CHINA_TZ, today
from schemas.identifiers import CitizenId
from schemas.policy import DeadlinePolicy
from schemas.steps import Stage
from schemas.workdays import DayUnit, DueRequest
from starter.app import (
    CHINA,
    AsJson,
    Refusal,
    Unavailable,
    app,
    database,
    print_json,
    run,
    table,
)
from starter.case_cli import stage_name
from starter.experts_cli import Input, parse, subject_label
from workflows.rules import add_years


class FindInput(Input):
    citizen_id: CitizenId | None = Field(default=None, repr=False)
    case: Annotated[str, Field(min_length=1, max_length=40)] | None = None

    @model_validator(mode="after")
    def one_key(self) -> Self:
        if (self.citizen_id is None) == (self.case is None):
            raise ValueError("请只给一项: --citizen-id 或 --case (give one of them)")
        return self


class FoundCase(BaseModel):
    case_id: str
    case_type: str
    stage: Stage
    received_on: date
    accepted_on: date | None = None  # the complete application (受理)
    concluded_on: date | None = None
    outcome: str | None = None
    open: bool
    closed_reason: str | None = None
    review_from: date | None = None  # 复查鉴定: from this day on
    review_open: bool = False
    re_appraisal: str | None = None  # the dispute window, in words
    re_appraisal_ends: date | None = None
    re_appraisal_open: bool = False


CASES = """
SELECT c.case_id, c.case_type, c.stage, c.received_at, c.complete_at, c.open, c.outcome_label,
       c.closed_reason,
       (SELECT data->>'complete_on' FROM case_events
         WHERE case_id = c.case_id AND kind = 'application.accepted' LIMIT 1) AS complete_on,
       (SELECT min(occurred_at) FROM case_events
         WHERE case_id = c.case_id AND kind = 'conclusion.issued') AS concluded_at,
       (SELECT data::text FROM case_events
         WHERE case_id = c.case_id AND kind = 'delivery.completed' LIMIT 1) AS delivered,
       (SELECT data::text FROM case_events
         WHERE case_id = c.case_id AND kind = 'dispute_window.ended' LIMIT 1) AS window_ended,
       EXISTS (SELECT 1 FROM case_events
                WHERE case_id = c.case_id AND kind = 're_appraisal.referred') AS referred
FROM cases c WHERE c.worker_ref = $1 ORDER BY c.received_at, c.case_id
"""


def china_day(at: datetime) -> date:
    return at.astimezone(CHINA_TZ).date()


def delivery_dates(data: dict[str, Any]) -> list[date]:
    """Each letter's delivery date from `delivery.completed` (in full: a date per recipient;
    before delivery in full: the instant signed for)."""
    dates = []
    for value in data.values():
        if isinstance(value, dict) and value.get("delivered_on"):
            dates.append(date.fromisoformat(value["delivered_on"]))
        elif isinstance(value, str) and value not in ("", "None"):
            dates.append(china_day(datetime.fromisoformat(value)))
    return dates


def window_end(delivered: list[date], policy: DeadlinePolicy, calendar: HolidayCalendar) -> date:
    """The last day a party may apply for re-appraisal, counted as the case counts it."""
    days = policy.dispute_window_days
    return max(
        due_date(DueRequest(start=d, days=days, unit=DayUnit.calendar_days), calendar).due
        for d in delivered
    )


def found_case(
    row: Mapping[str, Any], policy: DeadlinePolicy, calendar: HolidayCalendar
) -> FoundCase:
    concluded = row["concluded_at"] and china_day(row["concluded_at"])
    accepted = (
        date.fromisoformat(row["complete_on"])
        if row["complete_on"]
        else row["complete_at"] and china_day(row["complete_at"])
    )
    case = FoundCase(
        case_id=row["case_id"],
        case_type=row["case_type"],
        stage=Stage(row["stage"]),
        received_on=china_day(row["received_at"]),
        accepted_on=accepted,
        concluded_on=concluded,
        outcome=row["outcome_label"],
        open=row["open"],
        closed_reason=row["closed_reason"],
    )
    if concluded is None:
        return case
    if case.case_type != CaseType.illness.value:  # an illness case is re-applied, not reviewed
        case.review_from = add_years(concluded, policy.review_after_years)
        case.review_open = today() >= case.review_from
    delivered = delivery_dates(json.loads(row["delivered"])) if row["delivered"] else []
    if case.case_type == CaseType.re_appraisal.value:
        case.re_appraisal = "none: the re-appraisal conclusion is final (最终结论)"
    elif row["referred"]:
        case.re_appraisal = "requested: referred to the province (已移送)"
    elif row["window_ended"]:
        ends = [date.fromisoformat(d) for d in json.loads(row["window_ended"]).values() if d]
        case.re_appraisal_ends = max(ends, default=None)
        case.re_appraisal = "passed"
    elif delivered:
        case.re_appraisal_ends = window_end(delivered, policy, calendar)
        case.re_appraisal_open = today() <= case.re_appraisal_ends
        case.re_appraisal = "open" if case.re_appraisal_open else "passed"
    else:
        case.re_appraisal = "not started: the letter is not delivered yet"
    return case


def current_policy() -> DeadlinePolicy:
    try:
        return read_policy(settings().policy_file)
    except ApplicationError as error:
        raise Unavailable(str(error)) from None


async def worker_cases(given: FindInput) -> tuple[str, list[FoundCase]]:
    policy, calendar = current_policy(), HolidayCalendar()
    async with database() as conn:
        if given.citizen_id is not None:
            ref = worker_ref(given.citizen_id, settings().worker_ref_key)
        else:
            ref = await conn.fetchval("SELECT worker_ref FROM cases WHERE case_id = $1", given.case)
            if ref is None:
                raise Refusal(f"no case {given.case}")
        rows = await conn.fetch(CASES, ref)
    return ref, [found_case(dict(row), policy, calendar) for row in rows]


def read_citizen_id(option: str | None) -> str | None:
    """`-`: from standard input, hidden at a terminal (an option stays in the shell's history)."""
    if option != "-":
        return option
    if sys.stdin.isatty():
        return str(typer.prompt("公民身份号码 citizen ID", hide_input=True))
    return sys.stdin.readline().strip()


def window_text(case: FoundCase) -> str | None:
    if case.re_appraisal is None:
        return None
    if case.re_appraisal_ends is None:
        return case.re_appraisal
    return f"{case.re_appraisal}, ends {case.re_appraisal_ends} 24:00"


@app.command()
def find(
    citizen_id: Annotated[
        str | None,
        typer.Option(help="the worker's citizen ID; - reads it from standard input (hidden)"),
    ] = None,
    case: Annotated[str | None, typer.Option(help="a case number: that worker's cases")] = None,
    as_json: AsJson = False,
) -> None:
    """A worker's cases, oldest first: dates, outcome, and the review / re-appraisal windows."""
    given = parse(FindInput, citizen_id=read_citizen_id(citizen_id), case=case)
    ref, cases = run(worker_cases(given))
    worker = subject_label("worker", ref)
    if as_json:
        print_json({"worker": worker, "cases": [c.model_dump(mode="json") for c in cases]})
        return
    if not cases:
        typer.echo(f"no cases of {worker}")
        return
    headers = ["case", "type", "stage", "received", "accepted", "concluded", "outcome", "open"]
    headers += ["复查 review from", "再次鉴定 re-appraisal window"]
    cells = [
        [
            c.case_id,
            c.case_type,
            stage_name(c.stage),
            c.received_on,
            c.accepted_on,
            c.concluded_on,
            c.outcome,
            "open" if c.open else "closed",
            c.review_from and f"{c.review_from} ({'open' if c.review_open else 'not yet'})",
            window_text(c),
        ]
        for c in cases
    ]
    typer.echo(f"{worker}: {len(cases)} cases, oldest first; dates in {CHINA}")
    typer.echo(table(headers, cells))
