"""`appraisal ledger`: the hard-question ledger (疑难问题台账) at the window and the office.

A hard question from the hotline (12345), online, the window or the phone is added with its
category and owner (a staff id on the roster), linked to a case where there is one. It moves
one state at a time: before (事前 prevention) → during (事中 explanation) → after (事后
follow-up, with a due date) → closed. Each move is a step with a note and who did it
(--actor or APPRAISAL_ACTOR). A follow-up not closed by the end of its due day is escalated
to the supervisor once (the worker's sweep). The rules are in activities/ledger.py, shared
with the gateway."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import typer
from pydantic import BaseModel, Field

from activities import ledger
from activities.ledger import LedgerRefusal
from schemas.ledger import STRICT as STRICT_INPUT
from schemas.ledger import (
    Advance,
    CaseId,
    Key,
    LedgerEntry,
    LedgerSource,
    LedgerState,
    NewEntry,
    StaffId,
)
from starter.app import (
    NO_ACTOR,
    Actor,
    AsJson,
    EventIdOpt,
    Refusal,
    china_time,
    parse_or_exit,
    print_json,
    refuse,
    run_on_db,
    table,
)

app = typer.Typer(
    help="疑难问题台账: hard questions from the hotline, online and the window",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ListFilter(BaseModel):
    model_config = STRICT_INPUT
    state: LedgerState | None = None
    owner: StaffId | None = None
    case_id: CaseId | None = None
    source: LedgerSource | None = None
    limit: int = Field(ge=1, le=1000)


class EntryRef(BaseModel):
    model_config = STRICT_INPUT
    entry_id: int = Field(ge=1, le=2**62)


class StepKey(BaseModel):
    model_config = STRICT_INPUT
    event: Key | None = None


def acting(actor: str | None) -> str:
    if not actor:
        refuse(NO_ACTOR)
    return actor


async def on_roster(conn: asyncpg.Connection, actor: str) -> None:
    """The CLI's actor is a person on the roster (the gateway's is the client)."""
    try:
        await ledger.check_staff(conn, actor, "actor")
    except LedgerRefusal as refusal:
        raise Refusal(str(refusal)) from None


def due_text(entry: LedgerEntry) -> str:
    if entry.follow_up_due is None:
        return "-"
    return f"{entry.follow_up_due} 24:00"


def flag(entry: LedgerEntry) -> str:
    said = ["OVERDUE"] if entry.overdue else []
    if entry.escalated_at is not None:
        said.append(f"escalated {china_time(entry.escalated_at)}")
    return ", ".join(said)


@app.command()
def add(
    source: Annotated[str, typer.Option(help="12345, online, window or phone")],
    category: Annotated[
        str,
        typer.Option(
            help="eligibility, materials, deadlines, appraisal, conclusion, delivery, "
            "re_appraisal, benefits, other"
        ),
    ],
    question: Annotated[str, typer.Option(help="the question, and what the caller needs")],
    owner: Annotated[str, typer.Option(help="who works it: a staff id on the roster")],
    case: Annotated[str | None, typer.Option(help="the case it is about, if any")] = None,
    follow_up_due: Annotated[
        str | None, typer.Option(help="the follow-up's last day, YYYY-MM-DD (China time)")
    ] = None,
    key: Annotated[str | None, typer.Option(help="idempotency key; repeat it to retry")] = None,
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """Add a hard question to the ledger (state: before, 事前 prevention)."""
    who = acting(actor)
    entry: NewEntry = parse_or_exit(
        NewEntry,
        {
            "source": source,
            "category": category,
            "question": question,
            "owner": owner,
            "case_id": case,
            "follow_up_due": follow_up_due,
            "key": key,
        },
    )

    async def go(conn: asyncpg.Connection) -> tuple[LedgerEntry, bool]:
        await on_roster(conn, who)
        try:
            return await ledger.add_entry(conn, entry, who)
        except LedgerRefusal as refusal:
            raise Refusal(str(refusal)) from None

    saved, new = run_on_db(go)
    if as_json:
        print_json(saved.model_dump(mode="json"))
        return
    done = "added" if new else "already added"
    typer.echo(
        f"{done} ledger entry {saved.id}: {saved.source.value} {saved.category.value} "
        f"({saved.category.label}), owner {saved.owner}, state {saved.state.value}"
        + (f", follow-up due {due_text(saved)} 北京时间" if saved.follow_up_due else "")
    )


@app.command("list")
def list_ledger(
    state: Annotated[str | None, typer.Option(help="before, during, after or closed")] = None,
    owner: Annotated[str | None, typer.Option(help="a staff id")] = None,
    case: Annotated[str | None, typer.Option(help="a case id")] = None,
    source: Annotated[str | None, typer.Option(help="12345, online, window or phone")] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="only follow-ups past their due day")
    ] = False,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 100,
    as_json: AsJson = False,
) -> None:
    """The ledger, newest first: state, owner, case, follow-up due, and whether overdue."""
    given: ListFilter = parse_or_exit(
        ListFilter,
        {"state": state, "owner": owner, "case_id": case, "source": source, "limit": limit},
    )

    async def go(conn: asyncpg.Connection) -> list[LedgerEntry]:
        return await ledger.list_entries(conn, overdue=overdue, **given.model_dump())

    found = run_on_db(go)
    if as_json:
        print_json([e.model_dump(mode="json", exclude={"steps"}) for e in found])
        return
    if not found:
        typer.echo("no ledger entries")
        return
    cells = [
        [
            e.id,
            china_time(e.created_at),
            e.source.value,
            e.category.value,
            e.state.value,
            e.owner,
            e.case_id,
            due_text(e),
            flag(e),
        ]
        for e in found
    ]
    headers = ["id", "received", "source", "category", "state", "owner", "case"]
    typer.echo(table([*headers, "follow-up due (北京时间)", "overdue"], cells))


@app.command()
def show(
    entry_id: Annotated[int, typer.Argument(help="the entry's id")],
    as_json: AsJson = False,
) -> None:
    """One entry: its question and every step, dated (China time)."""
    ref: EntryRef = parse_or_exit(EntryRef, {"entry_id": entry_id})

    async def go(conn: asyncpg.Connection) -> LedgerEntry:
        try:
            return await ledger.entry_with_steps(conn, ref.entry_id)
        except LedgerRefusal as refusal:
            raise Refusal(str(refusal)) from None

    entry = run_on_db(go)
    if as_json:
        print_json(entry.model_dump(mode="json"))
        return
    typer.echo("\n".join(described(entry)))


def described(e: LedgerEntry) -> list[str]:
    lines = [
        f"ledger entry {e.id}: {e.state.value} ({e.state.label})",
        f"received:   {china_time(e.created_at)} from {e.source.value}, by {e.recorded_by}",
        f"category:   {e.category.value} ({e.category.label})",
        f"owner:      {e.owner or '- (from before the roster)'}",
        f"case:       {e.case_id or '-'}",
        f"follow-up:  {due_text(e) + ' 北京时间' if e.follow_up_due else '-'}"
        + (" OVERDUE" if e.overdue else ""),
    ]
    if e.escalated_at is not None:
        lines.append(f"escalated:  {china_time(e.escalated_at)} (supervisor told)")
    if e.closed_at is not None:
        lines.append(f"closed:     {china_time(e.closed_at)}")
    lines += ["question:", *(f"  {line}" for line in e.question.splitlines()), "steps:"]
    steps: list[list[Any]] = [
        [
            china_time(s.at),
            s.kind.value,
            f"{s.from_state.value} → {s.to_state.value}"
            if s.from_state and s.from_state != s.to_state
            else s.to_state.value,
            s.actor,
            " / ".join(s.note.splitlines())
            + (f" (follow-up due {s.follow_up_due})" if s.follow_up_due else ""),
        ]
        for s in e.steps or []
    ]
    lines.append(table(["at", "step", "state", "by", "note"], steps))
    return lines


@app.command()
def advance(
    entry_id: Annotated[int, typer.Argument(help="the entry's id")],
    to: Annotated[str, typer.Option("--to", help="during, after or closed: the next state")],
    note: Annotated[str, typer.Option(help="what was done (explained, called back, ...)")],
    follow_up_due: Annotated[
        str | None, typer.Option(help="set or move the follow-up's last day, YYYY-MM-DD")
    ] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Move an entry to its next state with a note: before → during → after (needs a
    follow-up due date) → closed; backwards, skipping and closing before the follow-up are
    refused."""
    who = acting(actor)
    ref: EntryRef = parse_or_exit(EntryRef, {"entry_id": entry_id})
    step: Advance = parse_or_exit(Advance, {"to": to, "note": note, "follow_up_due": follow_up_due})
    key: StepKey = parse_or_exit(StepKey, {"event": event_id})

    async def go(conn: asyncpg.Connection) -> tuple[LedgerEntry, bool]:
        await on_roster(conn, who)
        try:
            return await ledger.advance_entry(
                conn, ref.entry_id, step, who, f"cli:{key.event}" if key.event else None
            )
        except LedgerRefusal as refusal:
            raise Refusal(str(refusal)) from None

    moved, new = run_on_db(go)
    if as_json:
        print_json(moved.model_dump(mode="json"))
        return
    done = "advanced" if new else "already advanced"
    open_ = moved.follow_up_due and moved.state != LedgerState.closed
    due = f", follow-up due {due_text(moved)} 北京时间" if open_ else ""
    typer.echo(f"{done} ledger entry {moved.id} to {moved.state.value} ({moved.state.label}){due}")
