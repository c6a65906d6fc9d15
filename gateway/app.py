"""The gateway as an ASGI app: PostgreSQL at start (every answer needs it), Temporal on first
use (so it can say 503 while Temporal is down). OpenAPI at /docs and /openapi.json."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from gateway import case_events, errors, ledger, postal
from gateway.cases import Cases
from gateway.deps import Door, Gateway
from infra import db
from infra.settings import Settings

DESCRIPTION = """The one door for systems that do not speak Temporal: the courier's signed
webhooks, hospitals' examination results, re-appraisal requests, the hard-question ledger.

Clients authenticate with `Authorization: Bearer <token>` (`appraisal gateway clients add`);
the courier signs each webhook (`X-Postal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">`, `X-Postal-Event-Id`). A 2xx means the case accepted the event; every refusal is
`{"error": code, "message": text}`; a 503 carries `Retry-After`: repeat with the same event id."""


def create_app(config: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dsn = db.resolve_dsn(config)
        await db.migrate(dsn)  # as a worker does: whichever starts first, under one lock
        pool = await db.create_pool(dsn)
        app.state.gateway = Gateway(config, pool, Cases(config))
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="劳动能力鉴定 gateway (work-ability appraisal)",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(errors.BodyLimit, limit=config.gateway_max_body_bytes)
    for module in (postal, case_events, ledger):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"], summary="Up, and PostgreSQL answers")
    async def healthz(door: Door) -> dict[str, str]:
        await door.pool.fetchval("SELECT 1")
        return {"status": "ok"}

    return app
