"""Signed webhooks to the receiver we configure (later: our HTTP gateway).

Delivery is best-effort, like a courier's: a few attempts in the background, then a logged
failure. The receiver checks `X-Postal-Signature` and treats `event_id` as the dedup key."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import httpx

from infra.logs import get_logger
from postal_emulator.models import Notification

SIGNATURE_HEADER = "X-Postal-Signature"
log = get_logger(__name__)


def signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSender:
    def __init__(self, url: str, secret: str, backoff: tuple[float, ...] = (0.2, 1.0)) -> None:
        self._url = url
        self._secret = secret
        self._backoff = backoff  # pauses between attempts: len(backoff) + 1 attempts in all
        self._http = httpx.AsyncClient(timeout=5.0)
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, notification: Notification) -> None:
        """Answer the courier call now; deliver in the background."""
        task = asyncio.create_task(self._deliver(notification))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        await self._http.aclose()

    async def _deliver(self, notification: Notification) -> None:
        body = notification.model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body),
        }
        ids = {"waybill_no": notification.waybill_no, "event_id": notification.event_id}
        for attempt, pause in enumerate((*self._backoff, None), start=1):
            try:
                response = await self._http.post(self._url, content=body, headers=headers)
                if response.is_success:
                    log.info("webhook_delivered", attempt=attempt, **ids)
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            log.warning("webhook_attempt_failed", attempt=attempt, problem=problem, **ids)
            if pause is not None:
                await asyncio.sleep(pause)
        log.error("webhook_given_up", attempts=len(self._backoff) + 1, **ids)
