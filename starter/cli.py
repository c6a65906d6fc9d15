"""`appraisal`: the operators' command line (console script)."""

from __future__ import annotations

from infra.process import run_and_exit
from starter import calendar_cli, case_cli, documents_cli, events_cli, experts_cli
from starter.app import app

# Importing the command modules registers their commands on `app`.
assert case_cli and events_cli
app.add_typer(calendar_cli.app, name="calendar", help="due dates on the official calendar")
app.add_typer(experts_cli.app, name="experts", help="the expert pool")
app.add_typer(documents_cli.app, name="document", help="the documents a case has issued")


def main() -> None:
    """Console entry point `appraisal`."""
    run_and_exit(app)
