"""`appraisal`: the operators' command line (console script)."""

from __future__ import annotations

import os

import typer

from infra.process import run_and_exit
from starter import (
    archive_cli,
    audit_cli,
    calendar_cli,
    case_cli,
    codec_cli,
    documents_cli,
    due_cli,
    events_cli,
    experts_cli,
    find_cli,
    gateway_cli,
    ledger_cli,
    staff_cli,
    stats_cli,
)
from starter.app import UNAVAILABLE, app, one_line

# Importing the command modules registers their commands on `app`.
assert case_cli and codec_cli and events_cli and due_cli and find_cli and stats_cli
app.add_typer(calendar_cli.app, name="calendar", help="due dates on the official calendar")
app.add_typer(experts_cli.app, name="experts", help="the expert pool")
app.add_typer(documents_cli.app, name="document", help="the documents a case has issued")
app.add_typer(staff_cli.app, name="staff", help="the staff roster and declared conflicts (回避)")
app.add_typer(
    gateway_cli.app,
    name="gateway",
    help="serve the HTTP gateway for other systems (no command: serve); `clients`: their credentials",
)
app.add_typer(
    ledger_cli.app,
    name="ledger",
    help="疑难问题台账: hard questions (hotline, online, window), follow-ups and escalation",
)
app.add_typer(archive_cli.app, name="archive", help="sealed case files: verify (tamper evidence)")
app.add_typer(
    audit_cli.app,
    name="audit",
    help="案卷评查: a case's replay, timeline and checks (`audit CASE`); `audit replay` before a deploy",
)


def guarded() -> None:
    """The app; a failure nobody foresaw is one line too (APPRAISAL_DEBUG=1: the traceback)."""
    try:
        app()
    except Exception as error:
        if os.environ.get("APPRAISAL_DEBUG"):
            raise
        typer.echo(
            f"error: unexpected {type(error).__name__}: {one_line(str(error))} "
            "(APPRAISAL_DEBUG=1 shows the traceback)",
            err=True,
        )
        raise SystemExit(UNAVAILABLE) from None


def main() -> None:
    """Console entry point `appraisal`."""
    run_and_exit(guarded)
