"""Stored histories of real cases must replay on the current code: a change that would break a
running case fails here first (then it needs workflow.patched)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from infra.temporal import data_converter
from schemas.referral import PROVINCE_SUFFIX
from starter.audit.model import ReplayOutcome, Source
from starter.audit.replay import replay

ROOT = Path(__file__).resolve().parents[1] / "histories"
# v1: recorded before the core hardening (cases running when it deployed); v2: since; v3: since
# moved conclusion clocks are counted again from the start (patch `recounted-moves`); v4: since
# the rules of issue #8 (patch `jining-rules`); v5: since delivery in full and the archive
# package (patches `full-delivery`, `archive-package`); v6: since refusals are recorded and
# actors proven (patches `recorded-refusals`, `proven-actors`), payloads encrypted with the
# suite's test key (tests/conftest.py); v7: the lean case (patch `lean-case`: one write per
# workflow task as a local activity, the outbox's dispatcher, the letter on its own queue).
HISTORIES = sorted(ROOT.glob("v*/*.json"))


PATHS = {
    "happy_path",
    "refused",
    "abandoned",
    "rescheduled",
    "deliberation",
    "returned_review",
    "breached",
}


def test_histories_are_stored() -> None:
    """Every version of the workflow code keeps one history per important path."""
    versions = {p.parent.name for p in HISTORIES}
    assert {"v1", "v2", "v3", "v4", "v5", "v6", "v7"} <= versions
    for version in versions:
        assert {p.stem for p in HISTORIES if p.parent.name == version} == PATHS


def upserts(path: Path) -> int:
    events = json.loads(path.read_text(encoding="utf-8"))["events"]
    return sum(e["eventType"] == "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" for e in events)


def test_search_attributes_are_upserted_only_on_change() -> None:
    """The hardened happy path writes at most half the upserts of the old one."""
    assert upserts(ROOT / "v2" / "happy_path.json") * 2 <= upserts(ROOT / "v1" / "happy_path.json")


def case_number(path: Path, events: list[dict[str, Any]]) -> str:
    """The workflow id the history ran under: a referral's id is made from it, so a history
    with a referral replays under its own case number (others under the file's name)."""
    for event in events:
        child = event.get("startChildWorkflowExecutionInitiatedEventAttributes")
        if child:
            return str(child["workflowId"]).removesuffix(PROVINCE_SUFFIX)
    return path.stem


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_stored_history_replays(path: Path) -> None:
    """Replayed as `appraisal audit replay` replays a case before a deploy."""
    text = path.read_text(encoding="utf-8")
    events = json.loads(text)["events"]
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    history = WorkflowHistory.from_json(case_number(path, events), text)
    result = await replay(history, Source.file, data_converter())
    assert result.outcome is ReplayOutcome.clean, result.message
