"""The committee's figures (`appraisal stats`): starter/stats/model.py says what each counts."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from activities.ledger import ledger_figures
from schemas.clock import CHINA_TZ, now
from starter.stats.compute import figures
from starter.stats.model import Figures, Grouping
from starter.stats.policy import PoolPolicy
from starter.stats.query import read_source


async def collect(
    conn: asyncpg.Connection,
    start: date,
    end: date,
    by: Grouping,
    policy: PoolPolicy,
    generated_at: datetime | None = None,
) -> Figures:
    """The figures of [start, end] (China-time days, end inclusive) from the projection."""
    at = generated_at or now().astimezone(CHINA_TZ)
    # One snapshot: figures read in several statements while cases move must still add up.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        source = await read_source(conn, start, end)
        ledger = await ledger_figures(conn, start, end, at)
    found = figures(source, start, end, by, policy, at)
    found.ledger = ledger
    return found


__all__ = ["Figures", "Grouping", "collect"]
