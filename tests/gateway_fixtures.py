"""Pytest plugin: the HTTP gateway in this process (uvicorn on a free loopback port) over the
integration stack (dev server, `worker.py`, PostgreSQL), its clients' tokens made with the
CLI, and cases driven to the stages the gateway serves."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus

from gateway.app import create_app
from infra import signing
from infra.settings import Settings
from infra.temporal import start_case
from postal_emulator.server import serve
from schemas.clock import CHINA_TZ
from schemas.events import ExaminationOrder, ScheduleAppraisal
from tests.helpers import Driver, describe_raw, example, new_id
from workflows.case import AppraisalCase

if TYPE_CHECKING:  # the stack fixture lives in tests/integration/conftest.py
    from tests.integration.conftest import Stack

SECRET = "test-webhook-secret-" + uuid.uuid4().hex
BODY_LIMIT = 16 * 1024


@asynccontextmanager
async def running_gateway(
    stack: Stack, database_url: str, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on a free port (its cases on the stack's Temporal unless `changes` say
    otherwise); a client with its base URL."""
    temporal_address = changes.pop("temporal_address", stack.address)
    async with gateway_at(temporal_address, database_url, **changes) as http:
        yield http


@asynccontextmanager
async def gateway_at(
    temporal_address: str, database_url: str, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on a free port, its cases on the Temporal server at `temporal_address`;
    a client with its base URL."""
    values: dict[str, Any] = {
        "temporal_address": temporal_address,
        "database_url": database_url,
        "postal_webhook_secret": SECRET,
        "gateway_max_body_bytes": BODY_LIMIT,
        **changes,
    }
    async with (
        serve(create_app(Settings(**values))) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        yield http


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gateway(stack: Stack, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(stack, database_url) as http:
        yield http


@dataclass
class Tokens:
    """One client per kind of other system, each with its scopes (made with the CLI)."""

    hospital: str  # examinations, registered as the hospital the test cases commission
    other_hospital: str  # examinations, a hospital no test case commissions
    hotline: str  # ledger, re_appraisal
    ems: str  # postal


COMMISSIONED = "济宁市第一人民医院"


async def add_client(stack: Stack, client_id: str, *scopes: str, name: str = "") -> str:
    flags = [part for scope in scopes for part in ("--scope", scope)]
    name = name or f"{client_id} 测试"
    code, out, err = await stack.appraisal(
        "gateway", "clients", "add", client_id, "--name", name, *flags, "--json"
    )
    assert code == 0, err
    token: str = json.loads(out)["token"]
    return token


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tokens(stack: Stack) -> Tokens:
    suffix = uuid.uuid4().hex[:6]
    hospital, other_hospital, hotline, ems = await asyncio.gather(
        add_client(stack, f"hospital-{suffix}", "examinations", name=COMMISSIONED),
        add_client(stack, f"hospital2-{suffix}", "examinations", name="济宁医学院附属医院"),
        add_client(stack, f"hotline-{suffix}", "ledger", "re_appraisal"),
        add_client(stack, f"ems-{suffix}", "postal"),
    )
    return Tokens(hospital=hospital, other_hospital=other_hospital, hotline=hotline, ems=ems)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- cases -----------------------------------------------------------------------------------


async def at_conclusion(stack: Stack) -> Driver:
    """A case started now, appraised as a walk-in today: in the conclusion stage."""
    handle = await start_case(
        stack.env.client, example("initial_complete"), new_id("JN-GW"), "appraisal"
    )
    case = Driver(stack.env, handle)
    await case.until(lambda s: s.appointment is not None)
    walk_in = ScheduleAppraisal(
        event_id=new_id("s"), actor="W0101", at=datetime.now(CHINA_TZ), place="鉴定大厅"
    )
    await case.update(AppraisalCase.schedule_appraisal, walk_in)
    await case.attend()
    return case


async def in_delivery(stack: Stack) -> Driver:
    """Both conclusion letters in the post."""
    case = await at_conclusion(stack)
    await case.conclude()
    return case


Cases = tuple[Driver, Driver, Driver]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def delivery_cases(stack: Stack) -> AsyncIterator[Cases]:
    """Three cases, each with both letters in the post; the postal tests deliver the third."""
    first, second, third = await asyncio.gather(*(in_delivery(stack) for _ in range(3)))
    yield first, second, third
    for case in (first, second, third):
        if (await case.handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await case.handle.terminate("test over")


async def waiting_for_examination(stack: Stack) -> Driver:
    case = await at_conclusion(stack)
    order = ExaminationOrder(
        event_id=new_id("o"), actor="W0101", hospital=COMMISSIONED, items=["肌电图"]
    )
    await case.update(AppraisalCase.commission_examination, order)
    return case


async def quiet_length(case: Driver) -> int:
    """The case's history length once nothing runs (no activity, no workflow task): a
    refused request must leave it as it is."""

    async def settled() -> int:
        while True:
            raw = await describe_raw(case.handle)
            if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
                return raw.workflow_execution_info.history_length
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(settled(), 60)


# --- postal webhooks -------------------------------------------------------------------------


def tracking(
    case_id: str, waybill_no: str, status: str = "delivered", **fields: Any
) -> dict[str, Any]:
    """A webhook body as the courier sends it."""
    body: dict[str, Any] = {
        "event_id": new_id("ems"),
        "reference": case_id,
        "waybill_no": waybill_no,
        "status": status,
        "occurred_at": datetime.now(CHINA_TZ).isoformat(),
        "signer": "本人" if status == "delivered" else None,
        **fields,
    }
    return body


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def signed_headers(
    body: bytes, event_id: str | None, secret: str = SECRET, at: int | None = None
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        signing.SIGNATURE_HEADER: signing.sign(secret, body, at),
    }
    if event_id is not None:
        headers[signing.EVENT_ID_HEADER] = event_id
    return headers


async def post_webhook(
    http: httpx.AsyncClient,
    body: dict[str, Any] | bytes,
    headers: dict[str, str] | None = None,
    without: tuple[str, ...] = (),
) -> httpx.Response:
    """POST a correctly signed webhook; `headers` add to or replace the signed ones,
    `without` leaves some out."""
    raw = body if isinstance(body, bytes) else encoded(body)
    event_id = None if isinstance(body, bytes) else body.get("event_id")
    sent = {**signed_headers(raw, event_id), **(headers or {})}
    for name in without:
        sent.pop(name, None)
    return await http.post("/v1/postal/webhooks", content=raw, headers=sent)
