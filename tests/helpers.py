"""Helpers for driving a case in tests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from schemas.application import AppraisalApplication
from schemas.status import CaseStatus
from schemas.steps import Stage
from workflows.case import AppraisalCase

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str) -> AppraisalApplication:
    return AppraisalApplication.model_validate(example_json(name))


def example_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data


async def wait_for(
    handle: WorkflowHandle[Any, Any], predicate: Any, timeout: float = 30
) -> CaseStatus:
    """Poll the status query until `predicate(status)` holds; fails after `timeout` seconds."""

    async def poll() -> CaseStatus:
        while True:
            status: CaseStatus = await handle.query(AppraisalCase.status)
            if predicate(status):
                return status
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


async def wait_for_stage(
    handle: WorkflowHandle[Any, Any], stage: Stage, timeout: float = 30
) -> CaseStatus:
    return await wait_for(handle, lambda s: s.stage is stage, timeout)
