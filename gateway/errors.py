"""Every answer other than success is JSON `{"error": code, "message": text}`: the code for
programs, the text for people (Chinese, then English in parentheses). Input is never echoed
back (it may be personal data), and a body larger than the limit is refused unread."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.logs import get_logger

log = get_logger(__name__)
RETRY_AFTER = 30  # seconds, with every 503
KNOWN = {404: ("not_found", "没有这个地址"), 405: ("method_not_allowed", "不支持此请求方法")}


class ApiError(Exception):
    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = headers or {}


def unavailable(error: str, message: str) -> ApiError:
    return ApiError(503, error, message, {"Retry-After": str(RETRY_AFTER)})


def invalid(fields: list[dict[str, str]]) -> ApiError:
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return ApiError(
        422, "invalid_request", f"请求内容不符合要求 (the request is not valid): {message}"
    )


def field_problems(errors: list[Any]) -> list[dict[str, str]]:
    """pydantic's errors as field and reason, without the input."""
    return [
        {
            "field": "body"
            if err["type"] == "json_invalid"
            else ".".join(str(p) for p in err["loc"] if p != "body") or "body",
            "message": str(err["msg"]).removeprefix("Value error, "),
        }
        for err in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "message": exc.message}, exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return await api_error(_, invalid(field_problems(list(exc.errors()))))

    # PostgreSQL cannot be reached, is starting or stopping, or is full.
    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.CannotConnectNowError)
    @app.exception_handler(asyncpg.TooManyConnectionsError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(OSError)
    async def database_down(_: Request, exc: Exception) -> JSONResponse:
        log.error("database_unavailable", error=type(exc).__name__)
        down = unavailable(
            "database_unavailable",
            "数据库暂不可用, 请稍后重试 (PostgreSQL cannot be reached; retry later)",
        )
        return await api_error(_, down)

    @app.exception_handler(Exception)
    async def unforeseen(_: Request, exc: Exception) -> JSONResponse:
        # Logged by the server with its traceback; the sender learns nothing of the inside.
        return JSONResponse(
            {"error": "internal", "message": "内部错误 (internal error: it is logged)"}, 500
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # FastAPI's own answers (unknown path, wrong method) in the same shape.
        code, words = KNOWN.get(exc.status_code, ("http_error", "请求无法处理"))
        message = f"{words} ({exc.detail}, HTTP {exc.status_code})"
        return JSONResponse({"error": code, "message": message}, exc.status_code, exc.headers)


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413 before the app
    reads it, whether it announces its length or arrives in chunks."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self.too_large(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self.too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: disconnect notices
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def too_large(self, send: Send) -> None:
        response = JSONResponse(
            {
                "error": "body_too_large",
                "message": f"请求体超过 {self.limit} 字节 (the body is larger than {self.limit} bytes)",
            },
            413,
        )
        await response({"type": "http"}, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
