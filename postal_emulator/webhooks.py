"""Signed webhooks to the receiver we configure (our HTTP gateway).

One queue, delivered in order, so "in reverse" and "lost" mean something a test can check.
Delivery is best-effort, like a courier's: a few attempts, then a logged failure. Each
attempt is signed afresh (`infra/signing.py`: `X-Postal-Signature`, `X-Postal-Event-Id`);
the receiver treats the event id as the dedup key."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import httpx

from infra import signing
from infra.logs import get_logger
from postal_emulator.models import Faults, FaultStats, Notification

log = get_logger(__name__)


# A courier keeps trying for a while: a receiver may not know a waybill for the first moment
# after the courier created it (the case records it once the courier has answered).
BACKOFF = (0.2, 1.0, 5.0, 15.0)


class WebhookSender:
    def __init__(
        self,
        url: str,
        secret: str,
        backoff: tuple[float, ...] = BACKOFF,
        stats: Callable[[], FaultStats] = FaultStats,
    ) -> None:
        self._url = url
        self._secret = secret
        self._backoff = backoff  # pauses between attempts: len(backoff) + 1 attempts in all
        self._stats = stats  # the counters in force (they start again when faults are set)
        self._http = httpx.AsyncClient(timeout=5.0)
        self._queue: asyncio.Queue[Notification] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._busy = False

    @property
    def pending(self) -> int:
        """Webhooks queued or being delivered."""
        return self._queue.qsize() + self._busy

    def send(self, batch: list[Notification], faults: Faults) -> int:
        """Queue one batch (the events of one call) as the faults say; answer the courier
        call now. Returns how many were lost."""
        if faults.lose_webhooks:
            for notification in batch:
                log.warning("webhook_lost", **_ids(notification))
            return len(batch)
        for notification in reversed(batch) if faults.reverse_webhooks else batch:
            self._queue.put_nowait(notification)
            if faults.duplicate_webhooks:
                self._queue.put_nowait(notification)
                self._stats().webhooks_duplicated += 1
        if self._worker is None:
            self._worker = asyncio.create_task(self._run())
        return 0

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        await self._http.aclose()

    async def _run(self) -> None:
        while True:
            notification = await self._queue.get()
            self._busy = True
            try:
                await self._deliver(notification)
            finally:
                self._busy = False

    async def _deliver(self, notification: Notification) -> None:
        body = notification.model_dump_json().encode()
        ids = _ids(notification)
        for attempt, pause in enumerate((*self._backoff, None), start=1):
            headers = {
                "Content-Type": "application/json",
                signing.SIGNATURE_HEADER: signing.sign(self._secret, body),
                signing.EVENT_ID_HEADER: notification.event_id,
            }
            try:
                response = await self._http.post(self._url, content=body, headers=headers)
                if response.is_success:
                    self._stats().webhooks_delivered += 1
                    log.info("webhook_delivered", attempt=attempt, **ids)
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            log.warning("webhook_attempt_failed", attempt=attempt, problem=problem, **ids)
            if pause is not None:
                await asyncio.sleep(pause)
        self._stats().webhooks_given_up += 1
        log.error("webhook_given_up", attempts=len(self._backoff) + 1, **ids)


def _ids(notification: Notification) -> dict[str, str]:
    return {"waybill_no": notification.waybill_no, "event_id": notification.event_id}
