"""Properties of the draw over random pools: nobody ineligible is ever drawn, the size is
right (or the shortage exact), and the result depends only on the snapshot and the seed.

The eligibility oracle below restates the rules independently of activities.experts."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from activities.experts import Conflict, DrawCriteria, ExpertFacts, Leave, draw
from schemas.application import Specialty

ON = date(2026, 12, 1)
WORKERS = ["a" * 64, "b" * 64]
EMPLOYERS = ["91370811MA3C4K7T2H", "91110000600037341L"]
HOSPITALS = [
    "济宁市第一人民医院",
    "济宁医学院附属医院",
    "济宁市中医院",
    "兖矿新里程总医院",
    "济宁市第二人民医院",
]
NAMES = ["刘玉兰", "张国庆", "王国庆", "何红霞", "杨志强", "宋红霞"]
SPECIALTIES = [Specialty.orthopedics, Specialty.neurology, Specialty.rehabilitation]


def near(days: int = 60) -> st.SearchStrategy[date]:
    return st.integers(-days, days).map(lambda d: ON + timedelta(days=d))


leaves = st.builds(
    lambda a, b, reason: Leave(starts=min(a, b), ends=max(a, b), reason=reason),
    near(),
    near(),
    st.sampled_from(["", "外出进修", "病假"]),
)
conflicts = st.builds(
    Conflict,
    kind=st.sampled_from(["relative", "employer", "declared"]),
    subject=st.sampled_from(WORKERS + EMPLOYERS),
    note=st.sampled_from(["", "配偶"]),
)


@st.composite
def experts(draw_: st.DrawFn, expert_id: str) -> ExpertFacts:
    return ExpertFacts(
        expert_id=expert_id,
        name=draw_(st.sampled_from(NAMES)),
        title="主任医师",
        hospital=draw_(st.sampled_from(HOSPITALS)),
        specialties=draw_(st.lists(st.sampled_from(SPECIALTIES), min_size=1, max_size=3)),
        active=draw_(st.sampled_from([True, True, True, False])),
        # mostly in term on ON, sometimes just out of it
        term_start=ON - timedelta(days=draw_(st.integers(-30, 1000))),
        term_end=ON + timedelta(days=draw_(st.integers(-30, 1000))),
        leaves=draw_(st.lists(leaves, max_size=1)),
        conflicts=draw_(st.lists(conflicts, max_size=1)),
    )


@st.composite
def pools(draw_: st.DrawFn) -> list[ExpertFacts]:
    numbers = draw_(
        st.sets(st.integers(1, 999), min_size=draw_(st.sampled_from([0, 10])), max_size=30)
    )
    return [draw_(experts(f"EXP-{n:03d}")) for n in numbers]


criteria_st = st.builds(
    DrawCriteria,
    specialties=st.lists(st.sampled_from(SPECIALTIES), min_size=1, max_size=3),
    size=st.sampled_from([3, 5]),
    seed=st.integers(0, 2**31 - 1),
    attempt=st.integers(1, 3),
    on=st.just(ON),
    worker_ref=st.sampled_from(WORKERS),
    employer_credit_code=st.sampled_from(EMPLOYERS),
    treating_hospitals=st.lists(st.sampled_from(HOSPITALS), max_size=1),
    treating_doctors=st.lists(st.sampled_from(NAMES), max_size=1),
)


def may_sit(e: ExpertFacts, c: DrawCriteria) -> bool:
    subjects = {
        "relative": {c.worker_ref},
        "employer": {c.employer_credit_code},
        "declared": {c.worker_ref, c.employer_credit_code},
    }
    return (
        e.active
        and e.term_start <= c.on <= e.term_end
        and not any(x.starts <= c.on <= x.ends for x in e.leaves)
        and not any(k.subject in subjects[k.kind] for k in e.conflicts)
        and e.name not in c.treating_doctors
        and e.hospital not in c.treating_hospitals
        and bool(set(e.specialties) & set(c.specialties))
    )


@settings(max_examples=300, deadline=None)
@given(pools(), criteria_st)
def test_only_eligible_experts_and_the_right_size(
    pool: list[ExpertFacts], criteria: DrawCriteria
) -> None:
    panel = draw(pool, criteria)
    event("short" if panel.short_by else "full panel")
    by_id = {e.expert_id: e for e in pool}
    eligible = sum(may_sit(e, criteria) for e in pool)
    assert panel.eligible == eligible
    assert panel.eligible + panel.wrong_specialty + len(panel.exclusions) == len(pool)
    assert all(may_sit(by_id[m.expert_id], criteria) for m in panel.members)
    assert len({m.expert_id for m in panel.members}) == len(panel.members)
    if eligible >= criteria.size:
        assert len(panel.members) == criteria.size and panel.short_by == 0
    else:
        assert panel.members == [] and panel.short_by == criteria.size - eligible


@settings(max_examples=200, deadline=None)
@given(pools(), criteria_st, st.randoms(use_true_random=False))
def test_same_seed_and_any_snapshot_order_give_the_same_panel(
    pool: list[ExpertFacts], criteria: DrawCriteria, rnd: random.Random
) -> None:
    shuffled = [
        e.model_copy(
            update={
                "specialties": rnd.sample(e.specialties, len(e.specialties)),
                "leaves": rnd.sample(e.leaves, len(e.leaves)),
                "conflicts": rnd.sample(e.conflicts, len(e.conflicts)),
            }
        )
        for e in rnd.sample(pool, len(pool))
    ]
    first = draw(pool, criteria)
    assert draw(pool, criteria) == first
    assert draw(shuffled, criteria) == first


@settings(max_examples=200, deadline=None)
@given(pools(), criteria_st)
def test_needed_specialties_are_covered_when_the_pool_allows(
    pool: list[ExpertFacts], criteria: DrawCriteria
) -> None:
    panel = draw(pool, criteria)
    needed = list(dict.fromkeys(criteria.specialties))
    available = {s for e in pool if may_sit(e, criteria) for s in e.specialties}
    if panel.short_by == 0:
        drawn = {s for m in panel.members for s in m.specialties}
        assert set(needed[: criteria.size]) & available <= drawn
