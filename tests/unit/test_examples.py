"""Every example application is valid, shown in the README and exercised by a test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.application import AppraisalApplication
from workflows.rules import application_problems

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
TESTS = "\n".join(
    p.read_text(encoding="utf-8")
    for p in (ROOT / "tests").rglob("test_*.py")
    if p.name != "test_examples.py"
)


def test_there_are_examples_for_every_case_type() -> None:
    types = {json.loads(p.read_text(encoding="utf-8"))["case_type"] for p in EXAMPLES}
    assert types == {"initial", "re_appraisal", "review", "illness"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_valid_documented_and_tested(path: Path) -> None:
    application = AppraisalApplication.model_validate_json(path.read_text(encoding="utf-8"))
    assert application_problems(application) == []  # what a case checks on start, too
    assert f"examples/{path.name}" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert f'"{path.stem}"' in TESTS, f"no test uses examples/{path.name}"
