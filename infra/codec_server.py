"""The codec server: the Web UI and auditors' `temporal` CLI read encrypted cases through it.

Temporal's remote codec protocol: `POST …/encode` and `POST …/decode` take and answer the
proto JSON of `Payloads` (`{"payloads": [{"metadata": {k: base64}, "data": base64}]}`); the
UI sends `X-Namespace` (allowed by CORS; one namespace, one key set, so it is not used).

Who may call it: a caller with `Authorization: Bearer <CODEC_SERVER_TOKEN>` (the CLI's
`--codec-auth`, an authenticating proxy), or a URL whose first segment is that token
(`http://host:8234/<token>`, then `/decode`): the UI without its own login (the dev server's,
the compose file's) cannot add a header, but the protocol lets the endpoint sit under any path.
Browsers may call it only from CODEC_SERVER_ORIGINS (CORS, preflight included). Nothing is
logged of a request: its path holds the token, its body personal data."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from infra.codec import EncryptionCodec, PayloadKeyError, load_keys
from infra.settings import Settings

Convert = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def create_app(config: Settings) -> FastAPI:
    token = config.codec_server_token
    if not token:
        raise PayloadKeyError("CODEC_SERVER_TOKEN is not set: the codec server answers no one")
    codec = EncryptionCodec(load_keys(config.payload_keys, config.payload_keys_path))

    def same(given: str) -> bool:
        return secrets.compare_digest(given.encode(), token.encode())

    def bearer(authorization: Annotated[str, Header()] = "") -> None:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not same(given.strip()):
            raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})

    def in_path(credential: str) -> None:
        if not same(credential):
            raise HTTPException(401, "not a codec endpoint")

    app = FastAPI(
        title="劳动能力鉴定 codec server (payload encryption)",
        description=__doc__,
        version="1",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=config.codec_origins,
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        max_age=600,
    )

    async def answer(request: Request, convert: Convert) -> Response:
        payloads = Payloads()
        try:
            json_format.Parse(await request.body(), payloads)
        except json_format.ParseError as error:
            raise HTTPException(400, f"not the proto JSON of Payloads: {error}") from None
        try:
            converted = await convert(payloads.payloads)
        except PayloadKeyError as error:  # a key not configured here, or altered ciphertext
            raise HTTPException(422, str(error)) from None
        body = json_format.MessageToJson(Payloads(payloads=converted), indent=None)
        return Response(body, media_type="application/json")

    by_header = [Depends(bearer)]

    @app.post("/encode", dependencies=by_header, summary="Encrypt payloads (Bearer)")
    async def encode(request: Request) -> Response:
        return await answer(request, codec.encode)

    @app.post("/decode", dependencies=by_header, summary="Decrypt payloads (Bearer)")
    async def decode(request: Request) -> Response:
        return await answer(request, codec.decode)

    @app.post("/{credential}/encode", include_in_schema=False)
    async def encode_in_path(credential: str, request: Request) -> Response:
        in_path(credential)
        return await answer(request, codec.encode)

    @app.post("/{credential}/decode", include_in_schema=False)
    async def decode_in_path(credential: str, request: Request) -> Response:
        in_path(credential)
        return await answer(request, codec.decode)

    @app.get("/healthz", summary="Up, with its keys loaded")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
