"""`appraisal find`: a concluded case's review date (复查, one year on) and re-appraisal window
(申请再次鉴定期限) from its projection row, in each state the row can be in (pure)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from activities.policy import read_policy
from activities.workdays import HolidayCalendar
from infra.settings import settings
from schemas.clock import CHINA_TZ, today
from starter.find_cli import FoundCase, found_case

CONCLUDED = datetime(2026, 2, 28, 23, 30, tzinfo=CHINA_TZ)  # still 28 February in China


def row(**fields: Any) -> dict[str, Any]:
    received = datetime(2026, 1, 5, 9, 0, tzinfo=CHINA_TZ)
    base: dict[str, Any] = {
        "case_id": "JN-2026-000001",
        "case_type": "initial",
        "stage": "archived",
        "received_at": received,
        "complete_at": received + timedelta(days=3),
        "open": False,
        "outcome_label": "八级",
        "closed_reason": None,
        "complete_on": None,
        "concluded_at": CONCLUDED,
        "delivered": None,
        "window_ended": None,
        "referred": False,
    }
    return base | fields


def found(**fields: Any) -> FoundCase:
    return found_case(row(**fields), read_policy(settings().policy_file), HolidayCalendar())


def test_dates_are_china_days_and_review_opens_a_year_after_the_conclusion() -> None:
    case = found(complete_on="2026-01-07")
    assert (case.received_on, case.accepted_on) == (date(2026, 1, 5), date(2026, 1, 7))
    assert case.concluded_on == date(2026, 2, 28)
    assert case.review_from == date(2027, 2, 28) and case.review_open == (
        today() >= date(2027, 2, 28)
    )
    assert found().accepted_on == date(2026, 1, 8)  # no event: the milestone's day
    assert found(case_type="illness").review_from is None  # re-applied, not reviewed
    assert case.re_appraisal == "not started: the letter is not delivered yet"


def test_the_re_appraisal_window_from_delivery_as_the_case_counts_it() -> None:
    delivered = {
        "worker": {"delivered_on": "2026-03-02", "deemed": False},
        "employer": {"delivered_on": "2026-03-05", "deemed": True},
    }
    case = found(delivered=json.dumps(delivered))
    # 15 calendar days from the later delivery: 20 March 2026, a Friday (a working day).
    assert case.re_appraisal_ends == date(2026, 3, 20)
    assert case.re_appraisal == ("open" if case.re_appraisal_open else "passed")
    # Before delivery in full, the row kept the instant each letter was signed for.
    legacy = {"worker": "2026-03-02 10:30:00+08:00", "employer": "2026-03-01 18:00:00+00:00"}
    assert found(delivered=json.dumps(legacy)).re_appraisal_ends == date(2026, 3, 17)


def test_a_window_that_ended_was_used_or_never_was() -> None:
    ended = json.dumps({"worker": "2026-03-17", "employer": "2026-03-20"})
    case = found(window_ended=ended, delivered=json.dumps({}))
    assert (case.re_appraisal, case.re_appraisal_ends) == ("passed", date(2026, 3, 20))
    assert not case.re_appraisal_open
    assert found(referred=True).re_appraisal == "requested: referred to the province (已移送)"
    final = found(case_type="re_appraisal")
    assert final.re_appraisal is not None and final.re_appraisal.startswith("none: ")
    unconcluded = found(concluded_at=None, outcome_label=None)
    assert unconcluded.review_from is None and unconcluded.re_appraisal is None
