from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.experts import draw
from schemas.application import Specialty
from schemas.outcome import Outcome, Verdict
from schemas.steps import PanelDrawRequest, PanelMember, Stage
from workflows.case_file import majority

POOL = [
    PanelMember(expert_id=f"E{i:02d}", name=f"专家{i}", title="主任医师", specialties=[spec])
    for i, spec in enumerate([Specialty.orthopedics] * 6 + [Specialty.neurology] * 3)
]


def request(
    seed: int, size: int = 3, specialty: Specialty = Specialty.orthopedics
) -> PanelDrawRequest:
    return PanelDrawRequest(
        case_id="C", stage=Stage.organizing, specialties=[specialty], size=size, seed=seed
    )


def test_same_seed_same_panel_and_only_needed_specialty() -> None:
    first = draw(POOL, request(42), pool_size=len(POOL))
    assert first == draw(list(reversed(POOL)), request(42), pool_size=len(POOL))
    assert all(Specialty.orthopedics in m.specialties for m in first.members)
    assert len({m.expert_id for m in first.members}) == 3 and first.eligible == 6


def test_too_few_eligible_is_a_named_non_retryable_error() -> None:
    with pytest.raises(ApplicationError) as error:
        draw(POOL, request(1, size=5, specialty=Specialty.neurology), pool_size=len(POOL))
    assert error.value.type == "PanelShortage" and error.value.non_retryable


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
