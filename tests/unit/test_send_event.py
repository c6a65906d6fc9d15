"""An update the server rejected as unprocessed (a workflow task completed without reaching
it: a worker or server restarted in between) goes again with the same id; the case's own
refusal does not, and is the caller's answer."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from infra.temporal import UNPROCESSED_UPDATE, send_event


class Handle:
    """Answers each execute_update with the next of `answers` (an exception is raised)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, object, str | None]] = []

    async def execute_update(self, update: str, event: object, id: str | None = None) -> Any:
        self.sent.append((update, event, id))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def rejected(kind: str, message: str) -> WorkflowUpdateFailedError:
    return WorkflowUpdateFailedError(ApplicationError(message, type=kind))


async def test_an_unprocessed_update_goes_again_with_the_same_id() -> None:
    lost = rejected(UNPROCESSED_UPDATE, "Workflow Update is rejected because it wasn't processed")
    handle = Handle(lost, lost, "recorded")
    answer = await send_event(handle, "record_opinion", {"grade": 7}, "op-1")  # type: ignore[arg-type]
    assert answer == "recorded"
    assert handle.sent == [("record_opinion", {"grade": 7}, "op-1")] * 3


async def test_the_cases_refusal_is_the_answer_not_retried() -> None:
    refusal = rejected("Refused", "本案不在组织鉴定阶段")
    handle = Handle(refusal, "never asked")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await send_event(handle, "record_opinion", {}, "op-2")  # type: ignore[arg-type]
    assert caught.value is refusal
    assert len(handle.sent) == 1
