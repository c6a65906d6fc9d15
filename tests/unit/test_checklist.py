"""The materials checklist: per case type, in the policy configuration (its version is the
rule version the case captured), never a work-injury determination for an illness case."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.policy import read_policy
from infra.settings import ROOT
from schemas.application import AppraisalApplication, CaseType, MaterialKind
from tests.helpers import example_json

K = MaterialKind
COMMON = [K.application_form, K.diagnosis, K.medical_records, K.identity_document]
POLICY = ROOT / "config" / "deadline_policy.toml"


def application(name: str, **changes: object) -> AppraisalApplication:
    return AppraisalApplication.model_validate(example_json(name) | changes)


@pytest.mark.parametrize(
    ("name", "cause", "required"),
    [
        ("initial_complete", None, [*COMMON, K.injury_determination]),
        ("re_appraisal", None, [*COMMON, K.injury_determination, K.prior_conclusion]),
        ("re_appraisal", "illness", [*COMMON, K.prior_conclusion]),
        ("review", None, [*COMMON, K.prior_conclusion]),
        ("review", "illness", [*COMMON, K.prior_conclusion]),
        ("illness", None, COMMON),
    ],
)
def test_the_policy_file_holds_the_checklist_per_case_type(
    name: str, cause: str | None, required: list[MaterialKind]
) -> None:
    policy = read_policy(POLICY)
    changes = {"cause": cause} if cause else {}
    assert policy.checklist(application(name, **changes)) == required


def test_a_local_checklist_is_configuration(tmp_path: Path) -> None:
    text = POLICY.read_text(encoding="utf-8").replace(
        'illness = ["application_form"', 'illness = ["other", "application_form"'
    )
    local = tmp_path / "policy.toml"
    local.write_text(text.replace('version = "2025-55.4"', 'version = "local-1"'), "utf-8")
    policy = read_policy(local)
    assert policy.version == "local-1"
    assert policy.checklist(application("illness"))[0] is K.other


def test_a_checklist_missing_a_case_type_is_refused(tmp_path: Path) -> None:
    local = tmp_path / "policy.toml"
    text = POLICY.read_text(encoding="utf-8")
    local.write_text(text[: text.index("[materials]")] + '[materials]\ninitial = ["diagnosis"]\n')
    with pytest.raises(ApplicationError, match="no checklist for re_appraisal, review, illness"):
        read_policy(local)
    assert CaseType.illness in read_policy(POLICY).materials
