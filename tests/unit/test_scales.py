"""The scale follows the kind of appraisal; the standard cited follows the scale."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.application import AppraisalApplication, Cause
from schemas.outcome import STANDARDS, Outcome, SelfCare, Verdict, basis_problem
from tests.helpers import example_json


@pytest.mark.parametrize(
    ("name", "cause", "appraised_for"),
    [
        ("illness", None, Cause.illness),
        ("initial_complete", None, Cause.work_injury),
        ("review", None, Cause.work_injury),
        ("review", "illness", Cause.illness),
        ("re_appraisal", "illness", Cause.illness),
    ],
)
def test_the_scale_follows_the_kind_of_appraisal(
    name: str, cause: str | None, appraised_for: Cause
) -> None:
    data = example_json(name)
    if cause:
        data["cause"] = cause
    assert AppraisalApplication.model_validate(data).appraised_for is appraised_for


@pytest.mark.parametrize(
    ("name", "cause", "says"),
    [
        ("illness", "work_injury", "因病鉴定不适用工伤标准"),
        ("initial_complete", "illness", "case_type illness"),
    ],
)
def test_a_cause_that_contradicts_the_case_type_is_refused(
    name: str, cause: str, says: str
) -> None:
    data = example_json(name) | {"cause": cause}
    with pytest.raises(ValidationError, match=says):
        AppraisalApplication.model_validate(data)


def test_outcomes_off_the_scale_and_self_care_without_a_grade() -> None:
    assert Outcome(verdict=Verdict.major_loss).scale_problem(Cause.illness) is None
    assert Outcome(verdict=Verdict.grade_3).scale_problem(Cause.illness)
    assert Outcome(verdict=Verdict.major_loss).scale_problem(Cause.work_injury)
    for verdict in (Verdict.complete_loss, Verdict.below_standard):
        with_care = Outcome(verdict=verdict, self_care=SelfCare.complete)
        assert "不评定生活自理障碍" in (with_care.scale_problem(Cause.illness) or "")
    below = Outcome(verdict=Verdict.below_grade, self_care=SelfCare.partial)
    assert below.scale_problem(Cause.work_injury)
    assert below.scale_problem(Cause.work_injury, self_care_checked=False) is None  # old cases
    graded = Outcome(verdict=Verdict.grade_1, self_care=SelfCare.complete)
    assert graded.scale_problem(Cause.work_injury) is None


def test_the_basis_follows_the_scale() -> None:
    assert STANDARDS[Cause.illness].startswith("劳社部发〔2002〕8号")
    assert basis_problem("GB/T 16180-2014", Cause.illness)
    assert basis_problem("劳社部发〔2002〕8号", Cause.illness) is None
    assert basis_problem("劳社部发〔2002〕8号", Cause.work_injury)
    assert basis_problem(STANDARDS[Cause.work_injury], Cause.work_injury) is None
