"""Each clock of the case (DOMAIN.md, Deadlines), rebuilt from the event log: its start, its
due date, and whether it was met, breached (and the breach recorded), or cut short.

The log records a clock's reminders and breaches (with their due dates), not its start: a
clock starts at the fact it is counted from (receipt, the complete application, the site
appraisal, the conclusion, a delivery). Its due date is the one the case recorded when the log
has it (acceptance, the supplement notice, a reminder or breach after the last move), else it
is counted from the start with the policy the case captured and the counting rule
(`activities/workdays.due_date`), as the case counted it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from activities.workdays import HolidayCalendar, due_date
from schemas.clock import china_text
from schemas.policy import DeadlinePolicy, GreenChannelClocks
from schemas.workdays import DayUnit, DueRequest
from starter.audit.describe import clock_label
from starter.audit.log import Log, at, day_of, delivery_dates, end_of, start_of
from starter.audit.model import ClockLine, ClockOutcome

Count = Callable[[date, int, DayUnit], date]  # the counting rule: start, days, unit → due
CALENDAR, WORKING = DayUnit.calendar_days, DayUnit.working_days
CLOSING = ("case.refused", "case.abandoned", "case.terminated", "case.archived")


def counting_rule(calendar: HolidayCalendar | None = None) -> Count:
    """The rule the case counted with (activities/workdays), on the holiday tables in force."""
    calendar = calendar or HolidayCalendar()

    def count(start: date, days: int, unit: DayUnit) -> date:
        return due_date(DueRequest(start=start, days=days, unit=unit), calendar).due

    return count


@dataclass
class Facts:
    """What the clocks depend on besides the log."""

    policy: dict[str, Any]  # as the case captured it (policy.captured)
    green: bool
    case_type: str
    receipt_date: date | None  # the application's receipt date (history), if known
    now: datetime


def days(facts: Facts, key: str, green_key: str | None = None) -> int:
    """A length of the captured policy; the model's default for a key it did not have."""
    if facts.green and green_key:
        green = facts.policy.get("green_channel") or {}
        return int(green.get(green_key, GreenChannelClocks.model_fields[green_key].default))
    return int(facts.policy.get(key, DeadlinePolicy.model_fields[key].default))


class Clocks:
    def __init__(self, log: Log, facts: Facts, count: Count) -> None:
        self.log, self.facts, self.count = log, facts, count
        closing = log.first(*CLOSING)
        self.closed_at = at(closing)

    def all(self) -> list[ClockLine]:
        return [
            *self.supplement(),
            *self.conclusion(),
            *self.site_promise(),
            *self.attendance(),
            *self.examinations(),
            *self.delivery(),
            *self.public_notices(),
            *self.dispute_windows(),
        ]

    # --- the duty clocks: something must happen by the due date -------------------------

    def settle(
        self,
        name: str,
        started_on: date | None,
        due: tuple[date, str],
        done_at: datetime | None,
        since: int = 0,
        **extra: Any,
    ) -> ClockLine:
        """A duty clock: met, breached (recorded), or missed without a record. `since`: the
        event that started this run of the clock (a clock name can run more than once)."""
        due_on, source = due
        breaches = [b for b in self.log.about("deadline.breached", name) if b["seq"] > since]
        end = end_of(due_on)
        if breaches:
            outcome = ClockOutcome.breached
        elif done_at is not None:
            outcome = ClockOutcome.met if done_at < end else ClockOutcome.late_unrecorded
        elif self.closed_at is not None:
            late = self.closed_at >= end
            outcome = ClockOutcome.late_unrecorded if late else ClockOutcome.stopped
        else:
            late = self.facts.now >= end
            outcome = ClockOutcome.late_unrecorded if late else ClockOutcome.running
        line = ClockLine(
            clock=name,
            label=clock_label(name),
            started_on=started_on,
            due_on=due_on,
            due_source=source,
            outcome=outcome,
            done_at=done_at,
            breach_at=breaches[0]["occurred_at"] if breaches else None,
            **extra,
        )
        if outcome is ClockOutcome.late_unrecorded and not line.problem:
            line.problem = (
                f"{line.label} {due_on} 24:00 北京时间届满, 未按期完成且未记录逾期 "
                "(missed, and no breach was recorded)"
            )
        return line

    def recorded(self, clock: str, after: int, fallback: tuple[date, str]) -> tuple[date, str]:
        """The due date the case itself recorded after the clock last moved (a reminder or a
        breach names it), else the fallback."""
        found = [
            e
            for e in self.log.about("deadline.reminder", clock)
            + self.log.about("deadline.breached", clock)
            if e["seq"] > after
        ]
        if found:
            return date.fromisoformat(found[-1]["data"]["due_on"]), "recorded"
        return fallback

    def counted(self, start: date, length: int, unit: DayUnit = CALENDAR) -> tuple[date, str]:
        return self.count(start, length, unit), "counted"

    def supplement(self) -> list[ClockLine]:
        log, facts = self.log, self.facts
        notice = log.first("supplement.notice")
        accepted = log.first("application.accepted")
        received = log.first("application.received")
        waiting = not accepted and not log.first("application.refused") and received is not None
        if not (notice or log.about("deadline.breached", "supplement_notice") or waiting):
            return []  # complete on receipt (or refused): no notice was due
        assert received is not None
        start = facts.receipt_date or day_of(received["occurred_at"])
        length = days(facts, "supplement_notice_working_days", "supplement_notice_working_days")
        due = self.recorded("supplement_notice", 0, self.counted(start, length, WORKING))
        lines = [self.settle("supplement_notice", start, due, at(notice))]
        if notice is None:
            return lines
        extended = log.last("supplement.extended")
        wait_due = (extended or notice)["data"].get("until") or notice["data"]["due"]
        came = accepted if accepted and accepted["seq"] > notice["seq"] else None
        abandoned = log.first("case.abandoned")
        lines.append(
            self.period(
                "supplement",
                day_of(notice["occurred_at"]),
                date.fromisoformat(wait_due),
                ended=at(abandoned),
                met=at(came),
                note=f"延长至 {wait_due}" if extended else "",
            )
        )
        return lines

    def conclusion(self) -> list[ClockLine]:
        """The legal limit (60 days, once +30) and the green channel's internal clock, both
        from the complete application, moved by granted reschedules (and the extension)."""
        log, facts = self.log, self.facts
        accepted = log.first("application.accepted")
        if accepted is None:
            return []
        complete_on = date.fromisoformat(accepted["data"]["complete_on"])
        done_at = at(log.first("conclusion.decided"))
        moves = log.all("appointment.rescheduled", "conclusion.extended")
        last_move = moves[-1]["seq"] if moves else accepted["seq"]
        shift = int(
            (log.last("appointment.rescheduled") or {"data": {}})["data"].get("total_shift_days", 0)
        )
        extension = log.first("conclusion.extended")
        extra = int(extension["data"].get("days", 0)) if extension else 0
        base = days(facts, "conclusion_days")
        if moves:
            due = self.counted(complete_on, base + extra + shift)
        else:
            due = date.fromisoformat(accepted["data"]["conclusion_due"]), "recorded"
        legal = self.settle(
            "conclusion",
            complete_on,
            self.recorded("conclusion", last_move, due),
            done_at,
            extended_days=extra,
            shift_days=shift,
        )
        if extension is not None:
            legal.problem = legal.problem or self.late_extension(complete_on, base, extension)
        lines = [legal]
        if facts.green:
            green = days(facts, "conclusion_days", "conclusion_days")
            due = self.recorded(
                "green_conclusion", last_move, self.counted(complete_on, green + shift)
            )
            lines.append(
                self.settle("green_conclusion", complete_on, due, done_at, shift_days=shift)
            )
        return lines

    def late_extension(self, complete_on: date, base: int, extension: dict[str, Any]) -> str | None:
        """The one extension is decided before the limit runs out (a breach cannot be undone)."""
        before = [e for e in self.log.all("appointment.rescheduled") if e["seq"] < extension["seq"]]
        shift = int(before[-1]["data"].get("total_shift_days", 0)) if before else 0
        limit = self.count(complete_on, base + shift, CALENDAR)
        if extension["occurred_at"] < end_of(limit):
            return None
        return (
            f"延长决定于 {china_text(extension['occurred_at'])}, 晚于期限 {limit} 24:00 北京时间 "
            "(the extension was decided after the limit ran out)"
        )

    def site_promise(self) -> list[ClockLine]:
        site = self.log.first("milestone.site_appraisal_done")
        if site is None:
            return []
        start = day_of(site["occurred_at"])
        length = days(self.facts, "site_promise_days", "site_promise_days")
        due = self.recorded("site_promise", site["seq"], self.counted(start, length))
        decided = self.log.first("conclusion.decided")
        return [self.settle("site_promise", start, due, at(decided))]

    def attendance(self) -> list[ClockLine]:
        """Attendance is recorded by the end of the appointment day."""
        bookings = self.log.all("appointment.booked")
        if not bookings:
            return []
        came = self.log.first("attendance.attended", "attendance.no_show")
        before = [b for b in bookings if came is None or b["seq"] < came["seq"]] or bookings
        day = day_of(datetime.fromisoformat(before[-1]["data"]["at"]))
        start = day_of(bookings[0]["occurred_at"])
        return [self.settle("attendance", start, (day, "recorded"), at(came))]

    def examinations(self) -> list[ClockLine]:
        lines = []
        length = days(self.facts, "examination_wait_days")
        for order in self.log.all("examination.ordered"):
            start = day_of(order["occurred_at"])
            back = self.log.first("examination.results", "examination.refused", after=order["seq"])
            due = self.recorded("examination", order["seq"], self.counted(start, length))
            lines.append(self.settle("examination", start, due, at(back), since=order["seq"]))
        return lines

    def delivery(self) -> list[ClockLine]:
        """15 days from the conclusion to the later delivery date (signed for, or deemed)."""
        decided = self.log.first("conclusion.decided")
        entered = [e for e in self.log.all("stage.entered") if e["stage"] == "delivery"]
        if decided is None or not entered:
            return []
        start = day_of(decided["occurred_at"])
        due = self.recorded(
            "delivery", decided["seq"], self.counted(start, days(self.facts, "delivery_days"))
        )
        # Judged by the later delivery date (signed for, or deemed), shown at the moment the
        # case recorded delivery as complete.
        dates = delivery_dates(self.log)
        completed = self.log.first("delivery.completed")
        done_at = start_of(max(d for d, _ in dates.values())) if completed and dates else None
        line = self.settle("delivery", start, due, done_at)
        line.done_at = at(completed)
        return [line]

    # --- the periods: something follows when they have run ------------------------------

    def period(
        self,
        name: str,
        started_on: date,
        due_on: date,
        ended: datetime | None,
        met: datetime | None = None,
        note: str = "",
        stopped: bool = False,
    ) -> ClockLine:
        """A period whose end has a consequence (abandoned, deemed delivered, archived):
        the consequence must not come before the period ran out."""
        line = ClockLine(
            clock=name,
            label=clock_label(name),
            started_on=started_on,
            due_on=due_on,
            due_source="recorded",
            outcome=ClockOutcome.running,
            done_at=met or ended,
            note=note,
        )
        if met is not None:
            line.outcome = ClockOutcome.met
        elif ended is not None and ended < end_of(due_on):
            line.outcome = ClockOutcome.early
            line.problem = (
                f"{line.label} {due_on} 24:00 北京时间届满, 却已于 {china_text(ended)} 处理 "
                "(its consequence came before the period ended)"
            )
        elif ended is not None:
            line.outcome = ClockOutcome.ended
        elif stopped or self.closed_at is not None:
            line.outcome = ClockOutcome.stopped
        return line

    def public_notices(self) -> list[ClockLine]:
        lines = []
        for notice in self.log.all("notice.published"):
            recipient = notice["data"]["recipient"]
            deemed = next(
                (e for e in self.log.all("delivery.deemed") if e["data"]["recipient"] == recipient),
                None,
            )
            published = datetime.fromisoformat(notice["data"]["published_at"])
            lines.append(
                self.period(
                    f"public_notice_{recipient}",
                    day_of(published),
                    date.fromisoformat(notice["data"]["deemed_delivered_on"]),
                    ended=at(deemed),
                )
            )
        return lines

    def dispute_windows(self) -> list[ClockLine]:
        """15 days from each party's own delivery date; the case archives after the later."""
        ended = self.log.first("dispute_window.ended")
        requests = self.log.all("re_appraisal.requested")
        referred = self.log.first("re_appraisal.referred")
        entered = [e for e in self.log.all("stage.entered") if e["stage"] == "archiving"]
        running = entered and self.closed_at is None
        if not (ended or requests or running) or self.facts.case_type == "re_appraisal":
            return []  # a re-appraisal's conclusion is final; older cases had no window
        length = days(self.facts, "dispute_window_days")
        lines = []
        for recipient, (delivered_on, _) in delivery_dates(self.log).items():
            recorded_end = (ended or {"data": {}})["data"].get(recipient)
            due_on = (
                date.fromisoformat(recorded_end)
                if recorded_end
                else self.count(delivered_on, length, CALENDAR)
            )
            asked = next((r for r in requests if r["data"].get("requested_by") == recipient), None)
            lines.append(
                self.period(
                    f"dispute_window_{recipient}",
                    delivered_on,
                    due_on,
                    ended=at(ended),
                    met=at(asked),
                    note="申请再次鉴定" if asked else ("已移送再次鉴定" if referred else ""),
                    stopped=referred is not None,
                )
            )
        return lines


def rebuild(events: list[dict[str, Any]], facts: Facts, count: Count) -> list[ClockLine]:
    return Clocks(Log(events), facts, count).all()
