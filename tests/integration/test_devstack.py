"""`make run` (python -m infra.devstack): every part healthy, each writing to its own log file
(the terminal keeps the banner), a clear refusal of a busy port, a clean stop on Ctrl-C, and the
data kept for the next run."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.devstack import masked, require_free
from tests.integration.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


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
    assert await process.wait() == 0, rest.decode()
    return rest.decode()


@pytest.fixture
def data_home() -> Iterator[Path]:
    """Not under pytest's tmp folders: another pytest session on this machine makes their root
    owner-only again, and the embedded server's own user then cannot stop its server."""
    home = Path(tempfile.mkdtemp(prefix="appraisal-devstack-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


async def the_ui_reads_the_case_through_the_codec_server(
    env: dict[str, str], data: Path, ports: dict[str, int], case_id: str
) -> None:
    """The keys and the codec server's token are made once, owner-only, in DATA_DIR; the
    case the CLI started is stored encrypted; the dev UI is pointed at the codec server,
    which answers its preflight and decodes for it."""
    for secret in ("payload-keys", "codec-server-token"):
        assert (data / secret).stat().st_mode & 0o077 == 0, secret
    name = json.loads((ROOT / "examples" / "initial_complete.json").read_text())["worker"]["name"]
    show = await asyncio.create_subprocess_exec(
        str(BIN / "temporal"),
        *("workflow", "show", "--workflow-id", case_id, "-o", "json"),
        *("--address", env["TEMPORAL_ADDRESS"]),
        stdout=asyncio.subprocess.PIPE,
    )
    stored, _ = await asyncio.wait_for(show.communicate(), 30)
    started = json.loads(stored)["events"][0]
    [sealed] = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    summary = started["userMetadata"]["summary"]  # the CLI's static summary
    for payload in (sealed, summary):
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
    ui = f"http://127.0.0.1:{ports['ui']}"
    async with httpx.AsyncClient() as http:
        endpoint = (await http.get(f"{ui}/api/v1/settings")).json()["Codec"]["Endpoint"]
        token = (data / "codec-server-token").read_text().strip()
        assert endpoint == f"http://127.0.0.1:{ports['codec']}/{token}"
        preflight = await http.options(
            f"{endpoint}/decode",
            headers={
                "Origin": ui,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == ui
        decoded = await http.post(
            f"{endpoint}/decode",
            json={"payloads": [sealed]},
            headers={"Origin": ui, "X-Namespace": "default"},
        )
        [plain] = decoded.json()["payloads"]
        assert json.loads(base64.b64decode(plain["data"]))["worker"]["name"] == name
        assert (await http.post(f"http://127.0.0.1:{ports['codec']}/decode")).status_code == 401


async def test_make_run_starts_everything_and_keeps_data(data_home: Path) -> None:
    ports = {name: free_port() for name in ("temporal", "ui", "postal", "gateway", "codec")}
    env = {
        **os.environ,
        "DATA_DIR": str(data_home / "data"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "TEMPORAL_UI_PORT": str(ports["ui"]),
        "POSTAL_URL": f"http://127.0.0.1:{ports['postal']}",
        "GATEWAY_PORT": str(ports["gateway"]),
        "CODEC_SERVER_PORT": str(ports["codec"]),
    }
    env.pop("DATABASE_URL", None)  # the embedded path, as on a fresh machine
    env.pop("POSTAL_WEBHOOK_SECRET", None)  # made once and kept in DATA_DIR
    env.pop("ARCHIVE_SIGNING_KEY", None)  # the same: the dev key that signs archive seals
    env.pop("PAYLOAD_KEYS", None)  # the keys file, made once in DATA_DIR
    env.pop("CODEC_SERVER_TOKEN", None)
    data = data_home.resolve() / "data"  # as the banner prints it
    logs = data / "logs"
    process, lines = await start_stack(env)
    parts = (
        "codec server",
        "Temporal server",
        "PostgreSQL (embedded)",
        "HTTP gateway",
        "postal emulator",
    )
    for part in (*parts, "worker polling"):
        assert any(part in line for line in lines), (part, lines)
    # Only the supervisor's own lines reach the terminal; each part writes to its file.
    assert lines[0] == f"starting the appraisal stack (data in {data}, logs in {logs}) ..."
    assert all(line.startswith("  ✓ ") for line in lines[1:-2]), lines
    worker_log = logs / "worker.log"
    assert "worker started" in worker_log.read_text(encoding="utf-8")
    # The dev signing key: made in DATA_DIR (owner-only), the worker signs with it.
    signing_key = data / "archive-signing-key"
    assert signing_key.stat().st_mode & 0o077 == 0
    key_id = signing_key.read_text(encoding="utf-8").split(":")[0]
    assert key_id.startswith("dev-")
    assert f"  ✓ archive signing key {key_id} (dev only: {signing_key})" in lines
    assert "archive seals signed" in worker_log.read_text(encoding="utf-8")
    assert signing_key.read_text(encoding="utf-8").split(":")[1].strip() not in (
        worker_log.read_text(encoding="utf-8") + "\n".join(lines)
    )
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

    # The gateway serves its OpenAPI; the emulator posts its webhooks to it, signed with the
    # secret kept in DATA_DIR (a letter for no case: the gateway refuses it, and logs so).
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    secret = data / "postal-webhook-secret"
    assert secret.stat().st_mode & 0o077 == 0 and len(secret.read_text()) == 64
    async with httpx.AsyncClient() as http:
        assert "/v1/postal/webhooks" in (await http.get(f"{gateway}/openapi.json")).json()["paths"]
        letter = {
            "reference": "JN-NO-SUCH-CASE",
            "recipient_name": "张三",
            "address": "山东省济宁市任城区红星中路1号",
            "postal_code": "272000",
            "document_ref": "letter",
        }
        created = await http.post(
            f"{env['POSTAL_URL']}/v1/shipments", json=letter, headers={"Idempotency-Key": "k1"}
        )
        assert created.status_code == 201, created.text
    gateway_log = logs / "gateway.log"

    async def webhook_arrived() -> None:
        while True:
            if "postal_webhook_refused" in gateway_log.read_text(encoding="utf-8"):
                return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(webhook_arrived(), 30)
    await the_ui_reads_the_case_through_the_codec_server(env, data, ports, case_id)
    rest = await stop_stack(process)
    assert f"HTTP gateway      {gateway}  (OpenAPI: {gateway}/docs)" in rest
    assert f"http://127.0.0.1:{ports['ui']}" in rest
    assert f"data              {data}\n" in rest
    assert f"codec server      http://127.0.0.1:{ports['codec']}" in rest
    for name in (
        "codec.log",
        "gateway.log",
        "postal.log",
        "postgres.log",
        "temporal.log",
        "worker.log",
    ):
        assert f"log               {logs / name}\n" in rest, rest
    assert f"stopped; data kept in {data} for the next run" in rest

    process, lines = await start_stack(env)  # again: the case is still there
    assert any("none pending" in line for line in lines)
    assert f"  ✓ archive signing key {key_id} (dev only: {signing_key})" in lines  # kept
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
