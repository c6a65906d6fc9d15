"""The codec server over real HTTP (uvicorn on a free port): encode and decode in Temporal's
JSON format, the bearer token or the token in the endpoint's path, CORS preflight for the
Web UI's origin (with X-Namespace), and refusals."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from infra.codec import ENCODING, KEY_ID, new_key_line
from infra.codec_server import create_app
from infra.settings import Settings
from postal_emulator.server import serve

TOKEN = "codec-test-token-0123456789abcdef"
UI = "http://127.0.0.1:8233"
KEYS = f"{new_key_line('new')},{new_key_line('old')}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def payloads(*texts: str) -> dict[str, Any]:
    """What the UI sends for JSON it was given: `json/plain` payloads."""
    return {
        "payloads": [
            {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(json.dumps(t).encode())}
            for t in texts
        ]
    }


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Namespace": "default"}


@pytest_asyncio.fixture(loop_scope="session")
async def codec() -> AsyncIterator[httpx.AsyncClient]:
    config = Settings(payload_keys=KEYS, codec_server_token=TOKEN, temporal_ui_port=8233)
    async with serve(create_app(config)) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def test_encode_then_decode_round_trips(codec: httpx.AsyncClient) -> None:
    sent = payloads("张建军", "370811198503120438")
    encoded = await codec.post("/encode", json=sent, headers=auth())
    assert encoded.status_code == 200, encoded.text
    sealed = encoded.json()["payloads"]
    assert [base64.b64decode(p["metadata"]["encoding"]) for p in sealed] == [ENCODING] * 2
    assert {base64.b64decode(p["metadata"][KEY_ID]) for p in sealed} == {b"new"}
    assert "370811198503120438" not in encoded.text
    decoded = await codec.post("/decode", json=encoded.json(), headers=auth())
    assert decoded.status_code == 200 and decoded.json() == sent


async def test_plain_payloads_decode_as_they_are(codec: httpx.AsyncClient) -> None:
    sent = payloads("from an old client")
    assert (await codec.post("/decode", json=sent, headers=auth())).json() == sent


async def test_the_token_in_the_endpoint_path_is_the_ui_credential(
    codec: httpx.AsyncClient,
) -> None:
    encoded = await codec.post(f"/{TOKEN}/encode", json=payloads("x"))
    assert encoded.status_code == 200
    decoded = await codec.post(f"/{TOKEN}/decode", json=encoded.json())
    assert decoded.json() == payloads("x")
    assert (await codec.post("/not-the-token/decode", json=encoded.json())).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [{}, auth("wrong"), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong", "no-scheme", "basic"],
)
async def test_without_the_bearer_token_401(
    codec: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in ("/encode", "/decode"):
        refused = await codec.post(path, json=payloads("x"), headers={"Origin": UI, **headers})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        # The browser may read the refusal: the UI can say why.
        assert refused.headers["access-control-allow-origin"] == UI


@pytest.mark.parametrize("path", ["/decode", "/encode", f"/{TOKEN}/decode"])
async def test_preflight_from_the_ui_allows_its_headers(
    codec: httpx.AsyncClient, path: str
) -> None:
    preflight = await codec.options(
        path,
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == UI
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-namespace"} <= {
        h.strip() for h in allowed.split(",")
    }
    assert "POST" in preflight.headers["access-control-allow-methods"]


async def test_another_origin_is_not_allowed(codec: httpx.AsyncClient) -> None:
    preflight = await codec.options(
        "/decode",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-namespace",
        },
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


async def test_an_unknown_key_or_a_garbled_body_is_refused_with_the_reason(
    codec: httpx.AsyncClient,
) -> None:
    foreign = payloads("x")["payloads"][0]
    foreign["metadata"] = {"encoding": b64(ENCODING), KEY_ID: b64(b"2019-01")}
    answer = await codec.post("/decode", json={"payloads": [foreign]}, headers=auth())
    assert answer.status_code == 422 and "'2019-01'" in answer.json()["detail"]
    garbled = await codec.post("/decode", content=b"{not json", headers=auth())
    assert garbled.status_code == 400


def test_the_server_refuses_to_start_without_a_token_or_keys() -> None:
    with pytest.raises(ValueError, match="CODEC_SERVER_TOKEN"):
        create_app(Settings(payload_keys=KEYS, codec_server_token=None))
    with pytest.raises(ValueError, match="no payload keys"):
        create_app(Settings(payload_keys="", codec_server_token=TOKEN, data_dir="/nonexistent"))
