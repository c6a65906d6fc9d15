"""Other systems' credentials: an id, scopes, and bearer tokens kept only as SHA-256.

A token is 256 random bits (`agw_…`), so it cannot be guessed and a plain SHA-256 is enough to
keep it safe at rest; a slow password hash (bcrypt, argon2) protects low-entropy passwords and
would cost every request its CPU time. The token is shown once, when it is made. A rotation
makes a new token and lets the old one live for a grace period (default 24 h: the other system
deploys the new one meanwhile); a revocation ends every token of the client at once, for good."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg
from pydantic import BaseModel

from activities.shipments import Executor

TOKEN_PREFIX = "agw_"
DEFAULT_GRACE = timedelta(hours=24)
CLIENT_ID = r"^[a-z0-9][a-z0-9-]{1,38}$"


class Scope(StrEnum):
    postal = "postal"  # postal tracking events (the courier; its webhooks are signed too)
    examinations = "examinations"  # a hospital's examination results
    re_appraisal = "re_appraisal"  # a party's re-appraisal request, as received
    ledger = "ledger"  # the hard-question ledger (hotline, window)


class GatewayClient(BaseModel):
    client_id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None = None
    tokens: int = 0  # tokens valid now (two during a rotation's grace period)


class ClientError(ValueError):
    """A request about clients that cannot be done (unknown, revoked, already there)."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def authenticate(db: Executor, token: str) -> GatewayClient | None:
    """The client a valid token belongs to; None for an unknown, expired or revoked token."""
    row = await db.fetchrow(
        """SELECT c.client_id, c.name, c.scopes, c.created_at, c.revoked_at
           FROM gateway_tokens t JOIN gateway_clients c USING (client_id)
           WHERE t.token_sha256 = $1 AND c.revoked_at IS NULL
             AND (t.expires_at IS NULL OR t.expires_at > now())""",
        digest(token),
    )
    return None if row is None else GatewayClient(**dict(row))


async def add(db: asyncpg.Connection, client_id: str, name: str, scopes: list[Scope]) -> str:
    """A new client; its token (shown once)."""
    token = new_token()
    async with db.transaction():
        inserted = await db.execute(
            """INSERT INTO gateway_clients (client_id, name, scopes) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING""",
            client_id,
            name,
            sorted({s.value for s in scopes}),
        )
        if inserted == "INSERT 0 0":
            raise ClientError(
                f"客户端 {client_id} 已存在 (client {client_id} exists: rotate its token)"
            )
        await db.execute(
            "INSERT INTO gateway_tokens (token_sha256, client_id) VALUES ($1, $2)",
            digest(token),
            client_id,
        )
    return token


async def rotate(db: asyncpg.Connection, client_id: str, grace: timedelta = DEFAULT_GRACE) -> str:
    """A new token; the ones before it stay valid for `grace` (zero: not at all)."""
    token = new_token()
    async with db.transaction():
        await _usable(db, client_id)
        await db.execute(
            """UPDATE gateway_tokens SET expires_at = now() + $2
               WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > now() + $2)""",
            client_id,
            grace,
        )
        await db.execute(
            "INSERT INTO gateway_tokens (token_sha256, client_id) VALUES ($1, $2)",
            digest(token),
            client_id,
        )
    return token


async def revoke(db: asyncpg.Connection, client_id: str) -> None:
    async with db.transaction():
        await _usable(db, client_id)
        await db.execute(
            "UPDATE gateway_clients SET revoked_at = now() WHERE client_id = $1", client_id
        )


async def listing(db: Executor) -> list[GatewayClient]:
    rows = await db.fetch(
        """SELECT c.client_id, c.name, c.scopes, c.created_at, c.revoked_at,
                  count(t.*) FILTER (WHERE c.revoked_at IS NULL
                                     AND (t.expires_at IS NULL OR t.expires_at > now())) AS tokens
           FROM gateway_clients c LEFT JOIN gateway_tokens t USING (client_id)
           GROUP BY c.client_id ORDER BY c.client_id"""
    )
    return [GatewayClient(**dict(row)) for row in rows]


async def _usable(db: asyncpg.Connection, client_id: str) -> None:
    revoked = await db.fetchrow(
        "SELECT revoked_at FROM gateway_clients WHERE client_id = $1 FOR UPDATE", client_id
    )
    if revoked is None:
        raise ClientError(f"没有客户端 {client_id} (no client {client_id})")
    if revoked["revoked_at"] is not None:
        raise ClientError(
            f"客户端 {client_id} 已吊销 (client {client_id} is revoked: add a new client)"
        )
