from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.policy import read_policy
from infra.settings import ROOT
from schemas.application import CaseType, MaterialKind
from workflows.rules import add_years, missing_materials, re_appraisal_problem, review_problem

K = MaterialKind


@pytest.mark.parametrize(
    ("case_type", "extra"),
    [
        (CaseType.initial, [K.injury_determination]),
        (CaseType.re_appraisal, [K.prior_conclusion]),
        (CaseType.review, [K.prior_conclusion]),
        (CaseType.illness, []),
    ],
)
def test_checklist_per_case_type(case_type: CaseType, extra: list[MaterialKind]) -> None:
    common = [K.application_form, K.diagnosis, K.medical_records, K.identity_document]
    assert missing_materials(case_type, set()) == common + extra
    assert missing_materials(case_type, {*common, *extra}) == []


def test_re_appraisal_window_is_inclusive() -> None:
    received, end = date(2026, 3, 2), date(2026, 3, 17)
    assert re_appraisal_problem(received, end, 15, applied=end) is None
    message = re_appraisal_problem(received, end, 15, applied=date(2026, 3, 18))
    assert (
        message and "收到结论 2026-03-02, 期限届满 2026-03-17, 本申请受理于 2026-03-18" in message
    )


def test_review_needs_a_full_year() -> None:
    assert review_problem(date(2025, 5, 6), 1, applied=date(2026, 5, 6)) is None
    message = review_problem(date(2025, 5, 6), 1, applied=date(2026, 5, 5))
    assert message and "最早可申请 2026-05-06" in message
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_policy_file_in_the_repo_is_valid() -> None:
    policy = read_policy(ROOT / "config" / "deadline_policy.toml")
    assert policy.supplement_notice(False) == 5 and policy.green_channel.conclusion_days == 20
    assert policy.conclusion_days == 60 and policy.delivery_days == 15
    assert policy.site_promise(False) == 5 and policy.site_promise(True) == 3


def test_broken_policy_file_names_file_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('version = "x"\nconclusion_days = 0\n', encoding="utf-8")
    with pytest.raises(ApplicationError) as error:
        read_policy(path)
    assert str(path) in str(error.value) and "conclusion_days" in str(error.value)
