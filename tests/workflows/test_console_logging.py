"""The worker's readable console output (a terminal, or LOG_JSON=false) also renders what
workflow code logs from inside Temporal's sandbox, tracebacks included."""

from __future__ import annotations

import io
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from infra import logs
    from infra.settings import settings

BIN = Path(sys.executable).parent


@workflow.defn
class LogsAFailure:
    @workflow.run
    async def run(self) -> None:
        try:
            raise ValueError("the session is full")
        except ValueError:
            workflow.logger.exception("booking failed", extra={"case_id": "JN-LOG-1"})


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """logs.configure() as on a terminal, with stderr (where logging also reports its own
    errors) read back; the process's logging is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    written = io.StringIO()
    monkeypatch.setattr(sys, "stderr", written)
    monkeypatch.setenv("LOG_JSON", "false")
    settings.cache_clear()
    logs.configure()
    yield written
    root.handlers[:] = handlers
    root.setLevel(level)
    settings.cache_clear()


async def test_a_workflow_traceback_renders_on_the_console(stderr: io.StringIO) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server")
    )
    try:
        async with Worker(env.client, task_queue="console-logs", workflows=[LogsAFailure]):
            await env.client.execute_workflow(
                LogsAFailure.run, id=f"logs-{uuid.uuid4().hex[:8]}", task_queue="console-logs"
            )
    finally:
        await env.shutdown()
    err = re.sub(r"\x1b\[[0-9;]*m", "", stderr.getvalue())  # without the colours
    assert "--- Logging error ---" not in err
    assert "booking failed" in err and "JN-LOG-1" in err
    assert "ValueError: the session is full" in err
