"""`appraisal calendar`: due dates and working days on the official holiday calendar, for clerks.

Same code as the `compute_due` activity, so the clerk sees the date the workflow will use."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from activities.workdays import HolidayCalendar, ScheduleError, due_date
from schemas.workdays import DayKind, DayStatus, DayUnit, DueRequest
from starter.app import AsJson, print_json, refuse

app = typer.Typer(
    help="工作日与期间计算: due dates on China's official holiday calendar",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def parse_day(text: str, what: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        refuse(f"{what} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-09-30")


def shown(day: date) -> str:
    return f"{day.isoformat()} {WEEKDAYS[day.weekday()]}"


def described(status: DayStatus) -> str:
    name = status.name
    return {
        DayKind.weekday: "a weekday",
        DayKind.adjusted_workday: f"an adjusted working day (调休上班{' for ' + name if name else ''})",
        DayKind.holiday: f"a holiday{' (' + name + ')' if name else ''}",
        DayKind.weekend: "a weekend day",
    }[status.kind]


@app.command()
def due(
    start: Annotated[
        str,
        typer.Argument(metavar="START", help="the day the clock starts, YYYY-MM-DD (not counted)"),
    ],
    working_days: Annotated[
        int | None, typer.Option("--working-days", help="length in working days (工作日)")
    ] = None,
    days: Annotated[int | None, typer.Option("--days", help="length in calendar days (日)")] = None,
    as_json: AsJson = False,
) -> None:
    """Due date of a period: START not counted; a last day off moves to the next working day."""
    first = parse_day(start, "START")
    if (working_days is None) == (days is None):
        refuse("give exactly one of --working-days N or --days N")
    count = working_days if working_days is not None else days
    unit = DayUnit.working_days if working_days is not None else DayUnit.calendar_days
    if count is None or count < 1:
        refuse(f"the period must be at least 1 day, got {count}")
    try:
        request = DueRequest(start=first, days=count, unit=unit)
    except ValidationError as error:
        refuse(f"period of {count} days: " + "; ".join(e["msg"] for e in error.errors()))
    calendar = HolidayCalendar()
    try:
        result = due_date(request, calendar)
        moved = calendar.explain(result.moved_from) if result.moved_from else None
    except ScheduleError as error:
        refuse(str(error))
    except OverflowError:
        refuse(f"{count} days from {first} is beyond the calendar")
    if as_json:
        print_json(result)
        return
    typer.echo(shown(result.due))
    if moved:
        typer.echo(
            f"last day {shown(moved.day)} is {described(moved)}: moved to {result.due.isoformat()}"
        )
    typer.echo(f"source: {', '.join(result.sources)}")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}")


@app.command()
def day(
    when: Annotated[str, typer.Argument(metavar="DATE", help="the day to check, YYYY-MM-DD")],
    as_json: AsJson = False,
) -> None:
    """Is DATE a working day, and why."""
    status_day = parse_day(when, "DATE")
    try:
        status = HolidayCalendar().explain(status_day)
    except ScheduleError as error:
        refuse(str(error))
    if as_json:
        print_json(status)
        return
    verdict = "working day" if status.workday else "not a working day"
    typer.echo(f"{shown(status.day)}: {verdict}, {described(status)}")
    typer.echo(f"source: {status.source}")
    if status.warning:
        typer.echo(f"warning: {status.warning}")
