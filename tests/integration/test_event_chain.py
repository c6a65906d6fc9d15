"""The hash chain of case_events on PostgreSQL (migration 012): concurrent appends of one case
form one chain, the database's hash and the Python one agree, and rows written before the
migration are chained by it."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime

import asyncpg

from activities.chain import CHAIN_COLUMNS, GENESIS, breaks, event_hash
from activities.storage import insert_event
from infra import db
from schemas.steps import EventRecord, Stage
from schemas.vocabulary import EventKind


async def new_case(conn: asyncpg.Connection | asyncpg.Pool) -> str:
    case_id = f"CH-{uuid.uuid4().hex[:8]}"
    await conn.execute(
        """INSERT INTO cases (case_id, case_type, worker_ref, mode, jurisdiction, stage,
                              received_at)
           VALUES ($1, 'initial', $1, 'on_site', 'city', 'acceptance', now())""",
        case_id,
    )
    return case_id


def event(case_id: str, n: int) -> EventRecord:
    return EventRecord(
        case_id=case_id,
        stage=Stage.acceptance,
        key=f"e{n}",
        kind=EventKind.materials_supplemented,
        actor="W0101",
        at=datetime.now(UTC),
        data={"n": n, "note": '补正材料 "引号"\n第二行'},
    )


async def chain_of(conn: asyncpg.Connection | asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {CHAIN_COLUMNS} FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
        )
    )


async def test_concurrent_appends_of_one_case_form_one_chain(db_pool: asyncpg.Pool) -> None:
    case_id = await new_case(db_pool)
    await asyncio.gather(*(insert_event(db_pool, event(case_id, n)) for n in range(40)))
    rows = await chain_of(db_pool, case_id)
    assert [r["seq"] for r in rows] == list(range(1, 41))
    assert rows[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    assert all(event_hash(r) == r["hash"] for r in rows)  # Python agrees with the trigger
    assert breaks(rows) == []


async def test_an_append_waits_for_the_open_transaction_of_the_same_case(
    db_pool: asyncpg.Pool,
) -> None:
    """The trigger's per-case lock is held to the end of the inserting transaction: a second
    writer chains onto the first's row, never onto the same predecessor."""
    case_id = await new_case(db_pool)
    await insert_event(db_pool, event(case_id, 0))
    async with db_pool.acquire() as first, first.transaction():
        await insert_event(first, event(case_id, 1))
        second = asyncio.create_task(insert_event(db_pool, event(case_id, 2)))
        for _ in range(500):  # the second writer is seen waiting on the lock
            if await db_pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the second append never waited for the first")
        assert not second.done()
    assert await second
    rows = await chain_of(db_pool, case_id)
    assert [r["event_key"] for r in rows] == ["e0", "e1", "e2"]
    assert breaks(rows) == []


async def test_the_migration_chains_rows_written_before_it(database_url: str) -> None:
    admin = await asyncpg.connect(database_url)
    name = f"chain_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(db.with_database(database_url, name))
    try:
        files = db.migration_files()
        for file, sql in files:
            if file < "012":
                await conn.execute(sql)
        case_ids = [await new_case(conn) for _ in range(2)]
        for case_id in case_ids:
            for n in range(3):
                await conn.execute(
                    """INSERT INTO case_events (case_id, event_key, stage, kind, actor,
                                                occurred_at, data)
                       VALUES ($1, $2, 'acceptance', 'stage.entered', 'system', now(), $3)""",
                    case_id,
                    f"k{n}",
                    f'{{"n": {n}, "说明": "旧记录"}}',
                )
        await conn.execute(
            """INSERT INTO archives (case_id, archived_at, sha256, case_file)
               VALUES ($1, '2026-02-28 18:00:00+00', $2, '{}')""",
            case_ids[0],
            "0" * 64,
        )
        await conn.execute(dict(files)[next(f for f, _ in files if f.startswith("012"))])
        for case_id in case_ids:
            rows = await chain_of(conn, case_id)
            assert [r["seq"] for r in rows] == [1, 2, 3] and breaks(rows) == []
        # China date 2026-03-01 (18:00 UTC is 02:00 the next day), kept 50 years.
        kept = await conn.fetchval("SELECT retain_until FROM archives")
        assert kept.isoformat() == "2076-03-01"
        # A later append continues the chain.
        await insert_event(conn, event(case_ids[0], 9))
        rows = await chain_of(conn, case_ids[0])
        assert rows[-1]["seq"] == 4 and breaks(rows) == []
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
