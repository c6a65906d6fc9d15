"""A stack a test may break: a file-backed Temporal dev server it can kill and start again on
the same database file, an embedded PostgreSQL of its own it can stop (never the shared one),
and `python worker.py` processes it can SIGKILL and restart. Each part as `make run` starts
it (infra/devstack.py), on free ports and in a temporary folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from infra import db
from infra.temporal import data_converter
from tests.integration.conftest import BIN, ROOT, free_port
from workflows import search_attributes as sa


class DevServer:
    """`temporal server start-dev` on a SQLite file: what it stored survives a kill."""

    def __init__(self, folder: Path) -> None:
        self.db_file = folder / "temporal.db"
        self.log = folder / "temporal.log"
        self.address = f"127.0.0.1:{free_port()}"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        port = self.address.rsplit(":", 1)[1]
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                str(BIN / "temporal"),
                *("server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", port),
                *("--db-filename", str(self.db_file), "--log-level", "error"),
                *sa.cli_flags(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.starts += 1
        await self.client(timeout=60)

    async def client(self, timeout: float = 60) -> Client:
        """A client once the server answers (polled: it takes a few seconds to come up)."""

        async def attempt() -> Client:
            while True:
                assert self.process is not None and self.process.returncode is None, self.log
                try:
                    client = await Client.connect(self.address, data_converter=data_converter())
                    await client.count_workflows()  # the namespace and visibility are up
                    return client
                except (RuntimeError, RPCError):
                    await asyncio.sleep(0.2)

        return await asyncio.wait_for(attempt(), timeout)

    async def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


class Worker:
    """`python worker.py` with the given environment; its JSON log lines are kept."""

    def __init__(self, env: dict[str, str], log_file: Path) -> None:
        self.env = env
        self.log_file = log_file  # every start's output, for a failure's post-mortem
        self.process: asyncio.subprocess.Process | None = None
        self.log: list[dict[str, object]] = []
        self.starts = 0
        self._reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 60) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "worker.py",
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.starts += 1
        ready = asyncio.Event()
        assert self.process.stderr is not None
        self._reader = asyncio.create_task(self._collect(self.process.stderr, ready))
        exited = asyncio.create_task(self.process.wait())
        await asyncio.wait(
            {asyncio.create_task(ready.wait()), exited},
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not ready.is_set():
            await self.kill()
            raise AssertionError(f"worker.py did not start: {self.log[-10:]}")

    async def _collect(self, stream: asyncio.StreamReader, ready: asyncio.Event) -> None:
        async for raw in stream:
            with self.log_file.open("ab") as kept:
                kept.write(raw)
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                line = {"event": raw.decode(errors="replace").rstrip(), "unstructured": True}
            self.log.append(line)
            if line.get("event") == "worker started":
                ready.set()

    async def kill(self) -> None:
        """SIGKILL: whatever it had in hand is lost (activities, workflow tasks)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        if self._reader is not None:
            await self._reader

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 30)
        if self._reader is not None:
            await self._reader


class Postgres:
    """An embedded PostgreSQL of the test's own under `folder`, which it may stop and start
    again at the same address."""

    def __init__(self, folder: Path) -> None:
        self.data = folder / "postgres"
        self.dsn = ""

    async def start(self) -> str:
        self.dsn = await asyncio.to_thread(db.start_embedded, self.data)
        return self.dsn

    async def pause(self) -> None:
        await asyncio.to_thread(db.pause_embedded, self.data)

    async def resume(self) -> None:
        assert await asyncio.to_thread(db.resume_embedded, self.data) == self.dsn

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by a failed run
            db.stop_embedded(self.data)
