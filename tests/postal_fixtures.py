"""Pytest plugin: the postal emulator, started once per session on a free loopback port.

Load with `pytest_plugins = ["tests.postal_fixtures"]` (or `-p tests.postal_fixtures`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from postal_emulator.app import running


class PostalFaults:
    """Switches the emulator's bad days on; the fixture switches them off again."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def set(self, *, fail_next: int = 0, delay_ms: int = 0, reject_next: int = 0) -> None:
        response = await self._http.post(
            "/v1/_faults",
            json={"fail_next": fail_next, "delay_ms": delay_ms, "reject_next": reject_next},
        )
        response.raise_for_status()

    async def reset(self) -> None:
        (await self._http.delete("/v1/_faults")).raise_for_status()


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
