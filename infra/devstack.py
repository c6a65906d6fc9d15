"""`make run`: the whole local stack with embedded defaults.

Temporal dev server (Web UI on :8233, SQLite in DATA_DIR, search attributes registered),
PostgreSQL (DATABASE_URL or embedded in DATA_DIR/postgres), migrations, the postal emulator,
the HTTP gateway (the emulator's webhooks go to it, signed with a secret both share), the
codec server (the UI decodes the encrypted payloads through it), the worker. Each part is
waited for until healthy and writes to its own file in DATA_DIR/logs, so the terminal keeps
the banner; Ctrl-C stops them in reverse order and the data stays for the next run."""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from temporalio.client import Client

from infra import db, seal
from infra.codec import new_key_line
from infra.process import run_and_exit
from infra.settings import ROOT, Settings, settings
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


@dataclass
class Part:
    name: str
    process: asyncio.subprocess.Process
    log: Path


async def spawn(name: str, log: Path, *command: str, env: dict[str, str] | None = None) -> Part:
    """Start a part with its output (stdout and stderr) in `log`, fresh each run."""
    with log.open("wb") as output:  # the child keeps its own descriptor
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            # A session of its own: Ctrl-C reaches only this supervisor, which stops children
            # in order.
            start_new_session=True,
        )
    return Part(name, process, log)


async def until(
    check_name: str, probe: Callable[[], Awaitable[object]], log: Path, timeout: float = 60
) -> None:
    async def attempt() -> None:
        while True:
            try:
                if await probe():
                    return
            except Exception:
                pass
            await asyncio.sleep(0.3)

    try:
        await asyncio.wait_for(attempt(), timeout)
    except TimeoutError:
        raise SystemExit(
            f"{check_name} did not become healthy within {timeout:.0f}s; see {log}"
        ) from None
    print(f"  ✓ {check_name}")


async def stop(parts: list[Part]) -> None:
    for process in reversed([part.process for part in parts]):
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()


async def main() -> None:
    if isinstance(sys.stdout, io.TextIOWrapper):  # each ✓ shows at once, also through a pipe
        sys.stdout.reconfigure(line_buffering=True)
    config = settings()
    # Ports come from the same settings the worker and CLI read, so they always agree.
    temporal_port = int(config.temporal_address.rsplit(":", 1)[1])
    postal_port = urlsplit(config.postal_url).port or 80
    ui_port = config.temporal_ui_port
    gateway_port, codec_port = config.gateway_port, config.codec_server_port
    for port, what in (
        (temporal_port, "Temporal"),
        (ui_port, "Temporal Web UI"),
        (postal_port, "postal emulator"),
        (gateway_port, "HTTP gateway"),
        (codec_port, "codec server"),
    ):
        require_free(port, what)
    data, logs = config.data_dir.resolve(), config.data_dir.resolve() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    address, postal_url = f"127.0.0.1:{temporal_port}", f"http://127.0.0.1:{postal_port}"
    parts: list[Part] = []
    print(f"starting the appraisal stack (data in {data}, logs in {logs}) ...")
    # Every part encrypts and decrypts with the same keys: PAYLOAD_KEYS if set, else a file
    # made once in DATA_DIR (owner-only, never in the repository).
    keys = {} if config.payload_keys else {"PAYLOAD_KEYS_FILE": str(payload_keys(config))}
    codec_token = config.codec_server_token or kept_secret(data / "codec-server-token")
    codec_url = f"http://127.0.0.1:{codec_port}"
    try:
        parts.append(
            await spawn(
                "codec server",
                logs / "codec.log",
                str(BIN / "appraisal"),
                "codec-server",
                "--port",
                str(codec_port),
                env={**keys, "CODEC_SERVER_TOKEN": codec_token},
            )
        )
        async with httpx.AsyncClient() as http:
            await until("codec server", lambda: _ok(http, f"{codec_url}/healthz"), parts[-1].log)
        parts.append(
            await spawn(
                "Temporal server",
                logs / "temporal.log",
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
                str(data / "temporal.db"),
                # The UI cannot send a header without a login of its own: the token is the
                # endpoint's first path segment (loopback only; see infra/codec_server.py).
                "--ui-codec-endpoint",
                f"{codec_url}/{codec_token}",
                *sa.cli_flags(),
            )
        )
        await until("Temporal server", lambda: Client.connect(address), parts[-1].log)
        dsn = config.database_url or start_embedded_postgres(data / "postgres", logs)
        applied = await db.migrate(dsn)
        print(
            f"  ✓ PostgreSQL ({'DATABASE_URL' if config.database_url else 'embedded'}),"
            f" migrations applied: {', '.join(applied) or 'none pending'}"
        )
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        shared = {
            **keys,
            "TEMPORAL_ADDRESS": address,
            "DATABASE_URL": dsn,
            "POSTAL_WEBHOOK_SECRET": config.postal_webhook_secret
            or kept_secret(data / "postal-webhook-secret"),
        }
        parts.append(
            await spawn(
                "HTTP gateway",
                logs / "gateway.log",
                str(BIN / "appraisal"),
                "gateway",
                "--port",
                str(gateway_port),
                env=shared,
            )
        )
        async with httpx.AsyncClient() as http:
            await until("HTTP gateway", lambda: _ok(http, f"{gateway_url}/healthz"), parts[-1].log)
        parts.append(
            await spawn(
                "postal emulator",
                logs / "postal.log",
                sys.executable,
                "-m",
                "postal_emulator",
                "--port",
                str(postal_port),
                "--state-file",
                str(data / "postal-state.json"),
                "--webhook-url",
                f"{gateway_url}/v1/postal/webhooks",
                env=shared,  # the secret, from the environment rather than the command line
            )
        )
        async with httpx.AsyncClient() as http:
            await until(
                "postal emulator", lambda: _ok(http, f"{postal_url}/healthz"), parts[-1].log
            )
        env = {**keys, "TEMPORAL_ADDRESS": address, "DATABASE_URL": dsn, "POSTAL_URL": postal_url}
        key_id = archive_signing_key(data)
        if key_id:
            print(f"  ✓ archive signing key {key_id} (dev only: {data / seal.DEV_KEY_FILE})")
        parts.append(
            await spawn("worker", logs / "worker.log", sys.executable, "worker.py", env=env)
        )
        client = await Client.connect(address)
        await until(
            f"worker polling task queue '{config.task_queue}'",
            lambda: _polled(client, config.task_queue),
            parts[-1].log,
        )
        print(
            ready_banner(
                dsn,
                address,
                ui_port,
                postal_url,
                data,
                sorted(logs.iterdir()),
                gateway_url,
                codec_url,
            )
        )
        await wait_for_stop(parts)
    finally:
        print("\nstopping ...")
        await stop(parts)
        db.stop_embedded(data / "postgres")
        print(f"stopped; data kept in {data} for the next run", flush=True)


def kept_secret(path: Path) -> str:
    """A secret made once and kept in DATA_DIR (owner-only), so it holds after a restart: the
    one the emulator signs webhooks with and the gateway checks them by, the codec server's
    token."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def archive_signing_key(data: Path) -> str | None:
    """The key the worker signs archive seals with, unless one is configured: made once, kept
    in DATA_DIR (owner-only, never in the repository), where the worker and the CLI find it.
    Its key id, for the terminal."""
    config = settings()
    if config.archive_signing_key is not None or config.archive_signing_key_file is not None:
        return None
    path = data / seal.DEV_KEY_FILE
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(seal.new_key_text(f"dev-{secrets.token_hex(4)}") + "\n", encoding="utf-8")
    return seal.parse_signing_key(path.read_text(encoding="utf-8"), str(path)).key_id


def payload_keys(config: Settings) -> Path:
    """The keys file (PAYLOAD_KEYS_FILE, default DATA_DIR/payload-keys), made with one fresh
    key when missing; dev data only: production reads its keys from a secret."""
    path = config.payload_keys_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(
            "# payload keys of this dev stack: the first encrypts, any decrypts\n"
            + new_key_line("dev-1")
            + "\n",
            encoding="utf-8",
        )
    return path.resolve()


def start_embedded_postgres(pgdata: Path, logs: Path) -> str:
    """The embedded server logs to pgdata/log (the library's choice): linked from logs/."""
    dsn = db.start_embedded(pgdata)
    link = logs / "postgres.log"
    link.unlink(missing_ok=True)
    link.symlink_to(pgdata / "log")
    return dsn


async def _ok(http: httpx.AsyncClient, url: str) -> bool:
    return (await http.get(url)).status_code == 200


async def _polled(client: Client, task_queue: str) -> bool:
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue))
    )
    return bool(answer.pollers)


async def wait_for_stop(parts: list[Part]) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    exits = [asyncio.create_task(part.process.wait()) for part in parts]
    await asyncio.wait(
        [asyncio.create_task(stopped.wait()), *exits], return_when=asyncio.FIRST_COMPLETED
    )
    for part in parts:
        if part.process.returncode is not None and not stopped.is_set():
            print(
                f"the {part.name} exited on its own (code {part.process.returncode}), see "
                f"{part.log}; stopping the rest",
                file=sys.stderr,
            )


def ready_banner(
    dsn: str,
    address: str,
    ui_port: int,
    postal_url: str,
    data: Path,
    logs: list[Path],
    gateway_url: str,
    codec_url: str,
) -> str:
    example = json.dumps(json.loads(EXAMPLE.read_text(encoding="utf-8")), ensure_ascii=False)
    config = settings()
    log_lines = "\n".join(f"  log               {log}" for log in logs)
    return f"""
ready.
  Temporal Web UI   http://127.0.0.1:{ui_port}
  Temporal server   {address}  (namespace {config.temporal_namespace}, task queue {config.task_queue})
  postal emulator   {postal_url}  (webhooks to the gateway)
  HTTP gateway      {gateway_url}  (OpenAPI: {gateway_url}/docs)
  codec server      {codec_url}  (the UI decodes through it; token: CODEC_SERVER_TOKEN, else {data / "codec-server-token"})
  PostgreSQL        {masked(dsn)}
  data              {data}
{log_lines}

Start a case in the UI: Start Workflow, Workflow Type "AppraisalCase", Task Queue "{config.task_queue}",
a Workflow ID from `.venv/bin/appraisal number` (e.g. JN-2026-000001), and this input (JSON):
{example}

or from another terminal:  .venv/bin/appraisal start examples/initial_complete.json
Ctrl-C stops everything."""


def masked(dsn: str) -> str:
    """DATABASE_URL without its password, for the terminal."""
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


if __name__ == "__main__":
    run_and_exit(lambda: asyncio.run(main()))
