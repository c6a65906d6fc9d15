"""The hard-question ledger (疑难问题台账) in PostgreSQL: the one place for its SQL and its
rules, used by the CLI (`appraisal ledger`), the gateway (/v1/ledger) and the worker (the
escalation sweep). Each change is one transaction: the entry where it stands, and its step.

It logs only what the worker's sweep does (the gateway logs its own requests; the CLI prints),
naming entries by id only: the question and the notes may hold personal data."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from activities.storage import OUTBOX_CHANNEL
from infra.db import DATABASE_GONE
from infra.logs import get_logger
from schemas.clock import CHINA_TZ
from schemas.clock import now as clock_now
from schemas.ledger import (
    NEXT,
    Advance,
    LedgerEntry,
    LedgerFigures,
    LedgerSource,
    LedgerState,
    LedgerStep,
    NewEntry,
)
from schemas.vocabulary import Channel, Party

log = get_logger(__name__)
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
Connection = asyncpg.Connection | PoolConnectionProxy
SYSTEM = "system"  # the actor of the escalation sweep
ENTRY = """id, source, category, question, case_id, owner, state, follow_up_due, escalated_at,
    closed_at, recorded_by, client_id, entry_key, created_at"""
STEP = "kind, from_state, to_state, note, follow_up_due, actor, at"


class LedgerRefusal(Exception):
    """The ledger cannot do it; `code` says why for programs (the gateway's error code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def china_day(at: datetime) -> date:
    return at.astimezone(CHINA_TZ).date()


def due_passed(due: date | None, at: datetime) -> bool:
    """A follow-up is due until the end of its day, China time."""
    return due is not None and china_day(at) > due


def entry_of(
    row: asyncpg.Record, at: datetime, steps: list[LedgerStep] | None = None
) -> LedgerEntry:
    open_ = row["state"] != LedgerState.closed
    return LedgerEntry(
        **dict(row), overdue=open_ and due_passed(row["follow_up_due"], at), steps=steps
    )


# --- checks ---------------------------------------------------------------------------------


async def check_staff(conn: Executor, staff_id: str, what: str) -> None:
    active = await conn.fetchval("SELECT active FROM staff WHERE staff_id = $1", staff_id)
    if active is None:
        raise LedgerRefusal(
            f"unknown_{what}",
            f"{staff_id} 不在工作人员名册中 ({what} {staff_id} is not on the roster)",
        )
    if not active:
        raise LedgerRefusal(f"unknown_{what}", f"{staff_id} 已离任 ({what} {staff_id} has retired)")


async def check_case(conn: Executor, case_id: str) -> None:
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM cases WHERE case_id = $1)", case_id):
        raise LedgerRefusal("unknown_case", f"没有案件 {case_id} (no case {case_id})")


def check_due(due: date | None, at: datetime) -> None:
    if due is not None and due < china_day(at):
        raise LedgerRefusal(
            "refused", f"回访期限 {due} 已过 (the follow-up due date {due} is in the past)"
        )


def check_move(state: LedgerState, advance: Advance, due: date | None) -> None:
    """One state forward at a time; a follow-up needs its due date; a closed entry stays."""
    to = advance.to
    if state == LedgerState.closed:
        raise LedgerRefusal("refused", "台账已办结 (the entry is closed: it takes no more steps)")
    if to == state:
        raise LedgerRefusal("refused", f"已处于 {to.label} (the entry is already {to.value})")
    order = list(LedgerState)
    if order.index(to) < order.index(state):
        raise LedgerRefusal(
            "refused", f"不能退回 (cannot go back from {state.value} to {to.value})"
        )
    if to != NEXT[state]:
        skipped = NEXT[state]
        raise LedgerRefusal(
            "refused",
            f"不能跳过 {skipped.label} ({state.value} → {to.value} skips {skipped.value}: "
            f"advance to {skipped.value} first)",
        )
    if to == LedgerState.after and advance.follow_up_due is None and due is None:
        raise LedgerRefusal(
            "refused", "回访须有期限 (a follow-up needs its due date: give --follow-up-due)"
        )
    if to == LedgerState.closed and advance.follow_up_due is not None:
        raise LedgerRefusal(
            "refused", "办结时不再设回访期限 (closing ends the follow-up: no due date to set)"
        )


# --- writes ---------------------------------------------------------------------------------


async def add_entry(
    conn: Connection,
    entry: NewEntry,
    actor: str,
    client_id: str | None = None,
    at: datetime | None = None,
) -> tuple[LedgerEntry, bool]:
    """Record a hard question (state `before`); the entry and whether it is new. A repeat of
    its key (per gateway client, or the CLI's) is the same entry if it says the same."""
    at = at or clock_now()
    check_due(entry.follow_up_due, at)
    async with conn.transaction():
        if entry.case_id is not None:
            await check_case(conn, entry.case_id)
        await check_staff(conn, entry.owner, "owner")
        if entry.key is not None and await keyed(conn, client_id, entry.key):
            return await repeated_entry(conn, entry, client_id, at), False  # spares an id
        row = await conn.fetchrow(
            f"""INSERT INTO ledger_entries (client_id, entry_key, state, source, category,
                    question, case_id, owner, follow_up_due, recorded_by, created_at)
                VALUES ($1, $2, 'before', $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT DO NOTHING RETURNING {ENTRY}""",
            client_id,
            entry.key,
            entry.source.value,
            entry.category.value,
            entry.question,
            entry.case_id,
            entry.owner,
            entry.follow_up_due,
            actor,
            at,
        )
        if row is None:
            return await repeated_entry(conn, entry, client_id, at), False
        await conn.execute(
            f"""INSERT INTO ledger_steps (entry_id, step_key, {STEP})
                VALUES ($1, 'recorded', 'recorded', NULL, 'before', $2, $3, $4, $5)""",
            row["id"],
            f"收录 (recorded from {entry.source.value})",
            entry.follow_up_due,
            actor,
            at,
        )
    return entry_of(row, at), True


async def keyed(conn: Connection, client_id: str | None, key: str) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM ledger_entries
                              WHERE client_id IS NOT DISTINCT FROM $1 AND entry_key = $2)""",
            client_id,
            key,
        )
    )


async def repeated_entry(
    conn: Connection, entry: NewEntry, client_id: str | None, at: datetime
) -> LedgerEntry:
    row = await conn.fetchrow(
        f"""SELECT {ENTRY} FROM ledger_entries
            WHERE client_id IS NOT DISTINCT FROM $1 AND entry_key = $2""",
        client_id,
        entry.key,
    )
    given = (entry.source, entry.category, entry.question, entry.case_id, entry.owner)
    if row is None or given != (
        row["source"],
        row["category"],
        row["question"],
        row["case_id"],
        row["owner"],
    ):
        raise LedgerRefusal(
            "key_reused",
            f"编号 {entry.key} 已用于另一条台账 (the key {entry.key} was used for another entry)",
        )
    return entry_of(row, at)


async def advance_entry(
    conn: Connection,
    entry_id: int,
    advance: Advance,
    actor: str,
    key: str | None = None,
    at: datetime | None = None,
) -> tuple[LedgerEntry, bool]:
    """Move an entry one state on, as a step with a note; the entry with its steps, and
    whether the step is new. `key` (the CLI's `cli:<event>`, a client's `<client>:<event>`):
    a repeat is the same step if it says the same."""
    at = at or clock_now()
    async with conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {ENTRY} FROM ledger_entries WHERE id = $1 FOR UPDATE", entry_id
        )
        if row is None:
            raise LedgerRefusal(
                "unknown_entry", f"台账中没有 {entry_id} (no ledger entry {entry_id})"
            )
        if key is not None and (done := await step_by_key(conn, entry_id, key)):
            if (done.to_state, done.note, done.follow_up_due) != (
                advance.to,
                advance.note,
                advance.follow_up_due,
            ):
                raise LedgerRefusal(
                    "key_reused",
                    f"编号 {key} 已用于另一步 (the key {key} was used for another step)",
                )
            return await entry_with_steps(conn, entry_id, at), False
        state = LedgerState(row["state"])
        check_move(state, advance, row["follow_up_due"])
        check_due(advance.follow_up_due, at)
        if row["owner"] is None:  # an entry from before the roster: who acts owns it
            await check_staff(conn, actor, "actor")
        await conn.execute(
            f"""INSERT INTO ledger_steps (entry_id, step_key, {STEP})
                VALUES ($1, $2, 'advanced', $3, $4, $5, $6, $7, $8)""",
            entry_id,
            key or f"step:{await next_step(conn, entry_id)}",
            state.value,
            advance.to.value,
            advance.note,
            advance.follow_up_due,
            actor,
            at,
        )
        await conn.execute(
            """UPDATE ledger_entries SET state = $2, follow_up_due = coalesce($3, follow_up_due),
                   closed_at = CASE WHEN $2 = 'closed' THEN $4::timestamptz END,
                   owner = coalesce(owner, $5)
               WHERE id = $1""",
            entry_id,
            advance.to.value,
            advance.follow_up_due,
            at,
            actor,
        )
        found = await entry_with_steps(conn, entry_id, at)
    return found, True


async def next_step(conn: Connection, entry_id: int) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM ledger_steps WHERE entry_id = $1", entry_id)
    )


async def step_by_key(conn: Connection, entry_id: int, key: str) -> LedgerStep | None:
    row = await conn.fetchrow(
        f"SELECT {STEP} FROM ledger_steps WHERE entry_id = $1 AND step_key = $2", entry_id, key
    )
    return None if row is None else LedgerStep(**dict(row))


# --- reads ----------------------------------------------------------------------------------


async def entry_with_steps(
    conn: Executor, entry_id: int, at: datetime | None = None
) -> LedgerEntry:
    at = at or clock_now()
    row = await conn.fetchrow(f"SELECT {ENTRY} FROM ledger_entries WHERE id = $1", entry_id)
    if row is None:
        raise LedgerRefusal("unknown_entry", f"台账中没有 {entry_id} (no ledger entry {entry_id})")
    steps = await conn.fetch(
        f"SELECT {STEP} FROM ledger_steps WHERE entry_id = $1 ORDER BY at, id", entry_id
    )
    return entry_of(row, at, [LedgerStep(**dict(s)) for s in steps])


async def list_entries(
    conn: Executor,
    *,
    state: LedgerState | None = None,
    owner: str | None = None,
    case_id: str | None = None,
    source: LedgerSource | None = None,
    overdue: bool = False,
    limit: int = 100,
    at: datetime | None = None,
) -> list[LedgerEntry]:
    """Entries newest first; `overdue`: only open follow-ups whose due day has passed."""
    at = at or clock_now()
    rows = await conn.fetch(
        f"""SELECT {ENTRY} FROM ledger_entries
            WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR owner = $2)
              AND ($3::text IS NULL OR case_id = $3) AND ($4::text IS NULL OR source = $4)
              AND (NOT $5 OR (state <> 'closed' AND follow_up_due < $6))
            ORDER BY created_at DESC, id DESC LIMIT $7""",
        state.value if state else None,
        owner,
        case_id,
        source.value if source else None,
        overdue,
        china_day(at),
        limit,
    )
    return [entry_of(row, at) for row in rows]


# --- escalation -----------------------------------------------------------------------------


async def escalate_overdue(pool: asyncpg.Pool, at: datetime | None = None) -> list[int]:
    """Escalate, once each, the open entries whose follow-up due day ended before `at`:
    marked escalated, a step, and a message to the supervisor in the outbox, in one
    transaction. The ids escalated now."""
    at = at or clock_now()
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """UPDATE ledger_entries SET escalated_at = $1
               WHERE escalated_at IS NULL AND state <> 'closed' AND follow_up_due < $2
               RETURNING id, state, follow_up_due, owner, case_id""",
            at,
            china_day(at),
        )
        for row in rows:
            await escalation(conn, row, at)
        if rows:
            await conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")
    for row in rows:
        log.warning("ledger_follow_up_overdue", id=row["id"], owner=row["owner"])
    return [int(row["id"]) for row in rows]


async def escalation(conn: Connection, row: asyncpg.Record, at: datetime) -> None:
    due = row["follow_up_due"]
    await conn.execute(
        f"""INSERT INTO ledger_steps (entry_id, step_key, {STEP})
            VALUES ($1, 'escalation', 'escalated', $2, $2, $3, NULL, $4, $5)""",
        row["id"],
        row["state"],
        f"回访期限 {due} 已过, 已报科室负责人 (follow-up due {due} passed: supervisor told)",
        SYSTEM,
        at,
    )
    body: dict[str, Any] = {
        "ledger_entry": row["id"],
        "follow_up_due": due.isoformat(),
        "owner": row["owner"],
        "state": row["state"],
        "case_id": row["case_id"],
    }
    await conn.execute(
        """INSERT INTO outbox (case_id, message_key, channel, recipient, subject, body)
           VALUES (NULL, $1, $2, $3, $4, $5::jsonb)
           ON CONFLICT (message_key) WHERE case_id IS NULL DO NOTHING""",
        f"ledger:{row['id']}:escalation",
        Channel.supervisor.value,
        Party.supervisor.value,
        f"疑难问题台账 #{row['id']} 回访逾期 ({due} 届满)",
        json.dumps(body, ensure_ascii=False),
    )


async def sweep(pool: asyncpg.Pool, stop: asyncio.Event, every: float = 300.0) -> None:
    """The worker's escalation sweep: every `every` seconds until `stop`; a database that
    goes away is tried again at the next sweep."""
    while not stop.is_set():
        try:
            await escalate_overdue(pool)
        except DATABASE_GONE as failure:
            log.warning("ledger sweep waiting for the database", error=type(failure).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


# --- figures --------------------------------------------------------------------------------


async def ledger_figures(
    conn: Executor, start: date, end: date, at: datetime | None = None
) -> LedgerFigures:
    """The entries received from `start` to `end` (China-time days, both included), as they
    stand at `at` (now): by source, category and state; closed, overdue, escalated; the
    median time from received to closed, in days."""
    at = at or clock_now()
    since = datetime.combine(start, time(0), CHINA_TZ)
    until = datetime.combine(end + timedelta(days=1), time(0), CHINA_TZ)
    period = "FROM ledger_entries WHERE created_at >= $1 AND created_at < $2"

    async def counts(column: str) -> dict[str, int]:
        rows = await conn.fetch(
            f"SELECT {column} AS k, count(*) AS n {period} GROUP BY k ORDER BY n DESC, k",
            since,
            until,
        )
        return {r["k"]: r["n"] for r in rows}

    totals = await conn.fetchrow(
        f"""SELECT count(*) AS received,
                   count(*) FILTER (WHERE state = 'closed') AS closed,
                   count(*) FILTER (WHERE state <> 'closed' AND follow_up_due < $3) AS overdue,
                   count(*) FILTER (WHERE escalated_at IS NOT NULL) AS escalated,
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY extract(epoch FROM closed_at - created_at) / 86400
                   ) FILTER (WHERE state = 'closed') AS median_days
            {period}""",
        since,
        until,
        china_day(at),
    )
    assert totals is not None  # an aggregate: always one row
    median = totals["median_days"]
    return LedgerFigures(
        start=start,
        end=end,
        received=totals["received"],
        by_source=await counts("source"),
        by_category=await counts("category"),
        by_state=await counts("state"),
        closed=totals["closed"],
        overdue=totals["overdue"],
        escalated=totals["escalated"],
        median_days_to_close=None if median is None else round(float(median), 2),
    )
