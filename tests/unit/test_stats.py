"""The figures' arithmetic without a database: percentiles, periods, which day places a case,
how a clock is judged, the tidy CSV, the pool policy."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.clock import CHINA_TZ
from schemas.ledger import LedgerCategory, LedgerFigures, LedgerSource, LedgerState
from starter.app import problems
from starter.stats.compute import (
    CaseRow,
    EvaluationRow,
    EventRow,
    ExpertRow,
    Source,
    delivery_day,
    figures,
    median,
    nearest_rank,
    period_key,
    periods,
)
from starter.stats.model import Figures, Grouping
from starter.stats.policy import PolicyProblem, PoolPolicy, load_pool_policy
from starter.stats.render import csv_text, tables, tidy
from starter.stats_cli import StatsRequest

POLICY = PoolPolicy(version="t", review_below=3.0, min_evaluations=2)
GENERATED = datetime(2027, 1, 1, tzinfo=CHINA_TZ)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_TZ)


def test_nearest_rank_and_median() -> None:
    assert nearest_rank([], 0.9) is None and median([]) is None
    assert nearest_rank([7], 0.9) == 7
    assert nearest_rank(list(range(1, 11)), 0.9) == 9  # 9 of 10 at or below 9
    assert nearest_rank([5, 1, 3], 0.5) == 3
    assert median([1, 2, 3, 10]) == 2.5


@given(st.lists(st.integers(0, 400), min_size=1), st.floats(0.01, 1.0))
def test_nearest_rank_is_a_value_with_q_at_or_below(values: list[int], q: float) -> None:
    found = nearest_rank(values, q)
    assert found in values
    assert sum(v <= found for v in values) >= q * len(values) - 1e-9
    assert sum(v < found for v in values) < q * len(values)


def test_periods_are_clipped_months_and_quarters() -> None:
    assert periods(date(2026, 1, 15), date(2026, 3, 2), Grouping.month) == [
        ("2026-01", date(2026, 1, 15), date(2026, 1, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-03", date(2026, 3, 1), date(2026, 3, 2)),
    ]
    assert periods(date(2026, 11, 20), date(2027, 4, 1), Grouping.quarter) == [
        ("2026-Q4", date(2026, 11, 20), date(2026, 12, 31)),
        ("2027-Q1", date(2027, 1, 1), date(2027, 3, 31)),
        ("2027-Q2", date(2027, 4, 1), date(2027, 4, 1)),
    ]
    assert period_key(date(2026, 12, 31), Grouping.quarter) == "2026-Q4"


@given(st.dates(date(2000, 1, 1), date(2040, 1, 1)), st.integers(0, 800), st.sampled_from(Grouping))
def test_periods_cover_the_days_once(start: date, length: int, by: Grouping) -> None:
    end = date.fromordinal(start.toordinal() + length)
    found = periods(start, end, by)
    assert found[0][1] == start and found[-1][2] == end
    for (_, _, last), (_, first, _) in itertools.pairwise(found):
        assert first.toordinal() == last.toordinal() + 1
    assert all(period_key(a, by) == key == period_key(b, by) for key, a, b in found)


def case(case_id: str, received: datetime, **fields: object) -> CaseRow:
    values: dict[str, object] = {
        "case_type": "initial",
        "mode": "on_site",
        "green_channel": False,
        "jurisdiction": "city",
    }
    return CaseRow(case_id=case_id, received_at=received, **(values | fields))  # type: ignore[arg-type]


def test_china_time_places_the_day_and_late_clocks_are_judged_once() -> None:
    # Received 23:30 on 31 October, China time: still 15:30 UTC on the 31st, but a
    # 00:30 China-time receipt on 1 November is 16:30 UTC on 31 October: November's.
    early = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)
    rows = [
        case("A", at(10, 31, 23), site_done_at=at(11, 3), outcome="grade_8"),
        case("B", early, site_done_at=at(11, 3), outcome="grade_9"),
    ]
    events = [
        EventRow("A", "application.accepted", at(10, 31, 23), {"complete_on": "2026-10-31"}),
        EventRow("B", "application.accepted", early, {"complete_on": "2026-11-01"}),
        # A: concluded on the 6th, within 5 days of the appraisal (3rd).
        EventRow("A", "conclusion.issued", at(11, 6)),
        # B: the promise breached on the 9th (due the 8th), concluded the 10th: late once.
        EventRow("B", "deadline.breached", at(11, 9, 0), {"clock": "site_promise"}),
        EventRow("B", "conclusion.issued", at(11, 10)),
    ]
    found = figures(
        Source(rows, events),
        date(2026, 11, 1),
        date(2026, 11, 30),
        Grouping.month,
        POLICY,
        GENERATED,
    )
    assert found.cases.received == 1 and found.cases.accepted == 1 and found.cases.concluded == 2
    promise = next(k for k in found.clocks if k.clock == "site_promise")
    assert (promise.judged, promise.on_time, promise.late, promise.breaches) == (2, 1, 1, 1)
    assert promise.on_time_rate == 0.5
    site = next(c for c in found.cycles if c.name == "site")
    assert site.histogram == {"3": 1, "7": 1} and site.within_5_days == 0.5
    acceptance = next(c for c in found.cycles if c.name == "acceptance")
    assert acceptance.histogram == {"6": 1, "9": 1} and acceptance.median_days == 7.5
    assert [(c.key, c.count) for c in found.breakdowns.by_outcome] == [
        ("grade_8", 1),
        ("grade_9", 1),
    ]
    # October's figures see A received and accepted, nothing judged yet.
    october = figures(
        Source(rows, events),
        date(2026, 10, 1),
        date(2026, 10, 31),
        Grouping.month,
        POLICY,
        GENERATED,
    )
    assert (october.cases.received, october.cases.concluded) == (1, 0)
    assert next(k for k in october.clocks if k.clock == "site_promise").judged == 0


def test_a_clock_still_running_is_not_judged_and_unrated_clocks_count_breaches() -> None:
    rows = [case("A", at(11, 2))]
    events = [
        EventRow("A", "application.accepted", at(11, 2), {"complete_on": "2026-11-02"}),
        EventRow("A", "deadline.breached", at(11, 20), {"clock": "attendance"}),
    ]
    found = figures(
        Source(rows, events),
        date(2026, 11, 1),
        date(2026, 11, 30),
        Grouping.month,
        POLICY,
        GENERATED,
    )
    clocks = {k.clock: k for k in found.clocks}
    assert clocks["conclusion"].judged == 0 and clocks["conclusion"].on_time_rate is None
    assert clocks["attendance"].breaches == 1 and clocks["attendance"].on_time_rate is None


def test_evaluations_flag_below_the_line_with_enough_of_them() -> None:
    experts = [
        ExpertRow("E1", "甲", ("orthopedics",), True, date(2024, 1, 1), date(2027, 1, 1)),
        ExpertRow("E2", "乙", ("neurology",), True, date(2024, 1, 1), date(2027, 1, 1)),
        ExpertRow("E3", "丙", ("neurology",), False, date(2024, 1, 1), date(2027, 1, 1)),
    ]
    scores = [("E1", 2), ("E1", 3), ("E2", 1)]
    source = Source(
        [], [], experts, evaluations=[EvaluationRow(e, s, at(11, 5)) for e, s in scores]
    )
    found = figures(
        source, date(2026, 11, 1), date(2026, 11, 30), Grouping.month, POLICY, GENERATED
    )
    assert [(e.expert_id, e.count, e.mean, e.for_review) for e in found.pool.experts] == [
        ("E2", 1, 1.0, False),  # one evaluation: too few to judge
        ("E1", 2, 2.5, True),
    ]
    assert found.pool.in_term == 2 and found.pool.for_review == 1  # E3 is inactive
    assert POLICY.for_review(2, 3.0) is False  # the line itself is not below it


def test_csv_is_one_tidy_table_excel_reads() -> None:
    rows = [case("A", at(11, 2), mode="home_visit", green_channel=True)]
    found = figures(
        Source(rows, []), date(2026, 11, 1), date(2026, 12, 31), Grouping.quarter, POLICY, GENERATED
    )
    text = csv_text(found)
    assert text.startswith("\ufeffsection,metric,key,value\r\n")
    table = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert all(len(r) == 4 for r in table)
    cells = {(s, m, k): v for s, m, k, v in table[1:]}
    assert len(cells) == len(table) - 1
    assert cells[("cases", "received", "")] == "1"
    assert cells[("breakdowns", "by_mode.received", "home_visit")] == "1"
    assert cells[("breakdowns", "by_channel.received", "green_channel")] == "1"
    assert cells[("periods", "by_mode.home_visit", "2026-Q4")] == "1"
    assert cells[("cycles", "median_days", "acceptance")] == ""  # none concluded
    assert cells[("pool", "policy.review_below", "")] == "3.0"
    assert len(list(tidy(found))) == len(table) - 1


def test_the_pool_policy_file(tmp_path: Path) -> None:
    assert load_pool_policy().min_evaluations >= 1  # the repository's file
    wrong = tmp_path / "pool.toml"
    wrong.write_text('version = "x"\nreview_below = 9\nmin_evaluations = 0\n', encoding="utf-8")
    with pytest.raises(PolicyProblem) as problem:
        load_pool_policy(wrong)
    assert "review_below" in str(problem.value) and "min_evaluations" in str(problem.value)
    with pytest.raises(PolicyProblem, match="cannot read"):
        load_pool_policy(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"start": date(2026, 12, 1), "end": date(2026, 11, 1)}, "is before --from"),
        ({"as_json": True, "as_csv": True}, "give --json or --csv, not both"),
        ({"report": Path("figures.docx")}, "writes .html or .pdf, not 'figures.docx'"),
        ({"report": Path("/nonexistent/figures.html")}, "no folder /nonexistent"),
        ({"start": date(2010, 1, 1)}, "at most 10 years"),
        ({"by": "week"}, "'month' or 'quarter'"),
    ],
)
def test_a_stats_request_that_cannot_be_answered_says_why(
    fields: dict[str, object], says: str
) -> None:
    request = {"start": date(2026, 11, 1), "end": date(2026, 12, 31)} | fields
    with pytest.raises(ValidationError) as refused:
        StatsRequest.model_validate(request)
    assert says in problems(refused.value)


def test_the_delivery_date_is_the_legal_one() -> None:
    signed = EventRow(
        "A",
        "delivery.completed",
        at(12, 6, 0),
        {
            "worker": {"delivered_on": "2026-12-05", "deemed": True},
            "employer": {"delivered_on": "2026-11-06", "deemed": False},
        },
    )
    assert delivery_day(signed) == date(2026, 12, 5)  # deemed: the notice period's last day
    before = EventRow(  # a case from before full delivery: signing times, one never signed
        "B",
        "delivery.completed",
        at(11, 9),
        {"worker": "2026-11-07 18:30:00+00:00", "employer": "None"},
    )
    assert delivery_day(before) == date(2026, 11, 8)  # 02:30 China time
    assert delivery_day(EventRow("C", "delivery.completed", at(11, 9))) == date(2026, 11, 9)


def test_the_ledgers_figures_reach_the_json_the_csv_and_the_tables() -> None:
    found = figures(
        Source([], []), date(2026, 11, 1), date(2026, 11, 30), Grouping.month, POLICY, GENERATED
    )
    assert found.model_dump()["ledger"] is None and "疑难问题台账" not in tables(found)
    found.ledger = LedgerFigures(
        start=found.start,
        end=found.end,
        received=4,
        by_source={LedgerSource.hotline: 3, LedgerSource.window: 1},
        by_category={LedgerCategory.delivery: 4},
        by_state={LedgerState.before: 3, LedgerState.closed: 1},
        closed=1,
        overdue=2,
        escalated=1,
        median_days_to_close=1.5,
    )
    assert found.model_dump(mode="json")["ledger"]["by_source"] == {"12345": 3, "window": 1}
    assert Figures.model_validate_json(found.model_dump_json()) == found
    cells = {(s, m, k): v for s, m, k, v in tidy(found)}
    assert cells[("ledger", "received", "")] == 4
    assert cells[("ledger", "by_source.12345", "")] == 3
    assert cells[("ledger", "median_days_to_close", "")] == 1.5
    assert "疑难问题台账 hard-question ledger" in tables(found)
