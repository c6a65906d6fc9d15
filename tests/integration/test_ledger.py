"""The hard-question ledger (疑难问题台账) on PostgreSQL: entries move one state at a time with
append-only steps, an overdue follow-up is escalated once (a message to the supervisor in the
outbox, sent by the dispatcher), the committee's figures, and the entries of migration 010
carried over by 015. Each on a database of its own (the figures count every row)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from activities import ledger
from activities.ledger import LedgerRefusal
from activities.notifications import Dispatcher
from activities.storage import OUTBOX_CHANNEL
from infra import db
from schemas.clock import CHINA_TZ
from schemas.ledger import (
    Advance,
    LedgerCategory,
    LedgerEntry,
    LedgerFigures,
    LedgerSource,
    LedgerState,
    NewEntry,
)
from tests.integration.test_notifications import CountingSender, registered

# A Monday morning, China time.
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=CHINA_TZ)


def question(**fields: object) -> NewEntry:
    given: dict[str, object] = {
        "source": "12345",
        "category": "delivery",
        "question": "来电询问结论书何时寄到",
        "owner": "W0101",
        **fields,
    }
    return NewEntry.model_validate(given)


async def added(pool: asyncpg.Pool, at: datetime = T0, **fields: object) -> LedgerEntry:
    async with pool.acquire() as conn:
        entry, new = await ledger.add_entry(conn, question(**fields), "W0101", at=at)
    assert new
    return entry


async def moved(
    pool: asyncpg.Pool, entry_id: int, to: str, at: datetime, due: date | None = None
) -> LedgerEntry:
    async with pool.acquire() as conn:
        step = Advance(to=LedgerState(to), note=f"办理: {to}", follow_up_due=due)
        entry, new = await ledger.advance_entry(conn, entry_id, step, "W0102", at=at)
    assert new
    return entry


async def refused(pool: asyncpg.Pool, entry_id: int, to: str, due: date | None = None) -> str:
    with pytest.raises(LedgerRefusal) as refusal:
        await moved(pool, entry_id, to, T0, due)
    assert refusal.value.code == "refused"
    return str(refusal.value)


async def test_an_entry_moves_one_state_at_a_time_and_its_steps_are_kept(
    lone_pool: asyncpg.Pool,
) -> None:
    pool = lone_pool
    case_id = await registered(pool)
    entry = await added(pool, case_id=case_id, key="q-1")
    assert (entry.state, entry.case_id, entry.owner, entry.overdue) == (
        "before",
        case_id,
        "W0101",
        False,
    )
    async with pool.acquire() as conn:  # the same key and question: the same entry
        again, new = await ledger.add_entry(conn, question(case_id=case_id, key="q-1"), "W0101")
        assert (again.id, new) == (entry.id, False)
        with pytest.raises(LedgerRefusal, match="was used for another entry"):
            await ledger.add_entry(conn, question(key="q-1", category="benefits"), "W0101")
        for fields, code in (
            ({"case_id": "JN-NO-SUCH-9"}, "unknown_case"),
            ({"owner": "W9999"}, "unknown_owner"),
        ):
            with pytest.raises(LedgerRefusal) as refusal:
                await ledger.add_entry(conn, question(**fields), "W0101")
            assert refusal.value.code == code

    assert "skips during" in await refused(pool, entry.id, "after", T0.date())
    assert "already before" in await refused(pool, entry.id, "before")
    await moved(pool, entry.id, "during", T0 + timedelta(hours=1))
    assert "cannot go back" in await refused(pool, entry.id, "before")
    assert "needs its due date" in await refused(pool, entry.id, "after")
    assert "skips after" in await refused(pool, entry.id, "closed")
    due = T0.date() + timedelta(days=3)
    after = await moved(pool, entry.id, "after", T0 + timedelta(hours=2), due)
    assert (after.state, after.follow_up_due) == ("after", due)
    closed = await moved(pool, entry.id, "closed", T0 + timedelta(days=1))
    assert closed.closed_at == T0 + timedelta(days=1) and not closed.overdue
    assert "is closed" in await refused(pool, entry.id, "closed")

    assert closed.steps is not None
    assert [(s.kind, s.from_state, s.to_state, s.actor) for s in closed.steps] == [
        ("recorded", None, "before", "W0101"),
        ("advanced", "before", "during", "W0102"),
        ("advanced", "during", "after", "W0102"),
        ("advanced", "after", "closed", "W0102"),
    ]
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("UPDATE ledger_steps SET note = 'x' WHERE entry_id = $1", entry.id)

    # A step repeated under its key is the same step; the key says the same or is refused.
    other = await added(pool)
    step = Advance(to=LedgerState.during, note="已解释")
    async with pool.acquire() as conn:
        first, new = await ledger.advance_entry(conn, other.id, step, "W0102", "cli:e1")
        repeat, again_new = await ledger.advance_entry(conn, other.id, step, "W0102", "cli:e1")
        assert (new, again_new, repeat) == (True, False, first)
        with pytest.raises(LedgerRefusal, match="used for another step"):
            changed = Advance(to=LedgerState.after, note="已解释", follow_up_due=due)
            await ledger.advance_entry(conn, other.id, changed, "W0102", "cli:e1")


async def test_an_overdue_follow_up_is_escalated_once_to_the_supervisor(
    lone_pool: asyncpg.Pool,
) -> None:
    pool = lone_pool
    due = T0.date() + timedelta(days=2)  # Wednesday: due until 24:00 China time
    overdue = await added(pool, follow_up_due=due)
    await moved(pool, overdue.id, "during", T0)
    await moved(pool, overdue.id, "after", T0)
    done = await added(pool, follow_up_due=due)  # closed in time: never escalated
    for state in ("during", "after", "closed"):
        await moved(pool, done.id, state, T0)
    undated = await added(pool)  # no follow-up due date: nothing to escalate
    end_of_day = datetime.combine(due + timedelta(days=1), datetime.min.time(), CHINA_TZ)

    assert await ledger.escalate_overdue(pool, end_of_day - timedelta(seconds=1)) == []
    assert await ledger.escalate_overdue(pool, end_of_day) == [overdue.id]
    assert await ledger.escalate_overdue(pool, end_of_day + timedelta(days=5)) == []  # once

    shown = await ledger.entry_with_steps(pool, overdue.id, end_of_day)
    assert shown.overdue and shown.escalated_at == end_of_day
    assert shown.steps is not None and shown.steps[-1].kind == "escalated"
    assert shown.steps[-1].actor == "system" and str(due) in shown.steps[-1].note
    listed = await ledger.list_entries(pool, overdue=True, at=end_of_day)
    assert [e.id for e in listed] == [overdue.id]
    assert not (await ledger.entry_with_steps(pool, done.id, end_of_day)).overdue
    assert (await ledger.entry_with_steps(pool, undated.id, end_of_day)).escalated_at is None

    messages = await pool.fetch("SELECT * FROM outbox")
    assert len(messages) == 1
    message = messages[0]
    assert (
        message["case_id"] is None and message["message_key"] == f"ledger:{overdue.id}:escalation"
    )
    assert (message["channel"], message["recipient"]) == ("supervisor", "supervisor")
    assert "来电" not in message["subject"] + message["body"]  # the question stays in the ledger

    sender = CountingSender()  # the dispatcher sends a message of no case, once
    assert await Dispatcher(pool, sender).send_pending() == 1
    assert await Dispatcher(pool, sender).send_pending() == 0
    assert [(m.case_id, m.key) for m in sender.sent] == [(None, message["message_key"])]
    assert await pool.fetchval("SELECT provider_ref FROM outbox") == "sms-1"

    # The entry, escalated, is still followed up and closed.
    closed = await moved(pool, overdue.id, "closed", end_of_day + timedelta(days=1))
    assert closed.escalated_at == end_of_day and not closed.overdue


async def test_the_workers_sweep_escalates_on_its_own(lone_pool: asyncpg.Pool) -> None:
    """`sweep` as the worker runs it beside the dispatcher: it escalates at once, and its
    NOTIFY wakes the dispatcher; it stops when told."""
    pool = lone_pool
    entry = await added(pool, follow_up_due=T0.date())  # its due day is long past
    queued = asyncio.Event()
    stop = asyncio.Event()

    def woken(*_: object) -> None:
        queued.set()

    async with pool.acquire() as listener:
        await listener.add_listener(OUTBOX_CHANNEL, woken)
        running = asyncio.create_task(ledger.sweep(pool, stop, every=3600))
        await asyncio.wait_for(queued.wait(), 30)
        stop.set()
        await asyncio.wait_for(running, 30)
        await listener.remove_listener(OUTBOX_CHANNEL, woken)
    assert (await ledger.entry_with_steps(pool, entry.id)).escalated_at is not None
    assert await pool.fetchval("SELECT message_key FROM outbox") == f"ledger:{entry.id}:escalation"


async def test_the_figures_of_a_period(lone_pool: asyncpg.Pool) -> None:
    pool = lone_pool
    day = timedelta(days=1)
    await added(pool, T0 - day)  # the day before the period
    quick = await added(pool, T0, source="window", category="materials")
    slow = await added(pool, T0 + day, source="online", category="materials")
    late = await added(pool, T0 + 2 * day, follow_up_due=T0.date() + 3 * day)
    await added(pool, T0 + 3 * day, source="phone")  # waits, before
    await added(pool, T0 + 7 * day)  # after the period
    for entry, closed_at in ((quick, T0 + day), (slow, T0 + 4 * day)):
        for state in ("during", "after"):
            await moved(pool, entry.id, state, entry.created_at, T0.date() + 5 * day)
        await moved(pool, entry.id, "closed", closed_at)
    await moved(pool, late.id, "during", T0 + 2 * day)
    as_of = T0 + 6 * day
    assert await ledger.escalate_overdue(pool, as_of) == [late.id]

    figures = await ledger.ledger_figures(pool, T0.date(), T0.date() + 3 * day, as_of)
    assert figures == LedgerFigures(
        start=T0.date(),
        end=T0.date() + 3 * day,
        received=4,
        by_source={
            LedgerSource.window: 1,
            LedgerSource.online: 1,
            LedgerSource.hotline: 1,
            LedgerSource.phone: 1,
        },
        by_category={LedgerCategory.materials: 2, LedgerCategory.delivery: 2},
        by_state={LedgerState.closed: 2, LedgerState.during: 1, LedgerState.before: 1},
        closed=2,
        overdue=1,
        escalated=1,
        median_days_to_close=2.0,  # 1 day and 3 days
    )
    empty = await ledger.ledger_figures(pool, date(2025, 1, 1), date(2025, 1, 31), as_of)
    assert (empty.received, empty.by_source, empty.median_days_to_close) == (0, {}, None)
    # A China-time day: an entry at 00:30 on the 2nd (16:30 UTC on the 1st) is the 2nd's.
    await added(pool, datetime(2026, 12, 1, 16, 30, tzinfo=UTC))
    assert (await ledger.ledger_figures(pool, date(2026, 12, 2), date(2026, 12, 2))).received == 1
    assert (await ledger.ledger_figures(pool, date(2026, 12, 1), date(2026, 12, 1))).received == 0


async def test_entries_from_before_015_are_carried_over(database_url: str) -> None:
    """Migration 015 on a database holding 010's entries: each keeps its id, client, event
    id, case and time; its phase is its state, its topic heads the question, one step."""
    name = f"appraisal_ledger_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(db.with_database(database_url, name))
    try:
        for file, sql in db.migration_files():
            if file.startswith("015"):
                await conn.execute(
                    """INSERT INTO gateway_clients (client_id, name, scopes)
                       VALUES ('hotline-a', '12345 热线', ARRAY['ledger']);
                       INSERT INTO ledger_entries (client_id, entry_key, phase, topic, text)
                       VALUES ('hotline-a', 'q-1', 'during', '鉴定费用', '是否收费?')"""
                )
            await conn.execute(sql)
        row = await conn.fetchrow("SELECT * FROM ledger_entries")
        assert row is not None
        assert (row["state"], row["question"], row["source"], row["category"]) == (
            "during",
            "【鉴定费用】是否收费?",
            "12345",
            "other",
        )
        assert (row["client_id"], row["entry_key"], row["owner"]) == ("hotline-a", "q-1", None)
        steps = await conn.fetch("SELECT kind, to_state, actor, at FROM ledger_steps")
        assert [tuple(s) for s in steps] == [("recorded", "during", "hotline-a", row["created_at"])]
        with pytest.raises(asyncpg.CheckViolationError):  # a new entry needs an owner
            await conn.execute(
                """INSERT INTO ledger_entries (state, source, category, question, recorded_by)
                   VALUES ('before', 'window', 'other', '问题', 'W0101')"""
            )
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
