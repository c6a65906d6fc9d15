"""`appraisal audit`: the auditors' door (案卷评查).

`audit CASE` (short for `audit case CASE`) replays the case's history on the current workflow
code and prints the timeline and the checks of a case-file review; `--json` for programs,
`--html FILE` a printable report for the case file. `audit replay --all | --since DATE` replays
every closed case: the check to run before deploying new workflow code.

Exit codes: 0 clean; 4 the archive was altered; 5 a check failed; 6 a history diverges from
the current code (`audit replay`: any history); when several apply, the lowest. As every
command: 1 refused, 2 usage, 3 a service cannot be reached."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from typer.core import TyperGroup

from activities.verify import verify_case
from starter.app import AsJson, Refusal, database, json_text, refuse, run, temporal
from starter.archive_cli import CASE_ID
from starter.audit import history as histories
from starter.audit.clocks import counting_rule
from starter.audit.facts import HistoryFacts
from starter.audit.html import page
from starter.audit.model import CLEAN, DIVERGED, AuditReport, Replay, ReplayOutcome, Source
from starter.audit.privacy import Privacy, personal_strings
from starter.audit.render import render
from starter.audit.replay import replay
from starter.audit.report import build
from starter.audit.rows import CaseRows, load

CASE_TYPES = "(WorkflowType = 'AppraisalCase' OR WorkflowType = 'ProvincialReferral')"


class CaseByDefault(TyperGroup):
    """`appraisal audit CASE` is `appraisal audit case CASE`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["case", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=CaseByDefault,
    help="案卷评查: replay a case's history on the current code, its timeline and the checks",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


NO_HISTORY = (
    "Temporal 已不再保存本案历史, 案卷中也没有历史导出 "
    "(Temporal no longer holds the history and the archive has no export)"
)


async def find_history(
    client: Client, case_id: str, rows: CaseRows | None, path: Path | None
) -> tuple[WorkflowHistory, Source] | str:
    """The file given; else Temporal (the case's own run), then the archive's export; else
    why there is no history to replay."""
    if path is not None:
        try:
            return histories.from_file(case_id, path), Source.file
        except histories.HistoryUnreadable as error:
            raise Refusal(str(error)) from None
    run_id = rows.case.get("first_run_id") if rows else None
    if (found := await histories.from_temporal(client, case_id, run_id)) is not None:
        return found, Source.temporal
    export = rows.archive.history if rows and rows.archive else None
    if not export:
        return NO_HISTORY
    try:
        return histories.from_json(case_id, export), Source.archive
    except histories.HistoryUnreadable as error:
        return f"案卷中的历史导出无法读取 (the archive's export is unreadable): {error}"


async def gather(case_id: str, path: Path | None) -> tuple[AuditReport, Privacy]:
    async with database() as conn:
        rows = await load(conn, case_id)
        verified = await verify_case(conn, case_id) if rows and rows.archive else None
    client = await temporal()  # its data converter (and codec) reads the history
    history = await find_history(client, case_id, rows, path)
    if isinstance(history, str) and rows is None:
        raise Refusal(f"无此案件 {case_id} (no case {case_id})")
    if isinstance(history, str):
        facts, found = HistoryFacts(), Replay(outcome=ReplayOutcome.unavailable, message=history)
    else:
        found = await replay(*history, client.data_converter)
        facts = await histories.facts(history[0], client.data_converter)
    privacy = Privacy(personal_strings(facts.application))
    now = datetime.now(UTC)
    return build(case_id, rows, facts, found, verified, now, counting_rule(), privacy), privacy


@app.command("case")
def audit_case(
    case_id: Annotated[str, typer.Argument(help="the case number")],
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="replay this exported history (JSON, as `temporal workflow show --output json` "
            "writes it) instead of fetching it",
        ),
    ] = None,
    as_json: AsJson = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="also write a printable HTML report to FILE")
    ] = None,
) -> None:
    """Replay the case's history on the current code; print its timeline and the checks."""
    if not CASE_ID.fullmatch(case_id):
        refuse(
            f"案号 {case_id!r} 无效 (case id {case_id!r} is not valid: letters, digits, - and _)"
        )
    report, privacy = run(gather(case_id, history))
    if html is not None:
        try:
            html.write_text(privacy.scrub(page(report)), encoding="utf-8")
        except OSError as error:
            refuse(f"cannot write {html}: {error}")
    if as_json:
        typer.echo(privacy.scrub(json_text({**report.model_dump(), "exit_code": report.exit_code})))
    else:
        typer.echo(privacy.scrub(render(report)))
        if html is not None:
            typer.echo(f"评查报告 (HTML report): {html}")
    raise typer.Exit(report.exit_code)


@dataclass
class Replayed:
    query: str
    replayed: int = 0
    diverged: list[dict[str, Any]] = field(default_factory=list)


def visibility_query(since: date | None, running: bool) -> str:
    """Closed cases and referrals (all, or closed since a China date); `running` adds the open
    ones, which the new code would pick up."""
    closed = f"CloseTime >= '{since.isoformat()}T00:00:00+08:00'" if since else ""
    if running:
        which = f"({closed} OR ExecutionStatus = 'Running')" if closed else ""
    else:
        which = closed or "ExecutionStatus != 'Running'"
    return f"{CASE_TYPES} AND {which}" if which else CASE_TYPES


async def replay_all(query: str) -> Replayed:
    client = await temporal()
    try:
        total = (await client.count_workflows(query)).count
    except RPCError as error:
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            raise Refusal(f"visibility query refused: {error.message}") from None
        raise
    found = Replayed(query=query)
    console = Console(stderr=True)
    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("replay", total=total)
        async for execution in client.list_workflows(query):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            history = await handle.fetch_history()
            outcome = await replay(history, Source.temporal, client.data_converter)
            found.replayed += 1
            if outcome.outcome is ReplayOutcome.diverged:
                found.diverged.append(
                    {
                        "case_id": execution.id,
                        "run_id": execution.run_id,
                        **outcome.model_dump(mode="json"),
                    }
                )
            bar.advance(task)
    return found


@app.command("replay")
def replay_many(
    since: Annotated[
        str | None,
        typer.Option("--since", help="cases closed on or after this China date, YYYY-MM-DD"),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="every closed case")] = False,
    running: Annotated[
        bool, typer.Option("--running", help="also the running cases (the new code picks them up)")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Replay closed cases on the current workflow code, before deploying it (exit 6: one
    diverges)."""
    if every == (since is not None):
        refuse("请给出 --since 日期或 --all, 二者择一 (give --since YYYY-MM-DD or --all, not both)")
    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        refuse(f"--since {since!r} 不是日期 (not a date: YYYY-MM-DD)")
    found = run(replay_all(visibility_query(day, running)))
    scrub = Privacy().scrub
    if as_json:
        typer.echo(
            scrub(
                json_text(
                    {"query": found.query, "replayed": found.replayed, "diverged": found.diverged}
                )
            )
        )
    else:
        clean = found.replayed - len(found.diverged)
        typer.echo(
            f"重放 (replayed) {found.replayed} cases on the current workflow code: {clean} 一致 (clean), {len(found.diverged)} 不一致 (DIVERGED)"
        )
        for d in found.diverged:
            where = f"event {d['event_id']} ({d['event_type']})" if d["event_id"] else "?"
            typer.echo(scrub(f"  {d['case_id']} (run {d['run_id']}): {where}: {d['message']}"))
    raise typer.Exit(DIVERGED if found.diverged else CLEAN)
