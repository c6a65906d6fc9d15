"""The report of one case from what was read: PostgreSQL's rows, the history's facts, the
replay and the archive's verification. Pure, so it is tested on rows without servers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from activities.verify import ArchiveCheck
from schemas.vocabulary import RETURN_REASON_LABELS, CloseReason
from starter.audit import checks, clocks
from starter.audit.clocks import Count
from starter.audit.describe import CASE_TYPES, label, stage_label, what
from starter.audit.facts import HistoryFacts
from starter.audit.log import Log, day_of
from starter.audit.model import (
    AuditReport,
    CaseLine,
    DocumentLine,
    DrawLine,
    EventLine,
    LetterLine,
    RefusalLine,
    Replay,
    StageLine,
)
from starter.audit.privacy import Privacy
from starter.audit.rows import CaseRows

RETURN_LABELS = {reason.value: label for reason, label in RETURN_REASON_LABELS.items()}
POSTAL_LABELS = {"postal.accepted": "收寄", "postal.in_transit": "运输中"}
POSTAL_LABELS |= {"postal.delivered": "签收", "postal.returned": "退回"}


def build(
    case_id: str,
    rows: CaseRows | None,
    facts: HistoryFacts,
    replay: Replay,
    verified: ArchiveCheck | None,
    now: datetime,
    count: Count,
    privacy: Privacy,
) -> AuditReport:
    report = AuditReport(case_id=case_id, audited_at=now, case=None, replay=replay)
    if rows is None:
        return report  # nothing in PostgreSQL: the replay is all there is
    events = rows.events
    policy: dict[str, Any] = next((e["data"] for e in events if e["kind"] == "policy.captured"), {})
    clock_facts = clocks.Facts(
        policy=policy,
        green=bool(rows.case["green_channel"]),
        case_type=rows.case["case_type"],
        receipt_date=receipt_date(facts),
        now=now,
    )
    report.case = case_line(rows, policy)
    report.stages = [
        StageLine(
            stage=e["stage"],
            label=stage_label(e["stage"]),
            entered_at=e["occurred_at"],
            actor=e["actor"],
        )
        for e in events
        if e["kind"] == "stage.entered"
    ]
    report.events = [event_line(e) for e in events]
    report.clocks = clocks.rebuild(events, clock_facts, count)
    report.refusals = [refusal(e) for e in events if is_refusal(e["kind"])]
    report.documents = [
        DocumentLine(**{k: d[k] for k in DocumentLine.model_fields}) for d in rows.documents
    ]
    report.letters = letters(rows, facts, privacy)
    report.panel = [
        DrawLine(
            attempt=d.attempt,
            on=d.on,
            size=d.size,
            members=d.members,
            exclusions=[f"{x} {why}" for x, why in d.exclusions],
            short_by=d.short_by,
            reproduced=d.reproduced,
        )
        for d in rows.draws
    ]
    report.checks = checks.all_checks(rows, report.clocks, facts, verified)
    return report


def receipt_date(facts: HistoryFacts) -> date | None:
    received = (facts.application or {}).get("received_on")
    try:
        return date.fromisoformat(received) if isinstance(received, str) else None
    except ValueError:
        return None


def case_line(rows: CaseRows, policy: dict[str, Any]) -> CaseLine:
    case = rows.case
    closed = closed_as(case["closed_reason"])
    closing = next((e for e in rows.events if e["kind"] in CLOSING_REASONS), None)
    return CaseLine(
        case_type=case["case_type"],
        case_type_label=CASE_TYPES.get(case["case_type"], case["case_type"]),
        green_channel=case["green_channel"],
        mode=case["mode"],
        jurisdiction=case["jurisdiction"],
        stage=case["stage"],
        closed=closed,
        closed_label=CloseReason(closed).label if closed else None,
        closed_reason=closing["data"].get("reason") if closing else None,
        outcome=case["outcome"],
        outcome_label=case["outcome_label"],
        policy_version=policy.get("version"),
        archive_sha256=rows.archive.sha256 if rows.archive else None,
        retain_until=rows.archive.retain_until if rows.archive else None,
    )


CLOSING_REASONS = ("case.refused", "case.abandoned", "case.terminated")


def closed_as(column: str | None) -> str | None:
    """How the case closed, from `cases.closed_reason` ("refused: <why>", "delivered")."""
    head = (column or "").split(":", 1)[0].strip()
    return head if head in CloseReason.__members__ else None


def event_line(e: dict[str, Any]) -> EventLine:
    return EventLine(
        seq=e["seq"],
        at=e["occurred_at"],
        stage=e["stage"],
        kind=e["kind"],
        label=label(e["kind"]),
        actor=e["actor"],
        what=what(e["kind"], e["data"]),
    )


def is_refusal(kind: str) -> bool:
    """Refused requests and decisions: `*.refused`, `*.rejected`, and a staff member's recusal
    (a step refused to a conflicted person)."""
    return kind.endswith((".refused", ".rejected")) or kind == "recusal.staff"


def refusal(e: dict[str, Any]) -> RefusalLine:
    data = e["data"]
    reason = data.get("reason") or data.get("rule") or what(e["kind"], data)
    return RefusalLine(
        seq=e["seq"], at=e["occurred_at"], kind=e["kind"], actor=e["actor"], reason=str(reason)
    )


def shipments(rows: CaseRows, facts: HistoryFacts) -> dict[str, dict[str, Any]]:
    """Each waybill's shipment as the case kept it (signer, time signed): the archive's
    delivery proof, else the workflow's result."""
    kept = rows.archive.shipments if rows.archive else []
    kept = kept or (facts.result or {}).get("shipments") or []
    return {s["waybill_no"]: s for s in kept if isinstance(s, dict) and s.get("waybill_no")}


def letters(rows: CaseRows, facts: HistoryFacts, privacy: Privacy) -> list[LetterLine]:
    """Each letter with its delivery proof; a public notice as a line of its own."""
    log = Log(rows.events)
    kept = shipments(rows, facts)
    posted = [letter(log, sent, kept, privacy) for sent in log.all("letter.sent")]
    return posted + [notice(log, published) for published in log.all("notice.published")]


def letter(
    log: Log, sent: dict[str, Any], kept: dict[str, dict[str, Any]], privacy: Privacy
) -> LetterLine:
    """A letter's proof: signed for (when, by whom), or why it came back."""
    waybill = sent["data"].get("waybill_no")
    news = [e for e in log.all(*POSTAL_LABELS) if e["data"].get("waybill_no") == waybill]
    line = LetterLine(
        recipient=sent["data"].get("recipient", ""),
        waybill_no=waybill,
        sent_at=sent["occurred_at"],
        status=POSTAL_LABELS[news[-1]["kind"]] if news else "已寄出",
        proof="无签收记录 (no delivery yet)",
    )
    delivered = next((e for e in news if e["kind"] == "postal.delivered"), None)
    if delivered is not None:
        shipment = kept.get(waybill, {})
        line.status = POSTAL_LABELS["postal.delivered"]
        line.signed_at = parse_instant(shipment.get("delivered_at")) or parse_instant(
            delivered["data"].get("occurred_at")
        )
        on = delivered["data"].get("delivered_on")
        line.delivered_on = (
            date.fromisoformat(on) if on else line.signed_at and day_of(line.signed_at)
        )
        line.signer = privacy.signer(shipment.get("signer"))
        line.proof = f"签收 {line.delivered_on}" + (
            f", 签收人 {line.signer}" if line.signer else ""
        )
    elif returns := [e["data"].get("reason") for e in news if e["kind"] == "postal.returned"]:
        line.proof = "退回: " + ", ".join(RETURN_LABELS.get(str(r), str(r)) for r in returns)
    return line


def notice(log: Log, published: dict[str, Any]) -> LetterLine:
    """公告送达: where and when published, the notice's document, deemed delivered on."""
    data = published["data"]
    recipient = data.get("recipient", "")
    deemed = any(e["data"].get("recipient") == recipient for e in log.all("delivery.deemed"))
    return LetterLine(
        recipient=recipient,
        waybill_no=None,
        sent_at=parse_instant(data.get("published_at")),
        status="视为送达" if deemed else "公告中",
        delivered_on=date.fromisoformat(data["deemed_delivered_on"]) if deemed else None,
        proof=f"公告送达 ({data.get('place')}), {data.get('deemed_delivered_on')} 视为送达; "
        f"公告文书 {data.get('document')} sha256 {data.get('sha256')}",
    )


def parse_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
