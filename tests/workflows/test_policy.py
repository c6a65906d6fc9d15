"""The deadline policy is captured at acceptance: editing the file changes new cases only."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from infra.settings import ROOT
from schemas.events import ExaminationOrder
from schemas.steps import Stage
from tests.conftest import CaseEnv
from tests.helpers import Driver, china, deadline, example, new_id
from workflows.case import AppraisalCase


async def test_policy_change_leaves_running_cases_alone(case_env: CaseEnv, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    text = (ROOT / "config" / "deadline_policy.toml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    async with case_env(china(2026, 10, 12), policy_file=path) as env:
        before = await Driver.start(env, example("initial_complete"))
        await before.until(lambda s: s.stage is Stage.organizing)
        path.write_text(
            text.replace('version = "2025-55.4"', 'version = "local-45"')
            .replace("conclusion_days = 60", "conclusion_days = 45")
            .replace("examination_wait_days = 15", "examination_wait_days = 5"),
            encoding="utf-8",
        )
        after = await Driver.start(env, example("initial_complete"))
        await after.until(lambda s: s.stage is Stage.organizing)
        old, new = await before.status(), await after.status()
        assert (old.policy_version, new.policy_version) == ("2025-55.4", "local-45")
        assert deadline(old, "conclusion").due_on == date(2026, 12, 11)
        assert deadline(new, "conclusion").due_on == date(2026, 11, 26)
        # A clock the running case starts after the change still follows its captured policy:
        # examinations commissioned on Thursday 15 Oct are due 15 days later, not 5.
        await before.attend()
        order = ExaminationOrder(
            event_id=new_id("ex"), actor="W0101", hospital="济宁医学院附属医院", items=["CT"]
        )
        assert "results due by 2026-10-30" in await before.update(
            AppraisalCase.commission_examination, order
        )
        for case in (before, after):
            await case.handle.terminate("test over")
