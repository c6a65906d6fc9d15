"""The case's event log (case_events, in chain order) as the audit reads it: looked up by
kind, with the times and delivery dates it holds in China time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from schemas.clock import CHINA_TZ


def end_of(day: date) -> datetime:
    """A clock passes at the end of its last day, China time."""
    return datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ)


def day_of(at: datetime) -> date:
    return at.astimezone(CHINA_TZ).date()


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), CHINA_TZ)


def at(event: dict[str, Any] | None) -> datetime | None:
    """When an event (if any) happened."""
    return event["occurred_at"] if event else None


class Log:
    """The event log in chain order, looked up by kind."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def all(self, *kinds: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] in kinds]

    def first(self, *kinds: str, after: int = 0) -> dict[str, Any] | None:
        return next((e for e in self.all(*kinds) if e["seq"] > after), None)

    def last(self, *kinds: str) -> dict[str, Any] | None:
        found = self.all(*kinds)
        return found[-1] if found else None

    def about(self, kind: str, clock: str) -> list[dict[str, Any]]:
        """The reminders or breaches (`kind`) of one clock."""
        return [e for e in self.all(kind) if e["data"].get("clock") == clock]


def delivery_dates(log: Log) -> dict[str, tuple[date, bool]]:
    """Each recipient's delivery date: signed for (the first delivery of its letter), or
    deemed after public notice; True when deemed."""
    recipients = {
        e["data"].get("waybill_no"): e["data"].get("recipient") for e in log.all("letter.sent")
    }
    found: dict[str, tuple[date, bool]] = {}
    for event in log.all("postal.delivered", "delivery.deemed"):
        data = event["data"]
        recipient = data.get("recipient") or recipients.get(data.get("waybill_no"))
        if recipient is None or recipient in found:
            continue
        on = data.get("delivered_on")
        if on is None and data.get("occurred_at"):
            on = day_of(datetime.fromisoformat(data["occurred_at"])).isoformat()
        if on is not None:
            found[recipient] = (date.fromisoformat(on), event["kind"] == "delivery.deemed")
    return found
