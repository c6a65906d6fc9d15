"""The report as a case-file reviewer reads it in a terminal: sections with tables, China
time labelled 北京时间 (a deadline as the end of its last day, 24:00)."""

from __future__ import annotations

from datetime import date, datetime

from schemas.clock import china_text
from starter.app import table
from starter.audit.model import (
    CHECK_STATUS_LABELS,
    CLOCK_OUTCOME_LABELS,
    SOURCE_LABELS,
    AuditReport,
    CheckStatus,
    Replay,
    ReplayOutcome,
)

ROLES = {"worker": "职工", "employer": "用人单位"}
VERDICTS = {
    0: "全部通过 (clean)",
    4: "案卷已被改动 (ALTERED)",
    5: "评查发现问题 (a check FAILED)",
    6: "重放不一致 (the history DIVERGES from the current code)",
}


def when(at: datetime | None) -> str:
    return china_text(at) if at else "-"


def due(day: date) -> str:
    return f"{day} 24:00 北京时间"


def replay_text(replay: Replay) -> str:
    if replay.outcome is ReplayOutcome.unavailable:
        return f"无法重放 (not replayed): {replay.message}"
    source = SOURCE_LABELS[replay.source] if replay.source else "-"
    head = f"{source}, {replay.workflow_type}, {replay.events} events"
    if replay.outcome is ReplayOutcome.clean:
        return f"{head}: 一致 (replays cleanly on the current code)"
    where = f"event {replay.event_id}" if replay.event_id else "?"
    if replay.event_type:
        where += f" ({replay.event_type})"
    return f"{head}: 不一致 (DIVERGES) at {where}: {replay.message}"


def render(report: AuditReport) -> str:
    parts = [heading(report)]
    if report.case is not None:
        parts += [
            section(
                "阶段 (stages)",
                ["stage", "进入时间 (entered)", "actor"],
                [[f"{s.label} {s.stage}", when(s.entered_at), s.actor] for s in report.stages],
            ),
            section(
                "事件 (events)",
                ["seq", "时间 (北京时间)", "stage", "actor", "event", "what changed"],
                [
                    [
                        e.seq,
                        when(e.at).removesuffix(" 北京时间"),
                        e.stage,
                        e.actor,
                        f"{e.label} {e.kind}",
                        e.what,
                    ]
                    for e in report.events
                ],
            ),
            section(
                "期限 (clocks)",
                ["clock", "start", "due", "outcome", "done / breach recorded", "note"],
                [
                    [
                        f"{c.label} {c.clock}",
                        c.started_on,
                        f"{due(c.due_on)} ({c.due_source})",
                        f"{CLOCK_OUTCOME_LABELS[c.outcome]} {c.outcome.value}",
                        done_text(c.done_at, c.breach_at),
                        clock_note(c.note, c.extended_days, c.shift_days),
                    ]
                    for c in report.clocks
                ],
            ),
            section(
                "拒绝与退回 (refusals)",
                ["seq", "时间", "kind", "actor", "reason"],
                [[r.seq, when(r.at), r.kind, r.actor, r.reason] for r in report.refusals],
            ),
            section(
                "文书 (documents)",
                ["document", "kind", "size", "sha256", "bytes", "created"],
                [
                    [
                        d.document_id,
                        d.kind,
                        d.size,
                        d.sha256,
                        "完好 intact" if d.intact else "被改动 ALTERED",
                        when(d.created_at),
                    ]
                    for d in report.documents
                ],
            ),
            section(
                "结论书送达 (letters)",
                ["recipient", "waybill", "sent", "status", "delivery proof"],
                [
                    [
                        ROLES.get(x.recipient, x.recipient),
                        x.waybill_no or "公告",
                        when(x.sent_at),
                        x.status,
                        x.proof,
                    ]
                    for x in report.letters
                ],
            ),
            section(
                "专家抽取 (panel draws)",
                ["attempt", "appraisal day", "members", "excluded (reason)", "reproduces"],
                [
                    [
                        d.attempt,
                        d.on,
                        ", ".join(d.members) or f"缺 {d.short_by} 人",
                        ", ".join(d.exclusions) or "-",
                        {True: "yes", False: "NO", None: "no snapshot"}[d.reproduced],
                    ]
                    for d in report.panel
                ],
            ),
        ]
    parts.append(checks_text(report))
    return "\n\n".join(p for p in parts if p)


def heading(report: AuditReport) -> str:
    lines = [f"案卷评查 (case-file review)  {report.case_id}  评查时间 {when(report.audited_at)}"]
    case = report.case
    if case is None:
        lines.append("PostgreSQL 中没有本案记录 (no case record): only the history was checked")
    else:
        kind = f"{case.case_type_label} {case.case_type}" + (
            " 绿色通道" if case.green_channel else ""
        )
        lines.append(
            f"{kind}, {case.mode}, {case.jurisdiction}; stage {case.stage}; 政策 {case.policy_version or '-'}"
        )
        closed = f"{case.closed_label} {case.closed}" if case.closed else "未结案 (open)"
        if case.closed_reason:
            closed += f": {case.closed_reason}"
        lines.append(f"结案 (closed): {closed}; 结论 (outcome): {case.outcome_label or '-'}")
        if case.archive_sha256:
            lines.append(
                f"归档摘要 (archive sha256): {case.archive_sha256}, 保管至 {case.retain_until}"
            )
    lines.append(f"历史重放 (replay): {replay_text(report.replay)}")
    return "\n".join(lines)


def done_text(done: datetime | None, breach: datetime | None) -> str:
    """When the clock's event came, and when its breach was recorded."""
    text = when(done) if done else ""
    if breach:
        text += f"{'; ' if text else ''}逾期记录 {when(breach)}"
    return text or "-"


def clock_note(note: str, extended: int, shifted: int) -> str:
    parts = [note] if note else []
    if extended:
        parts.append(f"延长 {extended} 日")
    if shifted:
        parts.append(f"改期顺延 {shifted} 日")
    return ", ".join(parts)


def section(title: str, headers: list[str], rows: list[list[object]]) -> str:
    if not rows:
        return f"{title}\n(无 none)"
    return f"{title}\n{table(headers, rows)}"


def checks_text(report: AuditReport) -> str:
    lines = ["评查项目 (checks)"]
    for check in report.checks:
        mark = "FAILED" if check.status is CheckStatus.failed else check.status.value
        lines.append(f"  [{CHECK_STATUS_LABELS[check.status]} {mark}] {check.name}: {check.label}")
        lines.append(f"      {check.reason}")
    if not report.checks:
        lines.append("  (无记录可查 no record to check)")
    code = report.exit_code
    lines.append(f"结果 (result): {VERDICTS[code]}, exit {code}")
    return "\n".join(lines)
