""" "Today" for validators that run both inside workflows (decoding input) and outside.

Inside a workflow the system clock is forbidden and would break replay, so validators take
the workflow's deterministic time there."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from temporalio import workflow

# Appraisal dates are Beijing dates: a conclusion issued at 07:00 CST is that day's, not yesterday's.
CHINA_TZ = timezone(timedelta(hours=8), "CST")


def now() -> datetime:
    return workflow.now() if workflow.in_workflow() else datetime.now(UTC)


def china(at: datetime) -> datetime:
    """A time as people read it: China time (UTC+08:00)."""
    return at.astimezone(CHINA_TZ)


def china_text(at: datetime) -> str:
    """An instant as people here read it: '2026-10-15 09:00 北京时间'."""
    return f"{china(at):%Y-%m-%d %H:%M} 北京时间"


def today() -> date:
    return now().astimezone(CHINA_TZ).date()
