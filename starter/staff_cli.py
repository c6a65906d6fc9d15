"""`appraisal staff`: the staff roster (clerks, the three review groups, committee members,
supervisors) and the conflicts of interest they declare (回避, 《工伤保险条例》 art. 27).

A person acts on a case under their staff id (`--actor`): the case refuses an id that is not
on the roster, retired, or without the role the step needs (workflows/actors.py), and a
member with a conflict declared here with the case's worker or employer; each refusal is
recorded on the case. Members are retired, never deleted: old event logs name them."""

from __future__ import annotations

from typing import Annotated, Any, Self

import asyncpg
import typer
from pydantic import Field, StringConstraints, model_validator

from activities.storage import worker_ref
from infra.settings import settings
from schemas.identifiers import CitizenId, CreditCode
from schemas.staff import ROLE_LABELS, StaffRole
from starter.app import AsJson, Refusal, china_time, print_json, refuse, run_on_db, table
from starter.experts_cli import Input, Text, parse, subject_label

app = typer.Typer(
    help="the staff roster (roles) and declared conflicts of interest (回避)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StaffId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
# A roster id: upper-case letters and digits (S0101, W0101), never a role or a gateway client.
RosterId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9-]{1,39}$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class NewMember(Input):
    staff_id: RosterId
    name: Name
    roles: list[StaffRole] = Field(min_length=1)


class MemberKey(Input):
    staff_id: RosterId


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


@app.command()
def add(
    staff_id: Annotated[str, typer.Argument(help="the id the person acts under, e.g. W0103")],
    name: Annotated[str, typer.Option(help="the person's name")],
    role: Annotated[
        list[StaffRole],
        typer.Option(
            help="clerk, examination, chief_examination, recheck, committee, supervisor (repeat)"
        ),
    ],
) -> None:
    """Put a person on the roster with their roles; refused if the id is already there."""
    given = parse(NewMember, staff_id=staff_id, name=name, roles=role)
    roles = list(dict.fromkeys(given.roles))

    async def go(conn: asyncpg.Connection) -> bool:
        status = await conn.execute(
            """INSERT INTO staff (staff_id, name, roles) VALUES ($1, $2, $3)
               ON CONFLICT (staff_id) DO NOTHING""",
            given.staff_id,
            given.name,
            [r.value for r in roles],
        )
        return status.endswith(" 1")

    if not run_on_db(go):
        refuse(f"{given.staff_id} 已在名册中 (already on the roster; retired ids are not reused)")
    labels = "、".join(ROLE_LABELS[r] for r in roles)
    typer.echo(f"added {given.staff_id} {given.name}: {', '.join(roles)} ({labels})")


@app.command("list")
def list_staff(
    retired: Annotated[bool, typer.Option("--retired", help="include retired members")] = False,
    as_json: AsJson = False,
) -> None:
    """The roster: each member's id, name, roles, and whether still active."""

    async def go(conn: asyncpg.Connection) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            """SELECT staff_id, name, roles, active, added_at, retired_at FROM staff
               WHERE active OR $1 ORDER BY staff_id""",
            retired,
        )
        return [dict(r) for r in rows]

    found = run_on_db(go)
    if as_json:
        print_json(found)
        return
    cells = [
        [
            m["staff_id"],
            m["name"],
            ", ".join(m["roles"]),
            "、".join(ROLE_LABELS[StaffRole(r)] for r in m["roles"]),
            "active" if m["active"] else f"retired {china_time(m['retired_at'])}",
        ]
        for m in found
    ]
    typer.echo(table(["staff id", "name", "roles", "角色", "status"], cells))


@app.command()
def retire(
    staff_id: Annotated[str, typer.Argument(help="the member's staff id")],
) -> None:
    """Retire a member: from now on every case refuses steps under this id (kept in the
    roster, since old event logs name them)."""
    key = parse(MemberKey, staff_id=staff_id).staff_id

    async def go(conn: asyncpg.Connection) -> str:
        row = await conn.fetchrow(
            """UPDATE staff SET active = false, retired_at = now()
               WHERE staff_id = $1 AND active RETURNING name""",
            key,
        )
        if row:
            return str(row["name"])
        known = await conn.fetchval("SELECT active FROM staff WHERE staff_id = $1", key)
        raise Refusal(
            f"{key} 不在名册中 (not on the roster)"
            if known is None
            else f"{key} 已离任 (already retired)"
        )

    typer.echo(f"retired {key} {run_on_db(go)}")
