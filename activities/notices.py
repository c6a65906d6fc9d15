"""Public notice (公告送达): publish the notice of a conclusion letter that could not be
delivered, on the committee's notice board (and its website), and keep the text as a document
with its SHA-256, so the archive holds exactly what was published.

Published once per case and recipient (the document id): a retried activity finds the stored
notice and answers with it."""

from __future__ import annotations

import hashlib
from datetime import date

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from infra.logs import get_logger
from schemas.clock import CHINA_TZ
from schemas.delivery import PUBLIC_NOTICE, NoticeRequest, PublicNotice
from schemas.steps import Recipient

log = get_logger(__name__)
TEXT = "text/plain; charset=utf-8"
ROLES = {Recipient.worker: "职工", Recipient.employer: "用人单位"}


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def notice_text(request: NoticeRequest, committee: str, province: str, place: str) -> str:
    """The notice as published: who, which conclusion, why it could not be delivered, when it
    counts as delivered, how to dispute it (a city never calls its conclusion final)."""
    published = request.published_at.astimezone(CHINA_TZ).date()
    reasons = "；".join(dict.fromkeys(request.returns)) or "无法送达"
    return "\n".join(
        [
            f"{committee}公告",
            f"{ROLES[request.recipient]}{request.recipient_name}：",
            f"本委员会于{chinese_date(request.concluded_on)}对案件{request.case_id}作出劳动能力鉴定"
            f"结论，向你方邮寄送达的鉴定结论书被退回（{reasons}），无法送达。现依法公告送达："
            f"自本公告发布之日起经过{request.days}日，即{chinese_date(request.deemed_delivered_on)}，"
            "视为送达。请于公告期间到本委员会领取鉴定结论书。",
            f"如对鉴定结论不服，可以在视为送达之日起{request.dispute_window_days}日内"
            f"向{province}提出再次鉴定申请。",
            f"发布地点：{place}",
            f"{committee}",
            chinese_date(published),
        ]
    )


class PublicNotices:
    def __init__(self, pool: asyncpg.Pool, committee: str, province: str, place: str) -> None:
        self.pool, self.committee, self.province, self.place = pool, committee, province, place

    @activity.defn(name="publish_notice")
    async def publish_notice(self, request: NoticeRequest) -> PublicNotice:
        text = notice_text(request, self.committee, self.province, self.place)
        content = text.encode()
        async with self.pool.acquire() as conn:
            try:
                await conn.execute(
                    """INSERT INTO documents (document_id, case_id, kind, media_type, content,
                                              sha256, size)
                       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (document_id) DO NOTHING""",
                    request.document_id,
                    request.case_id,
                    PUBLIC_NOTICE,
                    TEXT,
                    content,
                    hashlib.sha256(content).hexdigest(),
                    len(content),
                )
            except asyncpg.ForeignKeyViolationError:
                raise ApplicationError(
                    f"case {request.case_id} is not registered",
                    type="CaseUnknown",
                    non_retryable=True,
                ) from None
            # Published on an earlier attempt: that text stands.
            row = await conn.fetchrow(
                "SELECT content, sha256 FROM documents WHERE document_id = $1", request.document_id
            )
        assert row is not None
        log.info(
            "public notice published",
            case_id=request.case_id,
            stage=request.stage,
            recipient=request.recipient,
            document_id=request.document_id,
        )
        return PublicNotice(
            recipient=request.recipient,
            place=self.place,
            published_at=request.published_at,
            deemed_delivered_on=request.deemed_delivered_on,
            document_id=request.document_id,
            sha256=row["sha256"],
            text=bytes(row["content"]).decode(),
        )
