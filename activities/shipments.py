"""Which waybill belongs to which case: written when the courier takes a letter, read by the
gateway and the CLI before a postal event may reach a case."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy


async def record_shipment(
    db: Executor, case_id: str, recipient: str, waybill_no: str, attempt: int
) -> None:
    """Idempotent: a retried activity gets the same waybill from the courier."""
    await db.execute(
        """INSERT INTO shipments (waybill_no, case_id, recipient, attempt)
           VALUES ($1, $2, $3, $4) ON CONFLICT (waybill_no) DO NOTHING""",
        waybill_no,
        case_id,
        recipient,
        attempt,
    )


@dataclass(frozen=True)
class WaybillProblem:
    code: str  # for programs: unknown_waybill, waybill_not_of_case
    message: str  # for people: Chinese, then English


async def waybill_problem(db: Executor, case_id: str, waybill_no: str) -> WaybillProblem | None:
    """None when `waybill_no` is a letter this system sent for `case_id`. Another case's
    waybill is refused without naming that case."""
    owner = await db.fetchval("SELECT case_id FROM shipments WHERE waybill_no = $1", waybill_no)
    if owner is None:
        return WaybillProblem(
            "unknown_waybill",
            f"运单 {waybill_no} 不是本系统寄出的结论书 "
            f"(waybill {waybill_no} is not a letter this system sent)",
        )
    if owner != case_id:
        return WaybillProblem(
            "waybill_not_of_case",
            f"运单 {waybill_no} 不是案件 {case_id} 的结论书 "
            f"(waybill {waybill_no} belongs to another case, not {case_id})",
        )
    return None
