"""The system's own data belongs to Jining (济宁), the city whose reform it follows (issue #8
point 1): the committee, the appraisal site, and every example application."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from activities.sessions import read_plan
from infra.settings import Settings
from schemas.application import AppraisalApplication

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
# GB/T 2260 codes of Jining's districts, county-level cities and counties.
JINING_AREAS = {
    "370811": "任城区",
    "370812": "兖州区",
    "370826": "微山县",
    "370827": "鱼台县",
    "370828": "金乡县",
    "370829": "嘉祥县",
    "370830": "汶上县",
    "370831": "泗水县",
    "370832": "梁山县",
    "370881": "曲阜市",
    "370883": "邹城市",
}
JINING_HOSPITALS = {
    "济宁医学院附属医院",
    "济宁市第一人民医院",
    "济宁市第二人民医院",
    "济宁市中医院",
    "济宁市精神病防治院",
    "兖矿新里程总医院",
    "曲阜市人民医院",
    "邹城市人民医院",
    "兖州区人民医院",
}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def default(setting: str) -> Any:
    """The coded default, whatever the environment of the test run sets."""
    return Settings.model_fields[setting].default


def test_the_committee_is_jinings_and_a_re_appraisal_goes_to_the_province() -> None:
    assert default("committee_name") == "济宁市劳动能力鉴定委员会"
    assert default("provincial_committee_name") == "山东省劳动能力鉴定委员会"


def test_the_regular_sessions_are_held_in_jining() -> None:
    plan = read_plan(default("sessions_file"))
    on_site = [r.place for r in plan.regular if r.mode.value == "on_site"]
    assert on_site and all(place.startswith("济宁市") for place in on_site)
    assert not any("济南" in r.place for r in plan.regular)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_a_jining_case(path: Path) -> None:
    application = AppraisalApplication.model_validate_json(path.read_text(encoding="utf-8"))
    worker, employer = application.worker, application.employer
    assert worker.citizen_id[:6] in JINING_AREAS  # the check character is validated above
    assert employer.credit_code[2:8] in JINING_AREAS  # registration area, positions 3-8
    for address in (worker.address, employer.address):
        assert address.text.startswith("山东省济宁市")
        assert address.postal_code[:3] in {"272", "273"}
    assert set(application.injury.treating_hospitals) <= JINING_HOSPITALS


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_an_applicant_who_is_the_worker_bears_the_workers_name(path: Path) -> None:
    application = AppraisalApplication.model_validate_json(path.read_text(encoding="utf-8"))
    applicant = application.applicant
    if applicant.role.value == "worker":
        assert applicant.name == application.worker.name
    if applicant.role.value == "relative":
        assert applicant.relationship


def test_no_example_readme_or_config_file_mentions_jinan() -> None:
    files = [
        *EXAMPLES,
        ROOT / "README.md",
        *(p for p in (ROOT / "config").rglob("*") if p.is_file()),
    ]
    assert [p.name for p in files if "济南" in p.read_text(encoding="utf-8")] == []


def test_the_examples_keep_their_meaning() -> None:
    examples = {p.stem: load(p) for p in EXAMPLES}
    # duplicate.json is the same worker's same application as initial_complete.json.
    assert examples["duplicate"]["worker"] == examples["initial_complete"]["worker"]
    assert examples["duplicate"]["case_type"] == examples["initial_complete"]["case_type"]
    # 就近办 is an illness-appraisal pilot for province-insured workers.
    province = examples["province_insured"]
    assert (province["case_type"], province["jurisdiction"]) == ("illness", "province")
