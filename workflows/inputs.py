"""Every signal and update of our workflows takes one payload, a JSON object.

With none or two the SDK calls the handler with the wrong number of arguments (it drops the type
hints when the count differs): a TypeError that fails the workflow task over and over, leaving
the case unable to move. A `null` reaches the handler as None and fails the same way. Here such
a signal is dropped, logged without its content, as the SDK drops one whose payload does not
decode; such an update is refused with the reason. A payload that does not fit its model never
gets here: the SDK refuses the update ("Failed decoding arguments", the fields named in its
cause) or drops the signal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

NOT_ONE = "InvalidInput"


def _not_one(args: Sequence[Any]) -> str | None:
    """What is wrong with a handler's inputs, or None when they are one value."""
    if len(args) != 1:
        return f"got {len(args)} inputs"
    return "got null" if args[0] is None else None


def _refusal(update: str, wrong: str) -> ApplicationError:
    return ApplicationError(
        f"input: {update} 须为一个 JSON 对象 (the update takes one JSON object, {wrong})",
        type=NOT_ONE,
        non_retryable=True,
    )


class OneInput(Interceptor):
    """Registered on every worker and replayer of the case workflows (worker.py)."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _OneInput


class _OneInput(WorkflowInboundInterceptor):
    async def handle_signal(self, input: HandleSignalInput) -> None:
        if wrong := _not_one(input.args):
            workflow.logger.warning(
                f"signal {input.signal} dropped: input: not one JSON object, {wrong}",
                extra={"signal": input.signal},
            )
            return
        await super().handle_signal(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        if wrong := _not_one(input.args):
            raise _refusal(input.update, wrong)
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        if wrong := _not_one(input.args):  # an update without a validator
            raise _refusal(input.update, wrong)
        return await super().handle_update_handler(input)
