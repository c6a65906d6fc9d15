"""The clerk's acceptance work from the `appraisal` CLI on the real stack, and the operators'
filters (green channel, jurisdiction) in Temporal's visibility."""

from __future__ import annotations

import asyncio
import json
import re

from schemas.steps import Stage
from tests.helpers import example_json, wait_for
from tests.integration.conftest import Stack


async def start(stack: Stack, name: str) -> str:
    code, out, err = await stack.appraisal(
        "start", "-", stdin=json.dumps(example_json(name, fresh_worker=True), ensure_ascii=False)
    )
    assert code == 0, err
    return out.strip()


async def test_supplement_procedure_from_the_cli(stack: Stack) -> None:
    case_id = await start(stack, "initial_incomplete")
    handle = stack.env.client.get_workflow_handle(case_id)
    await wait_for(handle, lambda s: bool(s.deadlines))
    code, out, err = await stack.appraisal("status", case_id)
    assert re.search(r"^  supplement_notice  ", out, re.MULTILINE)  # a row of the deadlines
    assert "  - issue_supplement_notice" in out
    code, out, err = await stack.appraisal(
        "supplement-notice", case_id, "--missing", "medical_records"
    )
    assert code == 1 and "还缺: 工伤认定决定书" in err
    code, out, err = await stack.appraisal(
        "supplement-notice",
        case_id,
        "--missing",
        "medical_records",
        "--missing",
        "injury_determination",
    )
    assert code == 0 and "materials due by" in out, err
    code, out, err = await stack.appraisal(
        "supplemented",
        case_id,
        "--material",
        "medical_records",
        "--material",
        "injury_determination",
    )
    assert code == 0, err
    status = await wait_for(handle, lambda s: s.stage is Stage.organizing)
    assert status.complete_on is not None
    await handle.terminate("test over")


async def test_operators_filter_green_channel_and_province_cases(stack: Stack) -> None:
    green = await start(stack, "green_channel")
    province = await start(stack, "province_insured")

    async def listed(query: str, case_id: str) -> str:
        while True:  # visibility is eventually consistent
            code, out, err = await stack.appraisal("list", "--query", query)
            assert code == 0, err
            if case_id in out:
                return out
            await asyncio.sleep(0.2)

    out = await asyncio.wait_for(listed("GreenChannel = true", green), 30)
    (row,) = [line for line in out.splitlines() if line.startswith(green)]
    assert province not in out and row.endswith("  yes")  # the green channel column
    out = await asyncio.wait_for(listed("Jurisdiction = 'province'", province), 30)
    assert green not in out
    for case_id in (green, province):
        await stack.env.client.get_workflow_handle(case_id).terminate("test over")
