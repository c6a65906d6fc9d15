"""Shared fixtures: a real PostgreSQL (DATABASE_URL or embedded), the postal emulator, and
Temporal test servers from the wheels (nothing is downloaded)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from infra import db
from infra.settings import Settings
from worker import build_worker
from workflows import search_attributes as sa

pytest_plugins = ["tests.postal_fixtures"]

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A fresh database for this run, on DATABASE_URL's server or on an embedded one."""
    embedded = tmp_path_factory.mktemp("pg")
    server = os.environ.get("DATABASE_URL") or db.start_embedded(embedded)
    name = f"appraisal_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = db.with_database(server, name)
    await db.migrate(dsn)
    yield dsn
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()
    db.stop_embedded(embedded)


@pytest.fixture(scope="session")
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(database_url)
    yield pool
    await pool.close()


async def register_search_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in sa.ALL
            },
        )
    )


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_worker(
    time_env: WorkflowEnvironment, db_pool: asyncpg.Pool, database_url: str, postal_url: str
) -> AsyncIterator[Settings]:
    """A worker with the real activities, on the time-skipping server."""
    config = Settings(database_url=database_url, postal_url=postal_url, task_queue="appraisal-ts")
    async with (
        httpx.AsyncClient(base_url=postal_url, timeout=20) as http,
        build_worker(time_env.client, db_pool, http, config),
    ):
        yield config
