"""The archive in PostgreSQL: sealing a package twice (a retried activity) writes it once; an
archive sealed before the package (format 1) still verifies its digest and its chain."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from activities.archive import Archive
from activities.storage import insert_event
from activities.verify import verify_case
from schemas.steps import ArchiveRequest, Stage
from tests.integration.test_event_chain import event, new_case

HISTORY = {"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}


async def test_a_retried_seal_writes_the_package_once(db_pool: asyncpg.Pool) -> None:
    case_id = await new_case(db_pool)
    for n in range(3):
        await insert_event(db_pool, event(case_id, n))
    request = ArchiveRequest(
        case_id=case_id,
        stage=Stage.archiving,
        closed_reason="delivered",
        archived_at=datetime(2028, 2, 29, 4, 0, tzinfo=UTC),
        package=True,
        retention_years=50,
    )
    archive = Archive(db_pool)
    first = await archive.seal_package(request, HISTORY)
    again = await archive.seal_package(request, HISTORY)
    assert again == first and first.events == 3
    assert first.retain_until is not None and first.retain_until.isoformat() == "2078-02-28"
    assert await db_pool.fetchval("SELECT count(*) FROM archives WHERE case_id = $1", case_id) == 1
    kinds = [
        r["kind"]
        for r in await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
        )
    ]
    assert kinds.count("case.archived") == 1
    check = await verify_case(db_pool, case_id)
    assert check is not None and check.ok and check.format == 2


async def test_an_archive_sealed_before_the_package_verifies_its_digest(
    db_pool: asyncpg.Pool,
) -> None:
    case_id = await new_case(db_pool)
    await insert_event(db_pool, event(case_id, 0))
    request = ArchiveRequest(
        case_id=case_id,
        stage=Stage.archiving,
        closed_reason="delivered",
        archived_at=datetime(2026, 11, 30, 2, 0, tzinfo=UTC),
    )
    await Archive(db_pool).seal_dump(request)
    check = await verify_case(db_pool, case_id)
    assert check is not None and check.format == 1 and check.ok
    assert check.retain_until.isoformat() == "2076-11-30"
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE archives DISABLE TRIGGER USER")
        await conn.execute(
            """UPDATE archives SET case_file = jsonb_set(case_file, '{case,stage}', '"organizing"')
               WHERE case_id = $1""",
            case_id,
        )
        await conn.execute("ALTER TABLE archives ENABLE TRIGGER USER")
    check = await verify_case(db_pool, case_id)
    assert check is not None and [a.part for a in check.altered] == ["case_file"]
