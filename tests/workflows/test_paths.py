"""Each important path of a case, driven to its end on fixed dates. The histories these runs
produce are the replay guards in tests/histories/: `RECORD_HISTORY=1` stores them anew."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from schemas.application import MaterialKind
from schemas.events import (
    Reschedule,
    ReviewLayer,
    SupplementItem,
    SupplementNotice,
)
from schemas.status import CaseStatus
from schemas.steps import Stage
from tests.conftest import CaseEnv
from tests.helpers import G7, G8, G9, Driver, china, decision, example, new_id, opinion, signoff
from workflows.case import AppraisalCase

HISTORIES = Path(__file__).resolve().parents[1] / "histories" / "v7"  # the newest version
MONDAY = china(2026, 10, 12)


async def panel(case: Driver) -> list[str]:
    status = await case.attend()
    assert status.panel is not None
    return [m.expert_id for m in status.panel.members]


async def refused(case: Driver) -> CaseStatus:
    return await case.result()


async def abandoned(case: Driver) -> CaseStatus:
    await case.until(lambda s: bool(s.deadlines))
    items = [
        SupplementItem(kind=k)
        for k in (MaterialKind.medical_records, MaterialKind.injury_determination)
    ]
    await case.update(
        AppraisalCase.issue_supplement_notice,
        SupplementNotice(event_id=new_id("n"), actor="W0101", items=items),
    )
    return await case.result()


async def rescheduled(case: Driver) -> CaseStatus:
    await case.until(lambda s: s.appointment is not None)
    await case.update(
        AppraisalCase.reschedule, Reschedule(event_id=new_id("r"), actor="W0101", reason="住院复查")
    )
    await case.attend()
    await case.conclude()
    return await case.deliver()


async def deliberation(case: Driver) -> CaseStatus:
    a, b, c = await panel(case)
    for expert, outcome in ((a, G7), (b, G8), (c, G9)):
        await case.update(AppraisalCase.record_opinion, opinion(expert, outcome))
    await case.update(AppraisalCase.record_opinion, opinion(c, G8))
    await case.review()
    await case.update(AppraisalCase.issue_conclusion, decision(G8))
    return await case.deliver()


async def returned_review(case: Driver) -> CaseStatus:
    a, b, c = await panel(case)
    for expert in (a, b, c):
        await case.update(AppraisalCase.record_opinion, opinion(expert, G8))
    await case.update(
        AppraisalCase.sign_off_review, signoff(ReviewLayer.examination, False, "测量有误")
    )
    await case.update(AppraisalCase.record_opinion, opinion(c, G9))
    await case.update(AppraisalCase.record_opinion, opinion(c, G8))
    await case.review()
    await case.update(AppraisalCase.issue_conclusion, decision(G8))
    return await case.deliver()


async def breached(case: Driver) -> CaseStatus:
    await case.attend()
    await case.skip_to(china(2026, 12, 12, 1))
    await case.until(lambda s: all(d.overdue for d in s.deadlines))
    await case.conclude()
    return await case.deliver()


PATHS: dict[str, tuple[str, Callable[[Driver], Awaitable[CaseStatus]], str]] = {
    "refused": ("re_appraisal_ineligible", refused, "refused"),
    "abandoned": ("initial_incomplete", abandoned, "abandoned"),
    "rescheduled": ("initial_complete", rescheduled, "delivered"),
    "deliberation": ("initial_complete", deliberation, "delivered"),
    "returned_review": ("initial_complete", returned_review, "delivered"),
    "breached": ("initial_complete", breached, "delivered"),
}


@pytest.mark.parametrize("path", PATHS)
async def test_path_ends_archived(path: str, case_env: CaseEnv) -> None:
    name, drive, reason = PATHS[path]
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example(name))
        final = await drive(case)
        history = await case.handle.fetch_history()
    assert (
        final.stage is Stage.archived and final.closed is not None and final.closed.value == reason
    )
    if os.environ.get("RECORD_HISTORY"):
        HISTORIES.mkdir(parents=True, exist_ok=True)
        (HISTORIES / f"{path}.json").write_text(history.to_json(), encoding="utf-8")
