"""What every route needs: the database pool, the way into cases, and who is asking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.cases import Cases
from gateway.clients import GatewayClient, Scope, authenticate
from gateway.errors import ApiError
from infra.settings import Settings

bearer = HTTPBearer(auto_error=False, description="the client's token (agw_…)")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass
class Gateway:
    config: Settings
    pool: asyncpg.Pool
    cases: Cases


def gateway(request: Request) -> Gateway:
    found: Gateway = request.app.state.gateway
    return found


Door = Annotated[Gateway, Depends(gateway)]


async def client_of(
    door: Gateway, credentials: HTTPAuthorizationCredentials | None
) -> GatewayClient:
    if credentials is None:
        raise ApiError(
            401,
            "unauthenticated",
            "缺少访问令牌 (missing credentials: send Authorization: Bearer <token>)",
            {"WWW-Authenticate": "Bearer"},
        )
    found = await authenticate(door.pool, credentials.credentials)
    if found is None:
        raise ApiError(
            401,
            "unauthenticated",
            "访问令牌无效、已过期或已吊销 (the token is unknown, expired or revoked)",
            {"WWW-Authenticate": "Bearer"},
        )
    return found


def allowed(client: GatewayClient, scope: Scope) -> GatewayClient:
    if scope not in client.scopes:
        raise ApiError(
            403,
            "forbidden",
            f"客户端 {client.client_id} 无权办理此事项 (client {client.client_id} lacks the "
            f"scope {scope.value})",
        )
    return client


def scoped(
    scope: Scope,
) -> Callable[[Gateway, HTTPAuthorizationCredentials | None], Awaitable[GatewayClient]]:
    """A dependency: the authenticated client, when it holds `scope` (else 401 or 403)."""

    async def dependency(door: Door, credentials: Bearer) -> GatewayClient:
        return allowed(await client_of(door, credentials), scope)

    return dependency
