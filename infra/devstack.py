"""`make run`: the whole local stack with embedded defaults.

Temporal dev server (Web UI on :8233, SQLite under .data/, search attributes registered),
PostgreSQL (DATABASE_URL or embedded under .data/postgres), migrations, the postal emulator,
the worker. Each part is waited for until healthy; Ctrl-C stops them in reverse order and the
data stays for the next run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from temporalio.client import Client

from infra import db
from infra.process import run_and_exit
from infra.settings import ROOT, settings
from workflows import search_attributes as sa

BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "examples" / "initial_complete.json"


def require_free(port: int, what: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(
                f"port {port} ({what}) is already in use: stop whatever listens there "
                f"(`ss -ltnp 'sport = :{port}'` shows it) or a previous `make run`, then retry"
            )


async def spawn(*command: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    # A session of its own: Ctrl-C reaches only this supervisor, which stops children in order.
    return await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env={**os.environ, **(env or {})}, start_new_session=True
    )


async def until(check_name: str, probe: object, timeout: float = 60) -> None:
    async def attempt() -> None:
        while True:
            try:
                if await probe():  # type: ignore[operator]
                    return
            except Exception:
                pass
            await asyncio.sleep(0.3)

    try:
        await asyncio.wait_for(attempt(), timeout)
    except TimeoutError:
        raise SystemExit(f"{check_name} did not become healthy within {timeout:.0f}s") from None
    print(f"  ✓ {check_name}")


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in reversed(processes):
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()


async def main() -> None:
    config = settings()
    # Ports come from the same settings the worker and CLI read, so they always agree.
    temporal_port = int(config.temporal_address.rsplit(":", 1)[1])
    postal_port = urlsplit(config.postal_url).port or 80
    ui_port = config.temporal_ui_port
    for port, what in (
        (temporal_port, "Temporal"),
        (ui_port, "Temporal Web UI"),
        (postal_port, "postal emulator"),
    ):
        require_free(port, what)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    address, postal_url = f"127.0.0.1:{temporal_port}", f"http://127.0.0.1:{postal_port}"
    processes: list[asyncio.subprocess.Process] = []
    print("starting the appraisal stack (data in .data/) ...")
    try:
        processes.append(
            await spawn(
                str(BIN / "temporal"),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(temporal_port),
                "--ui-port",
                str(ui_port),
                "--log-level",
                "warn",
                "--db-filename",
                str(config.data_dir / "temporal.db"),
                *sa.cli_flags(),
            )
        )
        await until("Temporal server", lambda: Client.connect(address))
        embedded = config.data_dir / "postgres"
        dsn = config.database_url or db.start_embedded(embedded)
        applied = await db.migrate(dsn)
        print(
            f"  ✓ PostgreSQL ({'DATABASE_URL' if config.database_url else 'embedded'}),"
            f" migrations applied: {', '.join(applied) or 'none pending'}"
        )
        processes.append(
            await spawn(
                sys.executable,
                "-m",
                "postal_emulator",
                "--port",
                str(postal_port),
                "--state-file",
                str(config.data_dir / "postal-state.json"),
            )
        )
        async with httpx.AsyncClient() as http:
            await until("postal emulator", lambda: _ok(http, f"{postal_url}/healthz"))
        env = {"TEMPORAL_ADDRESS": address, "DATABASE_URL": dsn, "POSTAL_URL": postal_url}
        processes.append(await spawn(sys.executable, "worker.py", env=env))
        client = await Client.connect(address)
        await until(
            "worker polling task queue 'appraisal'", lambda: _polled(client, config.task_queue)
        )
        print(ready_banner(dsn, address, ui_port, postal_url), flush=True)
        await wait_for_stop(processes)
    finally:
        print("\nstopping ...")
        await stop(processes)
        db.stop_embedded(config.data_dir / "postgres")
        print("stopped; data kept in .data/ for the next run")


async def _ok(http: httpx.AsyncClient, url: str) -> bool:
    return (await http.get(url)).status_code == 200


async def _polled(client: Client, task_queue: str) -> bool:
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue))
    )
    return bool(answer.pollers)


async def wait_for_stop(processes: list[asyncio.subprocess.Process]) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    exits = [asyncio.create_task(p.wait()) for p in processes]
    await asyncio.wait(
        [asyncio.create_task(stopped.wait()), *exits], return_when=asyncio.FIRST_COMPLETED
    )
    if not stopped.is_set():
        print("a part of the stack exited on its own; stopping the rest", file=sys.stderr)


def ready_banner(dsn: str, address: str, ui_port: int, postal_url: str) -> str:
    example = json.dumps(json.loads(EXAMPLE.read_text(encoding="utf-8")), ensure_ascii=False)
    return f"""
ready.
  Temporal Web UI   http://127.0.0.1:{ui_port}
  Temporal server   {address}  (namespace default, task queue appraisal)
  postal emulator   {postal_url}
  PostgreSQL        {dsn}

Start a case in the UI: Start Workflow, Workflow Type "AppraisalCase", Task Queue "appraisal",
a Workflow ID such as JN-2026-000001, and this input (JSON):
{example}

or from another terminal:  .venv/bin/appraisal start examples/initial_complete.json
Ctrl-C stops everything."""


if __name__ == "__main__":
    run_and_exit(lambda: asyncio.run(main()))
