"""`appraisal staff`: conflicts of interest the committee's members and staff declare (回避,
《工伤保险条例》 art. 27). A person acts on a case under a staff id (the `--actor` of a review
sign-off, the committee's decision, the extension); with a conflict declared here with the
case's worker or employer, that step is refused and the refusal recorded on the case."""

from __future__ import annotations

from typing import Annotated, Any, Self

import asyncpg
import typer
from pydantic import StringConstraints, model_validator

from activities.storage import worker_ref
from infra.settings import settings
from schemas.identifiers import CitizenId, CreditCode
from starter.app import AsJson, china_time, print_json, run_on_db, table
from starter.experts_cli import Input, Text, parse, subject_label

app = typer.Typer(
    help="committee members and staff: declared conflicts of interest (回避)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StaffId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class StaffKey(Input):
    staff_id: StaffId


class StaffConflictInput(Input):
    staff_id: StaffId
    worker: CitizenId | None = None
    employer: CreditCode | None = None
    note: Text

    @model_validator(mode="after")
    def one_subject(self) -> Self:
        if (self.worker is None) == (self.employer is None):
            raise ValueError("请只给一项: --worker 或 --employer (give one of them)")
        return self


@app.command()
def conflict(
    staff_id: Annotated[str, typer.Argument(help="the id the person acts under (--actor)")],
    worker: Annotated[
        str | None, typer.Option(help="citizen ID of a worker (stored as a keyed hash)")
    ] = None,
    employer: Annotated[str | None, typer.Option(help="credit code of an employer")] = None,
    note: Annotated[
        str, typer.Option(help="why, e.g. 配偶, 曾任该单位顾问; no worker's name or ID here")
    ] = "",
) -> None:
    """Declare a conflict: this person may not act on that worker's or employer's cases."""
    given = parse(
        StaffConflictInput, staff_id=staff_id, worker=worker, employer=employer, note=note
    )
    if given.worker:
        kind, subject = "worker", worker_ref(given.worker, settings().worker_ref_key)
    else:
        kind, subject = "employer", str(given.employer)

    async def go(conn: asyncpg.Connection) -> str:
        status = await conn.execute(
            """INSERT INTO staff_conflicts (staff_id, kind, subject, note)
               VALUES ($1, $2, $3, $4) ON CONFLICT (staff_id, kind, subject) DO NOTHING""",
            given.staff_id,
            kind,
            subject,
            given.note,
        )
        return "recorded" if status.endswith(" 1") else "already recorded"

    typer.echo(f"conflict {run_on_db(go)}: {given.staff_id} {kind} {subject_label(kind, subject)}")


@app.command()
def conflicts(
    staff_id: Annotated[str, typer.Argument(help="the id the person acts under")],
    as_json: AsJson = False,
) -> None:
    """The conflicts a person declared (workers only as a short prefix of their keyed hash)."""
    key = parse(StaffKey, staff_id=staff_id).staff_id

    async def go(conn: asyncpg.Connection) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            "SELECT * FROM staff_conflicts WHERE staff_id = $1 ORDER BY declared_at, id", key
        )
        return [
            {
                "kind": r["kind"],
                "subject": subject_label(r["kind"], r["subject"]),
                "note": r["note"],
                "declared_at": r["declared_at"],
            }
            for r in rows
        ]

    found = run_on_db(go)
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo(f"no conflicts declared by {key}")
        return
    cells = [[c["kind"], c["subject"], c["note"], china_time(c["declared_at"])] for c in found]
    typer.echo(table(["kind", "subject", "note", "declared"], cells))
