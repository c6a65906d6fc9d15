"""Shared fixtures: a real PostgreSQL (DATABASE_URL or embedded), the postal emulator, and
Temporal test servers from the wheels (nothing is downloaded)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import libfaketime
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import Dispatcher
from infra import db, seal
from infra.settings import ROOT, Settings
from infra.temporal import data_converter
from schemas.clock import CHINA_TZ
from worker import run_workers
from workflows import search_attributes as sa

pytest_plugins = ["tests.postal_fixtures", "tests.gateway_fixtures"]

BIN = Path(sys.executable).parent
TASK_QUEUE = "appraisal-test"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The suite's payload keys, test-only (no deployment uses them), and fixed: a history a test
# records (RECORD_HISTORY=1) stays readable by the replay test. Through the environment, as a
# deployment gives them: every Settings, worker, CLI, gateway and codec server of the tests.
TEST_PAYLOAD_KEYS = "test-1:WBEdaMppN1/QrB2XwCZNeV3RvdqImwqEWatezAvijf8="


def pytest_configure(config: pytest.Config) -> None:
    os.environ["PAYLOAD_KEYS"] = TEST_PAYLOAD_KEYS


@pytest.fixture(scope="session", autouse=True)
def archive_signing_key() -> Iterator[seal.SigningKey]:
    """One fresh key signs the archive seals of a test run, in the environment every worker
    and command of the run inherits (never a file of the repository)."""
    text = seal.new_key_text("test-run")
    saved = os.environ.get("ARCHIVE_SIGNING_KEY")
    os.environ["ARCHIVE_SIGNING_KEY"] = text
    yield seal.parse_signing_key(text, "test")
    if saved is None:
        os.environ.pop("ARCHIVE_SIGNING_KEY", None)
    else:
        os.environ["ARCHIVE_SIGNING_KEY"] = saved


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database for this run, on DATABASE_URL's server or on an embedded one."""
    # Not under pytest's tmp folders: pytest prunes old ones while another run may use them.
    embedded = Path(tempfile.mkdtemp(prefix="appraisal-test-pg-"))
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
    shutil.rmtree(embedded, ignore_errors=True)


@pytest.fixture(scope="session")
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(database_url)
    yield pool
    await pool.close()


@asynccontextmanager
async def database_of_its_own(database_url: str, label: str) -> AsyncIterator[str]:
    """A fresh, migrated database beside the suite's (dropped afterwards): its DSN."""
    name = f"appraisal_{label}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = db.with_database(database_url, name)
    try:
        await db.migrate(dsn)
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def lone_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own: for tests that count rows across the database, or follow
    messages no other dispatcher (the integration stack's worker runs one on the suite's
    database) may take."""
    async with database_of_its_own(database_url, "lone") as dsn:
        pool = await db.create_pool(dsn)
        try:
            yield pool
        finally:
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


async def start_time_skipping_at(start: datetime) -> WorkflowEnvironment:
    """The time-skipping server with its clock starting at `start`.

    Legal clocks depend on the calendar (holidays, adjusted weekends), so workflow tests run
    on fixed dates: libfaketime (LD_PRELOAD) sets the server's clock; nothing else sees it."""
    _, faketime_env = libfaketime.get_reload_information()
    library = Path(faketime_env["LD_LIBRARY_PATH"]) / faketime_env["LD_PRELOAD"]
    server_env = {
        **faketime_env,
        "LD_PRELOAD": str(library),
        "FAKETIME": start.astimezone(UTC).strftime("@%Y-%m-%d %H:%M:%S"),
        "TZ": "UTC",
    }
    saved = dict(os.environ)
    os.environ.update(server_env)  # the SDK starts the server with this process's environment
    try:
        return await WorkflowEnvironment.start_time_skipping(
            data_converter=data_converter(),
            test_server_existing_path=str(BIN / "temporal-test-server"),
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)


CaseEnv = Callable[..., AbstractAsyncContextManager[WorkflowEnvironment]]


@pytest.fixture(scope="session")
def roomy_sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The regular sessions with room for every test case: the tests of a run share one
    database, so on the default 30 seats a case's appointment day would depend on how many
    other tests booked that day before it."""
    text = (ROOT / "config" / "sessions.toml").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("sessions") / "sessions.toml"
    path.write_text(re.sub(r"(?m)^capacity = \d+", "capacity = 10000", text), encoding="utf-8")
    return path


@asynccontextmanager
async def time_skipping(start: datetime) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server (clock at `start`) with the case's search attributes."""
    env = await start_time_skipping_at(start)
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def case_worker(
    env: WorkflowEnvironment, db_pool: asyncpg.Pool, config: Settings
) -> AsyncIterator[None]:
    """The worker with the real activities, its courier at `config.postal_url`, and the
    outbox's dispatcher beside it, as `python worker.py` runs them."""
    stop = asyncio.Event()
    async with (
        httpx.AsyncClient(base_url=config.postal_url, timeout=20) as http,
        run_workers(env.client, db_pool, http, config),
    ):
        dispatching = asyncio.create_task(Dispatcher(db_pool).run(stop))
        try:
            yield
        finally:
            stop.set()
            await dispatching


@pytest.fixture
def case_env(
    db_pool: asyncpg.Pool, database_url: str, postal_url: str, roomy_sessions: Path
) -> CaseEnv:
    """`async with case_env(start) as env`: a time-skipping server whose clock starts at
    `start` (China time) and a worker with the real activities (PostgreSQL, postal emulator;
    `postal_url=` points it at another emulator)."""

    @asynccontextmanager
    async def running(
        start: datetime = datetime(2026, 11, 2, 9, 0, tzinfo=CHINA_TZ), **settings: Any
    ) -> AsyncIterator[WorkflowEnvironment]:
        config = Settings(
            **{
                "database_url": database_url,
                "postal_url": postal_url,
                "task_queue": TASK_QUEUE,
                "sessions_file": roomy_sessions,
                **settings,
            }
        )
        async with time_skipping(start) as env, case_worker(env, db_pool, config):
            yield env

    return running
