"""Migration 010: letters posted before the `shipments` table existed are taken from the event
log, so the gateway knows their waybills too."""

from __future__ import annotations

import json
import uuid

import asyncpg

from infra import db


async def test_letters_sent_before_the_table_are_taken_from_the_event_log(
    database_url: str,
) -> None:
    name = f"appraisal_mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(db.with_database(database_url, name))
    try:
        files = db.migration_files()
        for file, sql in files:
            if file.startswith("010_"):
                break
            await conn.execute(sql)
        await conn.execute(
            """INSERT INTO cases (case_id, case_type, worker_ref, mode, jurisdiction, stage,
                                  received_at)
               VALUES ('JN-2026-000001', 'initial', 'ref', 'on_site', 'city', 'delivery', now())"""
        )
        sent = [("EA1", "worker"), ("EA2", "employer"), ("EA1", "worker")]  # one logged twice
        for n, (waybill, recipient) in enumerate(sent):
            await conn.execute(
                """INSERT INTO case_events (case_id, event_key, stage, kind, actor, occurred_at,
                                            data)
                   VALUES ('JN-2026-000001', $1, 'delivery', 'letter.sent', 'system', now(), $2)""",
                f"letter.sent:{n}",
                json.dumps({"recipient": recipient, "waybill_no": waybill}),
            )
        await conn.execute(dict(files)["010_gateway.sql"])
        rows = await conn.fetch("SELECT waybill_no, case_id, recipient FROM shipments ORDER BY 1")
        assert [tuple(r) for r in rows] == [
            ("EA1", "JN-2026-000001", "worker"),
            ("EA2", "JN-2026-000001", "employer"),
        ]
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
