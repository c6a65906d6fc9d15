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


def today() -> date:
    return now().astimezone(CHINA_TZ).date()
