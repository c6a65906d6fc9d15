"""The figures from what the projection holds: pure functions over case rows and events, so
the counting rules are tested without a database (starter/stats/query.py reads the rows)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from schemas.application import AppraisalMode, CaseType, Specialty
from schemas.clock import CHINA_TZ
from schemas.outcome import VERDICT_LABELS
from schemas.steps import RECUSAL_PARTY_LABELS, ExclusionReason
from schemas.vocabulary import (
    CASE_TYPE_LABELS as CASE_TYPE_LABELS,
)
from schemas.vocabulary import (
    CLOCK_LABELS,
    RETURN_REASON_LABELS,
    ClockName,
    EventKind,
)
from starter.stats.model import (
    Breakdowns,
    Cases,
    ClockFigures,
    Count,
    Cycle,
    Delivery,
    ExpertEvaluation,
    Figures,
    Grouping,
    PeriodRow,
    Pool,
    Split,
)
from starter.stats.policy import PoolPolicy

MODE_LABELS = {
    AppraisalMode.on_site: "现场鉴定",
    AppraisalMode.home_visit: "上门鉴定",
    AppraisalMode.remote: "远程鉴定",
}
CHANNEL_LABELS = {
    "green_channel": "绿色通道",
    "province": "就近办 (省直参保)",
    "home_or_remote": "上门或远程鉴定",
}
REFUSAL_LABELS = {"duplicate": "重复申请", "eligibility": "不符合申请条件"}
SPECIALTY_LABELS = {
    Specialty.orthopedics: "骨科",
    Specialty.neurology: "神经内科",
    Specialty.neurosurgery: "神经外科",
    Specialty.general_surgery: "普通外科",
    Specialty.ophthalmology: "眼科",
    Specialty.otolaryngology: "耳鼻喉科",
    Specialty.internal_medicine: "内科",
    Specialty.respiratory: "呼吸科",
    Specialty.cardiology: "心内科",
    Specialty.psychiatry: "精神科",
    Specialty.burns_plastic: "烧伤整形科",
    Specialty.occupational_disease: "职业病科",
    Specialty.rehabilitation: "康复科",
    Specialty.stomatology: "口腔科",
}
EXCLUSION_LABELS = {
    ExclusionReason.inactive: "已停用",
    ExclusionReason.out_of_term: "不在聘期",
    ExclusionReason.on_leave: "请假",
    ExclusionReason.relative: "近亲属回避",
    ExclusionReason.treating_doctor: "主治医师回避",
    ExclusionReason.treating_hospital: "诊治医院回避",
    ExclusionReason.employer_tie: "与用人单位有利害关系",
    ExclusionReason.declared_conflict: "申报利益冲突",
    ExclusionReason.not_senior: "无高级职称",
    ExclusionReason.recused: "当事人申请回避",
}
PARTY_LABELS = {party: f"{name}申请" for party, name in RECUSAL_PARTY_LABELS.items()}
# Clocks whose end of duty the log records: the kind that ends it, and which cases keep it.
JUDGED_CLOCKS = (
    ClockName.supplement_notice,
    ClockName.conclusion,
    ClockName.green_conclusion,
    ClockName.site_promise,
    ClockName.delivery,
)
PROMISE_DAYS, LIMIT_DAYS = 5, 60


def label(labels: dict[Any, str], key: str) -> str:
    return labels.get(key, key)


# --- the rows read from PostgreSQL ----------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    case_type: str
    mode: str
    green_channel: bool
    jurisdiction: str
    received_at: datetime
    site_done_at: datetime | None = None
    archived_at: datetime | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class EventRow:
    case_id: str
    kind: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpertRow:
    expert_id: str
    name: str
    specialties: tuple[str, ...]
    active: bool
    term_start: date
    term_end: date


@dataclass(frozen=True)
class EvaluationRow:
    expert_id: str
    score: int
    recorded_at: datetime


@dataclass
class Source:
    """Everything the figures of a period are computed from."""

    cases: list[CaseRow]
    events: list[EventRow]  # the kinds in query.KINDS of those cases, any date
    experts: list[ExpertRow] = field(default_factory=list)
    # each draw's exclusions [{expert_id, reason, detail}] by (case_id, attempt)
    exclusions: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    evaluations: list[EvaluationRow] = field(default_factory=list)


# --- small arithmetic -----------------------------------------------------------------------


def china_day(at: datetime) -> date:
    return at.astimezone(CHINA_TZ).date()


def median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def nearest_rank(values: list[int], q: float) -> int | None:
    """The q-quantile by nearest rank: the smallest value with at least q of them at or below."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def period_key(day: date, by: Grouping) -> str:
    if by is Grouping.month:
        return f"{day:%Y-%m}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def periods(start: date, end: date, by: Grouping) -> list[tuple[str, date, date]]:
    """The months or quarters of [start, end], each clipped to it."""
    found: list[tuple[str, date, date]] = []
    day = start
    while day <= end:
        months = 1 if by is Grouping.month else 3
        first_month = day.month if by is Grouping.month else (day.month - 1) // 3 * 3 + 1
        month = first_month - 1 + months
        following = date(day.year + month // 12, month % 12 + 1, 1)
        last = min(following - timedelta(days=1), end)
        found.append((period_key(day, by), day, last))
        day = last + timedelta(days=1)
    return found


# --- what each case went through ------------------------------------------------------------


@dataclass
class Facts:
    """One case's dated facts, from its row and its events."""

    row: CaseRow
    received_on: date
    accepted_on: date | None = None
    complete_on: date | None = None  # the day the conclusion clock counts from
    refused_on: date | None = None
    refusal_rule: str = ""
    abandoned_on: date | None = None
    terminated_on: date | None = None
    concluded_at: datetime | None = None
    delivered_at: datetime | None = None  # when the case recorded the last delivery
    delivered_on: date | None = None  # the delivery date: signed for, or deemed delivered
    notice_at: datetime | None = None  # the supplement notice (一次性告知)
    archived_on: date | None = None
    breaches: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def concluded_on(self) -> date | None:
        return china_day(self.concluded_at) if self.concluded_at else None

    @property
    def site_on(self) -> date | None:
        return china_day(self.row.site_done_at) if self.row.site_done_at else None


def facts_of(source: Source) -> list[Facts]:
    found = {
        row.case_id: Facts(
            row=row,
            received_on=china_day(row.received_at),
            archived_on=china_day(row.archived_at) if row.archived_at else None,
        )
        for row in source.cases
    }
    for event in sorted(source.events, key=lambda e: e.at):
        case = found.get(event.case_id)
        if case is None:
            continue
        day = china_day(event.at)
        match event.kind:
            case EventKind.application_accepted:
                case.accepted_on = day
                case.complete_on = date.fromisoformat(event.data.get("complete_on") or str(day))
            case EventKind.application_refused:
                case.refused_on, case.refusal_rule = day, str(event.data.get("rule", ""))
            case EventKind.case_abandoned:
                case.abandoned_on = day
            case EventKind.case_terminated:
                case.terminated_on = day
            case EventKind.conclusion_issued:
                case.concluded_at = case.concluded_at or event.at
            case EventKind.delivery_completed:
                if case.delivered_at is None:
                    case.delivered_at, case.delivered_on = event.at, delivery_day(event)
            case EventKind.supplement_notice:
                case.notice_at = case.notice_at or event.at
            case EventKind.deadline_breached:
                case.breaches.append((str(event.data.get("clock", "")), event.at))
    return list(found.values())


def delivery_day(event: EventRow) -> date:
    """The last recipient's delivery date (签收 or 视为送达, by law), as `delivery.completed`
    holds it: {recipient: {delivered_on, deemed}}, or {recipient: signing time} in cases
    from before full delivery; else the day it was recorded."""
    days = []
    for value in event.data.values():
        if isinstance(value, dict) and value.get("delivered_on"):
            days.append(date.fromisoformat(str(value["delivered_on"])))
        elif isinstance(value, str):
            try:
                days.append(china_day(datetime.fromisoformat(value)))
            except ValueError:  # "None": that letter was never signed for
                continue
    return max(days, default=china_day(event.at))


def within(day: date | None, start: date, end: date) -> bool:
    return day is not None and start <= day <= end


# --- the figures ----------------------------------------------------------------------------


def case_counts(facts: list[Facts], start: date, end: date) -> Cases:
    refusals = Counter(f.refusal_rule for f in facts if within(f.refused_on, start, end))
    return Cases(
        received=sum(within(f.received_on, start, end) for f in facts),
        accepted=sum(within(f.accepted_on, start, end) for f in facts),
        refused=sum(refusals.values()),
        abandoned=sum(within(f.abandoned_on, start, end) for f in facts),
        terminated=sum(within(f.terminated_on, start, end) for f in facts),
        concluded=sum(within(f.concluded_on, start, end) for f in facts),
        delivered=sum(within(f.delivered_on, start, end) for f in facts),
        archived=sum(within(f.archived_on, start, end) for f in facts),
        refused_by_rule=counts(refusals, REFUSAL_LABELS),
    )


def counts(found: Counter[str], labels: dict[Any, str]) -> list[Count]:
    """Largest first, then by key: a stable order for tables and tests."""
    ordered = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
    return [Count(key=k, label=label(labels, k), count=n) for k, n in ordered]


def split(
    facts: list[Facts], start: date, end: date, keys: dict[str, Callable[[Facts], bool]]
) -> list[Split]:
    received = [f for f in facts if within(f.received_on, start, end)]
    concluded = [f for f in facts if within(f.concluded_on, start, end)]
    labels = {**CHANNEL_LABELS, **{k.value: v for k, v in (CASE_TYPE_LABELS | MODE_LABELS).items()}}
    return [
        Split(
            key=key,
            label=label(labels, key),
            received=sum(test(f) for f in received),
            concluded=sum(test(f) for f in concluded),
        )
        for key, test in keys.items()
    ]


def of_type(kind: str) -> Callable[[Facts], bool]:
    return lambda f: f.row.case_type == kind


def of_mode(mode: str) -> Callable[[Facts], bool]:
    return lambda f: f.row.mode == mode


CHANNELS: dict[str, Callable[[Facts], bool]] = {
    "green_channel": lambda f: f.row.green_channel,
    "province": lambda f: f.row.jurisdiction == "province",
    "home_or_remote": lambda f: f.row.mode != AppraisalMode.on_site,
}


def breakdowns(facts: list[Facts], start: date, end: date) -> Breakdowns:
    outcomes = Counter(
        f.row.outcome for f in facts if within(f.concluded_on, start, end) and f.row.outcome
    )
    return Breakdowns(
        by_case_type=split(facts, start, end, {t.value: of_type(t) for t in CaseType}),
        by_mode=split(facts, start, end, {m.value: of_mode(m) for m in AppraisalMode}),
        by_channel=split(facts, start, end, CHANNELS),
        by_outcome=counts(outcomes, VERDICT_LABELS),
    )


def cycle_days(facts: list[Facts], start: date, end: date) -> dict[str, list[int]]:
    """Days to the conclusion of the cases concluded in [start, end], from each start."""
    found: dict[str, list[int]] = {"acceptance": [], "site": []}
    for f in facts:
        if f.concluded_on is None or not within(f.concluded_on, start, end):
            continue
        if f.complete_on is not None:
            found["acceptance"].append((f.concluded_on - f.complete_on).days)
        if f.site_on is not None:
            found["site"].append((f.concluded_on - f.site_on).days)
    return found


CYCLE_LABELS = {
    "acceptance": "受理至结论 (acceptance → conclusion)",
    "site": "现场鉴定至结论 (site appraisal → conclusion)",
}


def cycles(facts: list[Facts], start: date, end: date) -> list[Cycle]:
    return [
        Cycle(
            name=name,
            label=CYCLE_LABELS[name],
            cases=len(days),
            median_days=median(days),
            p90_days=nearest_rank(days, 0.9),
            within_5_days=share(sum(d <= PROMISE_DAYS for d in days), len(days)),
            within_60_days=share(sum(d <= LIMIT_DAYS for d in days), len(days)),
            histogram={str(d): n for d, n in sorted(Counter(days).items())},
        )
        for name, days in cycle_days(facts, start, end).items()
    ]


def duty_end(f: Facts, clock: ClockName) -> tuple[bool, datetime | None]:
    """Whether the case keeps this clock, and when its duty ended (None: not yet)."""
    match clock:
        case ClockName.supplement_notice:
            return f.notice_at is not None, f.notice_at
        case ClockName.conclusion:
            return f.accepted_on is not None, f.concluded_at
        case ClockName.green_conclusion:
            return f.accepted_on is not None and f.row.green_channel, f.concluded_at
        case ClockName.site_promise:
            return f.row.site_done_at is not None, f.concluded_at
        case ClockName.delivery:
            return f.concluded_at is not None, f.delivered_at
    return False, None


def judged(f: Facts, clock: ClockName) -> tuple[date, bool] | None:
    """(the day the clock was judged, on time) or None while it is neither done nor breached."""
    breached = min((at for name, at in f.breaches if name == clock), default=None)
    keeps, done = duty_end(f, clock)
    if not keeps and breached is None:
        return None
    if breached is not None and (done is None or breached <= done):
        return china_day(breached), False
    return (china_day(done), True) if done is not None else None


def clock_figures(facts: list[Facts], start: date, end: date) -> list[ClockFigures]:
    breaches = Counter(
        name for f in facts for name, at in f.breaches if within(china_day(at), start, end)
    )
    found = []
    for clock in ClockName:
        late = on_time = 0
        if clock in JUDGED_CLOCKS:
            for f in facts:
                if (verdict := judged(f, clock)) and within(verdict[0], start, end):
                    on_time += verdict[1]
                    late += not verdict[1]
        found.append(
            ClockFigures(
                clock=clock.value,
                label=CLOCK_LABELS[clock],
                judged=on_time + late,
                on_time=on_time,
                late=late,
                on_time_rate=share(on_time, on_time + late),
                breaches=breaches[clock.value],
            )
        )
    return found


def in_term(expert: ExpertRow, on: date) -> bool:
    return expert.active and expert.term_start <= on <= expert.term_end


def pool(source: Source, start: date, end: date, policy: PoolPolicy) -> Pool:
    serving = [e for e in source.experts if in_term(e, end)]
    specialties = Counter(s for e in serving for s in e.specialties)
    draws = [
        e
        for e in source.events
        if e.kind in (EventKind.panel_drawn, EventKind.panel_rechecked)
        and within(china_day(e.at), start, end)
    ]
    excluded = {
        (d.case_id, x["expert_id"], x["reason"])
        for d in draws
        for x in source.exclusions.get((d.case_id, int(d.data.get("attempt", 1))), [])
    }
    requests = Counter(
        str(e.data.get("requested_by", ""))
        for e in source.events
        if e.kind == EventKind.recusal_requested and within(china_day(e.at), start, end)
    )
    scored = [v for v in source.evaluations if within(china_day(v.recorded_at), start, end)]
    experts = expert_evaluations(source.experts, scored, policy)
    return Pool(
        as_of=end,
        in_term=len(serving),
        by_specialty=counts(specialties, SPECIALTY_LABELS),
        draws=len(draws),
        cases_drawn=len({d.case_id for d in draws}),
        shortages=sum(
            e.kind == EventKind.panel_shortage and within(china_day(e.at), start, end)
            for e in source.events
        ),
        exclusions_by_reason=counts(Counter(r for _, _, r in excluded), EXCLUSION_LABELS),
        recusals_requested=counts(requests, PARTY_LABELS),
        evaluations=len(scored),
        mean_score=round(statistics.fmean(v.score for v in scored), 2) if scored else None,
        experts=experts,
        for_review=sum(e.for_review for e in experts),
        policy=policy,
    )


def expert_evaluations(
    experts: Iterable[ExpertRow], scored: list[EvaluationRow], policy: PoolPolicy
) -> list[ExpertEvaluation]:
    """Per expert with evaluations: count and mean; flagged below the policy's line. Lowest
    mean first: the ones to look at lead."""
    known = {e.expert_id: e for e in experts}
    scores: dict[str, list[int]] = {}
    for v in scored:
        scores.setdefault(v.expert_id, []).append(v.score)
    found = []
    for expert_id, given in scores.items():
        expert = known[expert_id]
        mean = round(statistics.fmean(given), 2)
        found.append(
            ExpertEvaluation(
                expert_id=expert_id,
                name=expert.name,
                term_end=expert.term_end,
                count=len(given),
                mean=mean,
                for_review=policy.for_review(len(given), mean),
            )
        )
    return sorted(found, key=lambda e: (e.mean, e.expert_id))


def delivery(source: Source, facts: list[Facts], start: date, end: date) -> Delivery:
    def recorded(kind: EventKind) -> list[EventRow]:
        return [e for e in source.events if e.kind == kind and within(china_day(e.at), start, end)]

    returned = recorded(EventKind.postal_returned)
    reasons = Counter(return_code(str(e.data.get("reason", ""))) for e in returned)
    days = [
        (f.delivered_on - f.concluded_on).days
        for f in facts
        if f.delivered_on and f.concluded_on and within(f.delivered_on, start, end)
    ]
    return Delivery(
        letters_signed=len(recorded(EventKind.postal_delivered)),
        letters_returned=len(returned),
        returns_by_reason=counts(reasons, RETURN_REASON_LABELS),
        public_notices=len(recorded(EventKind.notice_published)),
        deemed_delivered=len(recorded(EventKind.delivery_deemed)),
        cases_delivered=len(days),
        median_days_to_delivery=median(days),
        p90_days_to_delivery=nearest_rank(days, 0.9),
    )


def return_code(text: str) -> str:
    """A returned letter's reason as recorded (its Chinese label, or the courier's code)."""
    for code, name in RETURN_REASON_LABELS.items():
        if text in (code.value, name):
            return code.value
    return text or "unknown"


def period_rows(facts: list[Facts], start: date, end: date, by: Grouping) -> list[PeriodRow]:
    rows = []
    for key, first, last in periods(start, end, by):
        totals = case_counts(facts, first, last)
        received = [f for f in facts if within(f.received_on, first, last)]
        days = cycle_days(facts, first, last)
        rows.append(
            PeriodRow(
                period=key,
                start=first,
                end=last,
                received=totals.received,
                accepted=totals.accepted,
                concluded=totals.concluded,
                delivered=totals.delivered,
                archived=totals.archived,
                green_channel=sum(CHANNELS["green_channel"](f) for f in received),
                province=sum(CHANNELS["province"](f) for f in received),
                home_or_remote=sum(CHANNELS["home_or_remote"](f) for f in received),
                by_case_type={t.value: sum(of_type(t)(f) for f in received) for t in CaseType},
                by_mode={m.value: sum(of_mode(m)(f) for f in received) for m in AppraisalMode},
                cycle_median_days=median(days["acceptance"]),
                site_median_days=median(days["site"]),
                within_5_days=share(
                    sum(d <= PROMISE_DAYS for d in days["site"]), len(days["site"])
                ),
            )
        )
    return rows


def figures(
    source: Source,
    start: date,
    end: date,
    by: Grouping,
    policy: PoolPolicy,
    generated_at: datetime,
) -> Figures:
    facts = facts_of(source)
    return Figures(
        start=start,
        end=end,
        by=by,
        generated_at=generated_at,
        cases=case_counts(facts, start, end),
        breakdowns=breakdowns(facts, start, end),
        cycles=cycles(facts, start, end),
        clocks=clock_figures(facts, start, end),
        pool=pool(source, start, end, policy),
        delivery=delivery(source, facts, start, end),
        periods=period_rows(facts, start, end, by),
    )
