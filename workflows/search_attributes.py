"""Custom search attributes operators filter cases by in the Web UI, defined in one place.

Registered by `make run`, the test fixtures and docker-compose (admin-tools); the names are
part of the operators' saved queries, so renaming one is a migration."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
GREEN_CHANNEL = SearchAttributeKey.for_bool("GreenChannel")
APPRAISAL_MODE = SearchAttributeKey.for_keyword("AppraisalMode")
JURISDICTION = SearchAttributeKey.for_keyword("Jurisdiction")
CASE_OUTCOME = SearchAttributeKey.for_keyword("CaseOutcome")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
# A city case and the provincial case its re-appraisal request was referred to name each other.
LINKED_CASE = SearchAttributeKey.for_keyword("LinkedCase")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    CASE_TYPE,
    CASE_STAGE,
    GREEN_CHANNEL,
    APPRAISAL_MODE,
    JURISDICTION,
    CASE_OUTCOME,
    NEXT_DEADLINE,
    OVERDUE,
    LINKED_CASE,
)


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    kinds = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime"}
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
