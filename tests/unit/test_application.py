from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.application import AppraisalApplication
from schemas.export import EXPORTED, FOLDER, render
from tests.helpers import example_json


def refuse(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as error:
        AppraisalApplication.model_validate(data)
    return str(error.value)


def test_example_is_valid() -> None:
    assert AppraisalApplication.model_validate(example_json("initial_complete")).worker.name


def test_wrong_check_digit_names_the_field() -> None:
    data = example_json("initial_complete")
    data["worker"]["citizen_id"] = "370811198503120439"
    message = refuse(data)
    assert "worker.citizen_id" in message and "校验位错误" in message


def test_relative_must_state_relationship() -> None:
    data = example_json("initial_complete")
    data["applicant"] = {"role": "relative", "name": "张小红"}
    assert "relationship" in refuse(data)


def test_the_insurance_agency_applies_for_a_review_only() -> None:
    review = example_json("review")
    review["applicant"] = {"role": "agency", "name": "济宁市社会保险事业中心"}
    assert AppraisalApplication.model_validate(review).applicant.role == "agency"
    initial = example_json("initial_complete")
    initial["applicant"] = {"role": "agency", "name": "济宁市社会保险事业中心"}
    assert "复查鉴定" in refuse(initial)


def test_unknown_fields_are_refused() -> None:
    data = example_json("initial_complete")
    data["worker"]["nickname"] = "小张"
    assert "worker.nickname" in refuse(data)


def test_mobility_impaired_needs_home_or_remote() -> None:
    data = example_json("initial_complete") | {"mobility_impaired": True}
    assert "home_visit" in refuse(data)
    data["mode"] = "home_visit"
    assert AppraisalApplication.model_validate(data).mode.value == "home_visit"


def test_injury_before_birth_is_refused() -> None:
    data = example_json("initial_complete")
    data["injury"]["occurred_on"] = "1980-01-01"
    assert "出生日期" in refuse(data)


def test_future_injury_date_is_refused() -> None:
    data = example_json("initial_complete")
    data["injury"]["occurred_on"] = "2999-01-01"
    assert "future" in refuse(data)


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_committed_json_schema_is_current(name: str) -> None:
    committed = (FOLDER / f"{name}.schema.json").read_text(encoding="utf-8")
    assert committed == render(EXPORTED[name]), "run `make schema` and commit schemas/json/"


def test_json_schema_accepts_the_example() -> None:
    import jsonschema

    schema = json.loads((FOLDER / "appraisal_application.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(example_json("initial_complete"), schema)
