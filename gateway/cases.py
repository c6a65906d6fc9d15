"""The gateway's way into a case: an update, so the case itself says yes or no before the
gateway answers. Temporal that cannot be reached (or a case no worker answers) is a 503 with
Retry-After; the sender repeats with the same event id, which is safe."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from gateway.errors import ApiError, unavailable
from infra.settings import Settings
from infra.temporal import connect, data_converter, send_event
from starter.app import reason, transport_reason

ANSWER_TIMEOUT = timedelta(seconds=30)  # a worker answers an update in well under a second
UNKNOWN_UPDATE = "expected but not found"  # the SDK's words for an update the case lacks


class Cases:
    """A Temporal client, connected on first use and again after a failed connect, so the
    gateway starts (and says 503) while Temporal is down."""

    def __init__(self, config: Settings) -> None:
        self._config = config
        self._converter = data_converter(config)  # no payload keys: the gateway does not start
        self._client: Client | None = None
        self._connecting = asyncio.Lock()

    async def client(self) -> Client:
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        connect(self._config, self._converter), 10
                    )
                except (RuntimeError, TimeoutError) as error:
                    raise down(transport_reason(error)) from None
            return self._client

    async def update(self, case_id: str, name: str, event: BaseModel, event_id: str) -> str:
        """The case's answer to the update `name`; the update id is the event id, so the
        server answers a repeat with the first outcome."""
        handle = (await self.client()).get_workflow_handle(case_id)
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT.total_seconds()):
                answer = await send_event(handle, name, event, event_id, result_type=str)
        except WorkflowUpdateFailedError as failed:
            why = reason(failed)
            if UNKNOWN_UPDATE in why:
                raise ApiError(
                    409,
                    "not_supported",
                    f"本案不受理此事项 (case {case_id} does not take {name}: "
                    "this version of the case has no such step)",
                ) from None
            raise ApiError(409, "refused", why) from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise unavailable(
                "no_answer",
                f"案件 {case_id} 暂未应答, 请用同一事件编号重试 (the case did not answer within "
                f"{ANSWER_TIMEOUT.seconds} s: repeat with the same event id)",
            ) from None
        except RPCError as error:
            raise await self._rpc_problem(case_id, error) from None
        return str(answer)

    async def _rpc_problem(self, case_id: str, error: RPCError) -> ApiError:
        if error.status != RPCStatusCode.NOT_FOUND:
            return down(error.message)
        try:
            described = await (await self.client()).get_workflow_handle(case_id).describe()
        except RPCError as again:
            if again.status == RPCStatusCode.NOT_FOUND:
                return ApiError(404, "unknown_case", f"没有案件 {case_id} (no case {case_id})")
            return down(again.message)
        state = described.status.name.lower() if described.status else "closed"
        return ApiError(
            409,
            "case_closed",
            f"案件 {case_id} 已结束 ({state}), 不再受理事件 (the case is closed: it takes no more events)",
        )


def down(why: str) -> ApiError:
    return unavailable(
        "temporal_unavailable",
        f"案件系统暂不可用, 请稍后重试 (Temporal cannot be reached: {why}; retry later)",
    )
