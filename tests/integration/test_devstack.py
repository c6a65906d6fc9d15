"""`make run` (python -m infra.devstack): every part healthy, each writing to its own log file
(the terminal keeps the banner), a clear refusal of a busy port, a clean stop on Ctrl-C, and the
data kept for the next run."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from infra.devstack import masked, require_free

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_busy_port_is_refused_with_a_clear_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as refused:
            require_free(port, "Temporal Web UI")
    assert f"port {port} (Temporal Web UI) is already in use" in str(refused.value)


def test_the_banner_hides_the_database_password() -> None:
    assert (
        masked("postgresql://app:s3cret@db:5432/appraisal")
        == "postgresql://app:***@db:5432/appraisal"
    )
    assert (
        masked("postgresql://postgres:@/postgres?host=/x")
        == "postgresql://postgres:@/postgres?host=/x"
    )


async def start_stack(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra.devstack",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or lines[-1] != "ready.":
        raw = await asyncio.wait_for(process.stdout.readline(), 120)
        assert raw, f"make run ended before it was ready: {lines}"
        lines.append(raw.decode().rstrip())
    return process, lines


async def stop_stack(process: asyncio.subprocess.Process) -> str:
    process.send_signal(signal.SIGINT)
    assert process.stdout is not None
    rest = await asyncio.wait_for(process.stdout.read(), 60)
    assert await process.wait() == 0
    return rest.decode()


async def test_make_run_starts_everything_and_keeps_data(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("temporal", "ui", "postal")}
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "TEMPORAL_UI_PORT": str(ports["ui"]),
        "POSTAL_URL": f"http://127.0.0.1:{ports['postal']}",
    }
    env.pop("DATABASE_URL", None)  # the embedded path, as on a fresh machine
    data = tmp_path.resolve() / "data"  # as the banner prints it
    logs = data / "logs"
    process, lines = await start_stack(env)
    for part in ("Temporal server", "PostgreSQL (embedded)", "postal emulator", "worker polling"):
        assert any(part in line for line in lines), (part, lines)
    # Only the supervisor's own lines reach the terminal; each part writes to its file.
    assert lines[0] == f"starting the appraisal stack (data in {data}, logs in {logs}) ..."
    assert all(line.startswith("  ✓ ") for line in lines[1:-2]), lines
    worker_log = logs / "worker.log"
    assert "worker started" in worker_log.read_text(encoding="utf-8")
    assert "Temporal Server:" in (logs / "temporal.log").read_text(encoding="utf-8")
    assert "postgres.log" in {p.name for p in logs.iterdir()}
    assert (logs / "postgres.log").resolve() == data / "postgres" / "log"

    cli = await asyncio.create_subprocess_exec(
        str(BIN / "appraisal"),
        "start",
        str(ROOT / "examples" / "initial_complete.json"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, err.decode()
    case_id = out.decode().strip()
    rest = await stop_stack(process)
    assert f"http://127.0.0.1:{ports['ui']}" in rest
    assert f"data              {data}\n" in rest
    for name in ("postal.log", "postgres.log", "temporal.log", "worker.log"):
        assert f"log               {logs / name}\n" in rest, rest
    assert f"stopped; data kept in {data} for the next run" in rest

    process, lines = await start_stack(env)  # again: the case is still there
    assert any("none pending" in line for line in lines)
    status = await asyncio.create_subprocess_exec(
        str(BIN / "appraisal"),
        "status",
        case_id,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(status.communicate(), 60)
    await stop_stack(process)
    assert status.returncode == 0 and case_id in out.decode(), err.decode()
