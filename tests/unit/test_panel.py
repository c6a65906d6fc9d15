from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from activities.experts import (
    Conflict,
    DrawCriteria,
    ExpertFacts,
    Leave,
    draw,
    draw_record,
    verify_draw,
)
from schemas.application import Specialty
from schemas.outcome import Outcome, Verdict
from schemas.steps import ExclusionReason, Panel, Recusal, RecusalParty
from schemas.titles import is_senior
from workflows.case_file import majority

ON = date(2026, 12, 1)
WORKER = "a" * 64  # a worker's keyed hash
EMPLOYER = "91370811MA3C4K7T2H"
ORTHO, NEURO = Specialty.orthopedics, Specialty.neurology


def expert(n: int, *specialties: Specialty, **facts: Any) -> ExpertFacts:
    defaults: dict[str, Any] = {
        "expert_id": f"E{n:02d}",
        "name": f"专家{n}",
        "title": "主任医师",
        "hospital": f"医院{n}",
        "specialties": list(specialties) or [ORTHO],
        "active": True,
        "term_start": date(2025, 1, 1),
        "term_end": date(2028, 1, 1),
    }
    return ExpertFacts(**{**defaults, **facts})


POOL = [expert(i) for i in range(6)] + [expert(i, NEURO) for i in range(6, 9)]


def criteria(seed: int = 42, size: int = 3, *specialties: Specialty, **more: Any) -> DrawCriteria:
    return DrawCriteria(
        specialties=list(specialties) or [ORTHO],
        size=size,
        seed=seed,
        attempt=1,
        on=ON,
        worker_ref=WORKER,
        employer_credit_code=EMPLOYER,
        **more,
    )


def ids(panel: Panel) -> list[str]:
    return [m.expert_id for m in panel.members]


def test_same_seed_same_panel_in_any_pool_order_and_only_needed_specialty() -> None:
    first = draw(POOL, criteria(42))
    assert first == draw(list(reversed(POOL)), criteria(42))
    assert all(ORTHO in m.specialties for m in first.members)
    assert len(set(ids(first))) == 3 and first.eligible == 6 and first.wrong_specialty == 3
    assert first.exclusions == [] and first.short_by == 0 and len(first.pool_sha256) == 64
    assert len({tuple(ids(draw(POOL, criteria(seed)))) for seed in range(20)}) > 1


@pytest.mark.parametrize(
    ("facts", "more", "reason", "detail"),
    [
        ({"active": False}, {}, ExclusionReason.inactive, "专家已停用"),
        (
            {"term_end": date(2026, 11, 30)},
            {},
            ExclusionReason.out_of_term,
            "聘期 2025-01-01 至 2026-11-30，不含鉴定日 2026-12-01",
        ),
        (
            {"leaves": [Leave(starts=date(2026, 11, 20), ends=ON, reason="外出进修")]},
            {},
            ExclusionReason.on_leave,
            "请假 2026-11-20 至 2026-12-01（外出进修）",
        ),
        (
            {"conflicts": [Conflict(kind="relative", subject=WORKER, note="配偶")]},
            {},
            ExclusionReason.relative,
            "系被鉴定职工近亲属（配偶）",
        ),
        (
            {"name": "刘玉兰"},
            {"treating_doctors": ["刘 玉兰"]},
            ExclusionReason.treating_doctor,
            "系职工诊治医生 刘玉兰",
        ),
        (
            {"hospital": "济宁市第一人民医院"},
            {"treating_hospitals": ["济宁市第一人民医院"]},
            ExclusionReason.treating_hospital,
            "任职于诊治医院 济宁市第一人民医院",
        ),
        (
            {"conflicts": [Conflict(kind="employer", subject=EMPLOYER)]},
            {},
            ExclusionReason.employer_tie,
            f"与用人单位 {EMPLOYER} 有利害关系",
        ),
        (
            {"conflicts": [Conflict(kind="declared", subject=WORKER, note="曾会诊")]},
            {},
            ExclusionReason.declared_conflict,
            "本人申报回避: 与被鉴定职工有利害关系（曾会诊）",
        ),
        (
            {"conflicts": [Conflict(kind="declared", subject=EMPLOYER, note="业务往来")]},
            {},
            ExclusionReason.declared_conflict,
            f"本人申报回避: 与用人单位 {EMPLOYER} 有利害关系（业务往来）",
        ),
        (
            {"title": "主治医师"},
            {"senior_only": True},
            ExclusionReason.not_senior,
            "职称 主治医师 非高级职称",
        ),
        (
            {},
            {
                "recused": [
                    Recusal(expert_id="E99", requested_by=RecusalParty.worker, reason="曾为其诊治")
                ]
            },
            ExclusionReason.recused,
            "职工申请回避: 曾为其诊治",
        ),
    ],
)
def test_each_exclusion_reason_with_its_detail(
    facts: dict[str, Any], more: dict[str, Any], reason: ExclusionReason, detail: str
) -> None:
    pool = [*POOL, expert(99, **facts)]
    for seed in range(10):
        panel = draw(pool, criteria(seed, 5, **more))
        assert "E99" not in ids(panel)
        [excluded] = [x for x in panel.exclusions if x.expert_id == "E99"]
        assert (excluded.reason, excluded.detail) == (reason, detail)
        assert panel.eligible == 6 and panel.wrong_specialty == 3


def test_a_title_below_senior_is_drawn_only_by_the_rules_before_jining() -> None:
    attending = [expert(i, title="主治医师") for i in range(3)]
    assert draw(attending, criteria()).eligible == 3  # a draw stored before the rule redoes so
    assert draw(attending, criteria(senior_only=True)).short_by == 3
    for title in (
        "主任医师",
        "副主任医师",
        "主任技师",
        "副主任技师",
        "教授",
        "副教授",
        "副主任 医师",
    ):
        assert is_senior(title), title
    for title in ("主治医师", "医师", "住院医师", "技师", "讲师", "主任"):
        assert not is_senior(title), title


def test_a_standing_panel_keeps_who_may_sit_and_redraws_only_the_other_seats() -> None:
    first = draw(POOL, criteria(5))
    [leaving, *staying] = ids(first)
    away = Leave(starts=ON, ends=ON, reason="会议")
    pool = [e.model_copy(update={"leaves": [away]}) if e.expert_id == leaving else e for e in POOL]
    for seed in range(20):
        again = draw(pool, criteria(seed, 3, standing=ids(first)))
        assert ids(again)[:2] == staying and len(ids(again)) == 3
        assert leaving not in ids(again) and ids(again)[2] in {e.expert_id for e in POOL}
        assert [(x.expert_id, x.reason) for x in again.exclusions] == [
            (leaving, ExclusionReason.on_leave)
        ]
        row = draw_record("C-1", criteria(seed, 3, standing=ids(first)), pool, again)
        assert verify_draw(row)
    # A recused member's seat is drawn again the same way; nobody stays when too few may sit.
    recused = [Recusal(expert_id=staying[0], requested_by=RecusalParty.employer, reason="亲属")]
    again = draw(POOL, criteria(1, 3, standing=ids(first), recused=recused))
    assert staying[0] not in ids(again) and {leaving, staying[1]} <= set(ids(again))
    assert [x.detail for x in again.exclusions] == ["用人单位申请回避: 亲属"]
    out = [Recusal(expert_id="E00", requested_by=RecusalParty.worker, reason="亲属")]
    short = draw(POOL[:3], criteria(1, 3, standing=["E00", "E01", "E02"], recused=out))
    assert short.short_by == 1 and short.members == []


def test_standing_members_count_for_the_specialties_covered() -> None:
    # E08 (the only neurologist) stands: the open seat goes to anyone, not to a second
    # neurologist; a standing member is not unseated for lacking a needed specialty.
    one_neurologist = [expert(i) for i in range(8)] + [expert(8, NEURO)]
    for seed in range(20):
        again = draw(one_neurologist, criteria(seed, 3, ORTHO, NEURO, standing=["E08", "E01"]))
        assert ids(again)[:2] == ["E08", "E01"] and len(set(ids(again))) == 3
        only_neuro = draw(one_neurologist, criteria(seed, 3, NEURO, standing=["E01", "E02"]))
        assert only_neuro.short_by == 0 and ids(only_neuro) == ["E01", "E02", "E08"]


def test_conflicts_about_other_workers_or_employers_do_not_exclude() -> None:
    other = [
        Conflict(kind="relative", subject="b" * 64),
        Conflict(kind="employer", subject="91110000600037341L"),
        Conflict(kind="relative", subject=EMPLOYER),  # a relative row names a worker only
    ]
    panel = draw([*POOL, expert(99, conflicts=other)], criteria())
    assert panel.exclusions == [] and panel.eligible == 7


def test_first_reason_in_fixed_order_and_only_candidates_listed() -> None:
    both = expert(99, NEURO, active=False, conflicts=[Conflict(kind="relative", subject=WORKER)])
    relative = expert(98, NEURO, conflicts=[Conflict(kind="relative", subject=WORKER)])
    # Needed: neurology. E98 is a relative; E99 is inactive (its first reason) and a relative.
    panel = draw([*POOL, both, relative], criteria(42, 3, NEURO))
    assert [(x.expert_id, x.reason) for x in panel.exclusions] == [
        ("E98", ExclusionReason.relative),
        ("E99", ExclusionReason.inactive),
    ]
    # Other-specialty experts are counted, not listed, whatever else stands against them.
    other = draw([*POOL, both, relative], criteria())
    assert other.exclusions == [] and other.wrong_specialty == 5


def test_term_bounds_and_leave_bounds_are_inclusive() -> None:
    pool = [
        expert(1, term_start=ON),
        expert(2, term_end=ON),
        expert(3, leaves=[Leave(starts=date(2026, 11, 1), ends=date(2026, 11, 30))]),
        expert(4, leaves=[Leave(starts=date(2026, 12, 2), ends=date(2026, 12, 9))]),
    ]
    assert draw(pool, criteria(size=3)).eligible == 4


def test_shortage_is_reported_not_raised() -> None:
    panel = draw(POOL, criteria(1, 5, NEURO))
    assert panel.short_by == 2 and panel.eligible == 3 and panel.members == []


def test_every_needed_specialty_is_covered_when_possible() -> None:
    one_neurologist = [expert(i) for i in range(8)] + [expert(8, NEURO)]
    for seed in range(50):
        panel = draw(one_neurologist, criteria(seed, 3, ORTHO, NEURO))
        assert "E08" in ids(panel) and len(ids(panel)) == 3
        # the primary specialty comes first
        assert ORTHO in panel.members[0].specialties


def test_more_specialties_than_seats_covers_them_in_request_order() -> None:
    specialties = [ORTHO, NEURO, Specialty.ophthalmology, Specialty.stomatology]
    pool = [expert(i, s) for i, s in enumerate(specialties * 2)]
    for seed in range(20):
        panel = draw(pool, criteria(seed, 3, *specialties))
        assert [m.specialties[0] for m in panel.members] == specialties[:3]


def test_verify_draw_redoes_the_stored_draw_and_catches_tampering() -> None:
    wanted = criteria(7, 3, treating_hospitals=["医院2"])
    panel = draw(POOL, wanted)
    row = draw_record("C-1", wanted, POOL, panel)
    assert verify_draw(row)
    assert not verify_draw({**row, "seed": 8})
    assert not verify_draw({**row, "snapshot": row["snapshot"].replace("医院3", "医院2")})
    assert not verify_draw({**row, "exclusions": "[]"})
    assert not verify_draw({**row, "snapshot": None, "criteria": None})  # drawn before 003


G7, G8, G9 = (Outcome(verdict=Verdict(f"grade_{n}")) for n in (7, 8, 9))


@pytest.mark.parametrize(
    ("opinions", "expected"),
    [
        ([G8, G8, G9], G8),
        ([G7, G8, G9], None),  # no majority: deliberate again, no invented tie-break
        ([G8, G9, G8, G9, G8], G8),
        ([G7, G7, G8, G8, G9], None),
        ([], None),
    ],
)
def test_majority(opinions: list[Outcome], expected: Outcome | None) -> None:
    assert majority(opinions) == expected
