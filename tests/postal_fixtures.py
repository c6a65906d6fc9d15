"""Pytest plugin: the postal emulator, started once per session on a free loopback port.

Load with `pytest_plugins = ["tests.postal_fixtures"]` (or `-p tests.postal_fixtures`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest_asyncio

from postal_emulator.app import running


class PostalFaults:
    """Switches the emulator's bad days on; the fixture switches them off again."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def set(self, **faults: object) -> None:
        """Replace the faults (`postal_emulator.models.Faults`: fail_next, reject_next,
        delay_ms, error_rate, seed, down, duplicate_webhooks, reverse_webhooks,
        lose_webhooks); the emulator refuses an unknown one."""
        response = await self._http.post("/v1/_faults", json=faults)
        response.raise_for_status()

    async def stats(self) -> dict[str, int]:
        """What the faults did since they were set (answered_5xx, failed_after_create, ...)."""
        response = await self._http.get("/v1/_stats")
        response.raise_for_status()
        result: dict[str, int] = response.json()
        return result

    async def reset(self) -> None:
        (await self._http.delete("/v1/_faults")).raise_for_status()


class Courier:
    """Drives a shipment's courier events, as tests tell the story: "deliver this waybill,
    signed by X at T", "return it with reason R". Answers the tracking events made."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def report(self, waybill_no: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
        """One batch: its webhooks go out together (reversed under `reverse_webhooks`)."""
        response = await self._http.post(
            f"/v1/shipments/{waybill_no}/events/batch", json={"events": list(events)}
        )
        response.raise_for_status()
        made: list[dict[str, Any]] = response.json()
        return made

    async def deliver(
        self, waybill_no: str, signer: str, at: datetime | None = None
    ) -> dict[str, Any]:
        return (await self.report(waybill_no, _event("delivered", at, signer=signer)))[0]

    async def return_letter(
        self, waybill_no: str, reason: str, at: datetime | None = None
    ) -> dict[str, Any]:
        """`reason`: refused, unknown_address, nobody_home or moved."""
        return (await self.report(waybill_no, _event("returned", at, reason=reason)))[0]


def _event(status: str, at: datetime | None, **fields: str) -> dict[str, Any]:
    return {"status": status, **fields} | ({"occurred_at": at.isoformat()} if at else {})


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postal_url() -> AsyncIterator[str]:
    async with running() as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def postal_http(postal_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the session's emulator (base_url set, as the worker sets it)."""
    async with httpx.AsyncClient(base_url=postal_url, timeout=5.0) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def postal_faults(postal_http: httpx.AsyncClient) -> AsyncIterator[PostalFaults]:
    faults = PostalFaults(postal_http)
    await faults.reset()
    yield faults
    await faults.reset()


@pytest_asyncio.fixture(loop_scope="session")
async def postal_courier(postal_http: httpx.AsyncClient) -> Courier:
    return Courier(postal_http)
