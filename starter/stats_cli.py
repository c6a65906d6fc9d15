"""`appraisal stats`: the committee's figures for a period (starter/stats/), as tables, JSON,
a tidy CSV, or a report with charts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Self

import asyncpg
import typer
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from schemas.clock import today
from starter.app import app, print_json, problems, refuse, run_on_db
from starter.stats import Figures, Grouping, collect
from starter.stats.policy import PolicyProblem, load_pool_policy
from starter.stats.render import csv_text, tables

REPORT_SUFFIXES = (".html", ".htm", ".pdf")


class StatsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    end: date
    by: Grouping = Grouping.month  # typer passes the text: a wrong one is refused here
    as_json: bool = False
    as_csv: bool = False
    report: Path | None = None

    @model_validator(mode="after")
    def sensible(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"--to {self.end} is before --from {self.start}")
        if (self.end - self.start).days > 366 * 10:
            raise ValueError("a period of at most 10 years, please")
        if self.as_json and self.as_csv:
            raise ValueError("give --json or --csv, not both")
        if self.report is not None and self.report.suffix.lower() not in REPORT_SUFFIXES:
            raise ValueError(f"--report writes .html or .pdf, not {self.report.name!r}")
        if self.report is not None and not self.report.parent.is_dir():
            raise ValueError(f"--report: no folder {self.report.parent}")
        return self


def parse_day(text: str | None, what: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        refuse(f"{what} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-30")


@app.command("stats")
def stats(
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="first day, YYYY-MM-DD (北京时间); default: 1 January this year"
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="last day, inclusive; default: today (北京时间)")
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="trend rows per `month` or `quarter`")
    ] = Grouping.month.value,
    as_json: Annotated[bool, typer.Option("--json", help="the figures as JSON")] = False,
    as_csv: Annotated[
        bool,
        typer.Option("--csv", help="one tidy table (section, metric, key, value), UTF-8 with BOM"),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="write the charts and tables to FILE.html or FILE.pdf"),
    ] = None,
) -> None:
    """统计数据 the committee's figures for a period: cases, cycle, clocks, pool, delivery."""
    day = today()
    first = parse_day(start, "--from", date(day.year, 1, 1))
    last = parse_day(end, "--to", day)
    try:
        request = StatsRequest(
            start=first, end=last, by=by, as_json=as_json, as_csv=as_csv, report=report
        )
    except ValidationError as error:
        refuse(problems(error))
    try:
        policy = load_pool_policy()
    except PolicyProblem as problem:
        refuse(str(problem))

    async def go(conn: asyncpg.Connection) -> Figures:
        return await collect(conn, request.start, request.end, request.by, policy)

    figures = run_on_db(go)
    if request.report is not None:
        from starter.stats.report import write_report  # matplotlib only when charts are asked

        write_report(figures, request.report)
    if request.as_json:
        print_json(figures.model_dump(mode="json"))
    elif request.as_csv:
        typer.echo(csv_text(figures), nl=False)
    elif request.report is not None:
        typer.echo(f"report written: {request.report}")
    else:
        typer.echo(tables(figures))
