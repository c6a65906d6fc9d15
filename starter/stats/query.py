"""What the figures of a period are computed from, read from the PostgreSQL projection (Temporal's
list cannot aggregate): the cases that did something in the period, their events of the kinds
the figures count (any date: a conclusion in the period needs its acceptance before), the pool,
its draws' exclusions and the current evaluations."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from infra.db import json_column
from schemas.clock import CHINA_TZ
from schemas.vocabulary import EventKind
from starter.stats.compute import CaseRow, EvaluationRow, EventRow, ExpertRow, Source

KINDS = [
    EventKind.application_accepted,
    EventKind.application_refused,
    EventKind.case_abandoned,
    EventKind.case_terminated,
    EventKind.conclusion_issued,
    EventKind.delivery_completed,
    EventKind.supplement_notice,
    EventKind.deadline_breached,
    EventKind.panel_drawn,
    EventKind.panel_rechecked,
    EventKind.panel_shortage,
    EventKind.recusal_requested,
    EventKind.postal_delivered,
    EventKind.postal_returned,
    EventKind.notice_published,
    EventKind.delivery_deemed,
]


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in China time: `end` is inclusive."""
    return (
        datetime.combine(start, time(0), CHINA_TZ),
        datetime.combine(end + timedelta(days=1), time(0), CHINA_TZ),
    )


def as_data(value: Any) -> dict[str, Any]:
    found = json_column(value)
    return found if isinstance(found, dict) else {}


async def read_source(conn: asyncpg.Connection, start: date, end: date) -> Source:
    since, until = bounds(start, end)
    kinds = [k.value for k in KINDS]
    cases = await conn.fetch(
        """WITH touched AS (
               SELECT case_id FROM cases
               WHERE (received_at >= $1 AND received_at < $2)
                  OR (archived_at >= $1 AND archived_at < $2)
               UNION
               SELECT case_id FROM case_events
               WHERE kind = ANY($3) AND occurred_at >= $1 AND occurred_at < $2
           )
           SELECT case_id, case_type, mode, green_channel, jurisdiction, received_at,
                  site_done_at, archived_at, outcome
           FROM cases JOIN touched USING (case_id)""",
        since,
        until,
        kinds,
    )
    ids = [r["case_id"] for r in cases]
    events = await conn.fetch(
        """SELECT case_id, kind, occurred_at, data FROM case_events
           WHERE case_id = ANY($1) AND kind = ANY($2) ORDER BY occurred_at, id""",
        ids,
        kinds,
    )
    draws = await conn.fetch(
        "SELECT case_id, attempt, exclusions FROM panel_draws WHERE case_id = ANY($1)", ids
    )
    experts = await conn.fetch(
        """SELECT expert_id, name, specialties, active, term_start, term_end
           FROM experts ORDER BY expert_id"""
    )
    evaluations = await conn.fetch(
        """SELECT expert_id, score, recorded_at FROM expert_evaluations_current
           WHERE recorded_at >= $1 AND recorded_at < $2""",
        since,
        until,
    )
    return Source(
        cases=[CaseRow(**dict(r)) for r in cases],
        events=[
            EventRow(r["case_id"], r["kind"], r["occurred_at"], as_data(r["data"])) for r in events
        ],
        experts=[ExpertRow(**{**dict(r), "specialties": tuple(r["specialties"])}) for r in experts],
        exclusions={(r["case_id"], r["attempt"]): json_column(r["exclusions"]) for r in draws},
        evaluations=[EvaluationRow(**dict(r)) for r in evaluations],
    )
