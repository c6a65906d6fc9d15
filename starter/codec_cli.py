"""`appraisal codec-server`: decode encrypted cases for the Web UI and auditors;
`appraisal payload-key`: a new payload key, to put first in PAYLOAD_KEYS (rotation)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
import uvicorn

from infra import logs
from infra.codec import PayloadKeyError, new_key_line
from infra.settings import settings
from schemas.clock import CHINA_TZ
from starter.app import app, fail, refuse


@app.command("codec-server")
def codec_server(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="default: CODEC_SERVER_PORT (8234)")] = None,
) -> None:
    """Serve POST /encode and /decode for the Web UI and `temporal … --codec-endpoint`."""
    from infra.codec_server import create_app  # FastAPI only when serving

    logs.configure()
    config = settings()
    try:
        codec_app = create_app(config)
    except PayloadKeyError as error:
        fail(str(error))
    # No access log: a UI's endpoint path holds the token.
    uvicorn.run(
        codec_app,
        host=host,
        port=port or config.codec_server_port,
        log_config=None,
        access_log=False,
    )


@app.command("payload-key")
def payload_key(
    key_id: Annotated[
        str | None, typer.Option("--id", help="key id (default: today, e.g. 2026-11-02)")
    ] = None,
) -> None:
    """Print a new AES-256 payload key as `id:base64`: put it first in PAYLOAD_KEYS (or the
    keys file) on every worker, CLI, gateway and codec server, and keep the old ones."""
    try:
        typer.echo(new_key_line(key_id or datetime.now(CHINA_TZ).date().isoformat()))
    except PayloadKeyError as error:
        refuse(str(error))
