"""What PostgreSQL holds of a case, read once for the audit: the case row, the event log (with
its chain walked), documents (their bytes hashed again), expert draws (redone from their
snapshot), the outbox, and the archive's seal. Everything after this is pure."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from activities import chain
from activities.experts import verify_draw
from activities.storage import Executor
from infra.db import json_column

# The case row without `worker_ref` (a keyed hash of the citizen ID: nothing to print).
CASE_COLUMNS = """case_id, case_type, green_channel, mode, jurisdiction, stage, received_at,
                  complete_at, site_done_at, archived_at, outcome, outcome_label, closed_reason,
                  conclusion_document, first_run_id"""


@dataclass
class Draw:
    attempt: int
    on: date | None
    size: int | None
    members: list[str]
    exclusions: list[tuple[str, str]]  # (expert id, reason)
    short_by: int
    reproduced: bool | None  # None: no pool snapshot kept (draws before migration 003)


@dataclass
class Archive:
    format: int
    sha256: str
    archived_at: datetime
    retain_until: date
    shipments: list[dict[str, Any]]  # the package's delivery proof (format 2)
    history: str | None  # the Temporal history export (format 2), JSON text


@dataclass
class CaseRows:
    case: dict[str, Any]
    # case_events in chain order; `data` parsed. Keys: id, seq, event_key, stage, kind,
    # actor, occurred_at, data.
    events: list[dict[str, Any]]
    chain_breaks: list[str] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)  # with `intact`
    draws: list[Draw] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    archive: Archive | None = None


async def load(conn: Executor, case_id: str) -> CaseRows | None:
    """None when PostgreSQL holds no record of the case."""
    case = await conn.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1", case_id)
    if case is None:
        return None
    raw = await conn.fetch(
        f"SELECT {chain.CHAIN_COLUMNS} FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
    )
    return CaseRows(
        case=dict(case),
        events=[{**dict(r), "data": json.loads(r["data"])} for r in raw],
        chain_breaks=[b.text() for b in chain.breaks(raw)],
        documents=await documents(conn, case_id),
        draws=await draws(conn, case_id),
        outbox=[
            dict(r)
            for r in await conn.fetch(
                """SELECT message_key, channel, recipient, created_at, sent_at FROM outbox
                   WHERE case_id = $1 ORDER BY created_at, message_key""",
                case_id,
            )
        ],
        archive=await archive(conn, case_id),
    )


async def documents(conn: Executor, case_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT document_id, kind, media_type, size, sha256, created_at, content
           FROM documents WHERE case_id = $1 ORDER BY created_at, document_id""",
        case_id,
    )
    return [
        {
            **{k: v for k, v in r.items() if k != "content"},
            "intact": hashlib.sha256(r["content"]).hexdigest() == r["sha256"],
        }
        for r in rows
    ]


async def draws(conn: Executor, case_id: str) -> list[Draw]:
    rows = await conn.fetch(
        """SELECT attempt, seed, pool_size, pool_sha256, eligible, wrong_specialty, short_by,
                  members::text AS members, exclusions::text AS exclusions,
                  criteria::text AS criteria, snapshot::text AS snapshot
           FROM panel_draws WHERE case_id = $1 ORDER BY attempt""",
        case_id,
    )
    found = []
    for row in rows:
        criteria = json_column(row["criteria"]) or {}
        kept = row["snapshot"] is not None and row["criteria"] is not None
        found.append(
            Draw(
                attempt=row["attempt"],
                on=date.fromisoformat(criteria["on"]) if criteria.get("on") else None,
                size=criteria.get("size"),
                members=[m["expert_id"] for m in json_column(row["members"])],
                exclusions=[(x["expert_id"], x["reason"]) for x in json_column(row["exclusions"])],
                short_by=row["short_by"],
                reproduced=verify_draw(row) if kept else None,
            )
        )
    return found


async def archive(conn: Executor, case_id: str) -> Archive | None:
    row = await conn.fetchrow(
        """SELECT format, sha256, archived_at, retain_until,
                  case_file->'delivery'->'shipments' AS shipments, history::text AS history
           FROM archives WHERE case_id = $1""",
        case_id,
    )
    if row is None:
        return None
    return Archive(
        format=row["format"],
        sha256=row["sha256"],
        archived_at=row["archived_at"],
        retain_until=row["retain_until"],
        shipments=json_column(row["shipments"]) or [],
        history=row["history"],
    )
