"""The committee's figures (`appraisal stats`): one pydantic model, the one source of the
tables, the JSON, the CSV and the charts' report.

Which date places a case in a period (China time, Asia/Shanghai calendar days):
- received: the application's receipt (cases.received_at);
- accepted, refused, abandoned, terminated: the day that event was recorded;
- concluded (with its outcome and cycle times): the day the conclusion was issued;
- delivered: the delivery date of the last letter (signed for, or deemed delivered after
  public notice), as `delivery.completed` holds it;
- archived: cases.archived_at.
Breakdowns by case type, mode and channel count the cases received and the cases concluded in
the period."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel

from schemas.ledger import LedgerFigures
from starter.stats.policy import PoolPolicy


class Grouping(StrEnum):
    month = "month"
    quarter = "quarter"


class Count(BaseModel):
    """One labelled count: a key (the stored value), its Chinese label, how many."""

    key: str
    label: str
    count: int


class Split(BaseModel):
    """One key of a breakdown: cases received and cases concluded in the period."""

    key: str
    label: str
    received: int
    concluded: int


class Cases(BaseModel):
    received: int  # 受理申请 (people served): applications received
    accepted: int  # 立案受理: complete applications accepted
    refused: int  # 不予受理
    abandoned: int  # 视为放弃申请
    terminated: int  # 鉴定终止
    concluded: int  # 作出鉴定结论
    delivered: int  # 结论送达 (every letter delivered, or deemed delivered)
    archived: int  # 归档
    refused_by_rule: list[Count]


class Breakdowns(BaseModel):
    by_case_type: list[Split]
    by_mode: list[Split]
    by_channel: list[Split]  # green channel, 就近办 (jurisdiction province), home or remote
    by_outcome: list[Count]  # the conclusions issued in the period


class Cycle(BaseModel):
    """Days from a start to the conclusion, over the cases concluded in the period: calendar
    days between China-time dates, the start day not counted (as the clocks count)."""

    name: str
    label: str
    cases: int
    median_days: float | None
    p90_days: int | None  # nearest rank: a value some case actually took
    within_5_days: float | None  # share (0-1): the local promise (site appraisal → conclusion)
    within_60_days: float | None  # share (0-1): the legal limit before any extension
    histogram: dict[str, int]  # days → cases, the distribution the report draws


class ClockFigures(BaseModel):
    """A clock's on-time rate and breaches. `judged`: the cases whose duty for this clock ended
    in the period, each once, on the earlier of the duty done and the first breach; a breach
    first is late. Clocks without a recorded end of duty (attendance, examination, public
    notice, dispute window, the supplement wait) show breaches only."""

    clock: str
    label: str
    judged: int
    on_time: int
    late: int
    on_time_rate: float | None
    breaches: int  # `deadline.breached` events recorded in the period


class ExpertEvaluation(BaseModel):
    expert_id: str
    name: str
    term_end: date
    count: int
    mean: float
    for_review: bool  # 期满考核时复核: below the policy's line; never removed by a figure


class Pool(BaseModel):
    """The expert pool (专家库) on the period's last day, and its draws in the period."""

    as_of: date
    in_term: int  # active, term_start ≤ as_of ≤ term_end
    by_specialty: list[Count]
    draws: int  # draws recorded in the period (a redraw is a draw)
    cases_drawn: int
    shortages: int  # draws that found too few eligible experts
    exclusions_by_reason: list[Count]  # 回避 and availability, once per case, expert, reason
    recusals_requested: list[Count]  # a party's recusal request, by party
    evaluations: int  # current evaluations recorded in the period
    mean_score: float | None
    experts: list[ExpertEvaluation]  # per expert, evaluations recorded in the period
    for_review: int
    policy: PoolPolicy


class Delivery(BaseModel):
    letters_signed: int  # EMS 签收 recorded in the period
    letters_returned: int  # 退回
    returns_by_reason: list[Count]
    public_notices: int  # 公告送达 published
    deemed_delivered: int  # 视为送达 when the notice period ended
    cases_delivered: int
    median_days_to_delivery: float | None  # conclusion → last letter delivered
    p90_days_to_delivery: int | None


class PeriodRow(BaseModel):
    """One month or quarter, for the trend: each figure placed as the totals place it."""

    period: str  # 2026-11 or 2026-Q4
    start: date
    end: date
    received: int
    accepted: int
    concluded: int
    delivered: int
    archived: int
    green_channel: int  # received
    province: int  # received (就近办)
    home_or_remote: int  # received
    by_case_type: dict[str, int]  # received
    by_mode: dict[str, int]  # received
    cycle_median_days: float | None  # acceptance → conclusion
    site_median_days: float | None  # site appraisal → conclusion
    within_5_days: float | None


class Figures(BaseModel):
    start: date
    end: date  # inclusive
    by: Grouping
    generated_at: datetime
    cases: Cases
    breakdowns: Breakdowns
    cycles: list[Cycle]
    clocks: list[ClockFigures]
    pool: Pool
    delivery: Delivery
    periods: list[PeriodRow]
    # The hard-question ledger (疑难问题台账): activities/ledger.py `ledger_figures`.
    ledger: LedgerFigures | None = None
