"""The report as a printable page for the case file (案卷评查报告): one self-contained HTML
file (no scripts, fonts or images fetched), every value escaped, Chinese labels, A4 print
styles. A browser prints it to PDF."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from html import escape

from schemas.clock import china, china_text
from starter.audit.model import (
    CHECK_STATUS_LABELS,
    CLOCK_OUTCOME_LABELS,
    AuditReport,
    CheckStatus,
)
from starter.audit.render import ROLES, VERDICTS, clock_note, done_text, replay_text

STYLE = """
@page { size: A4; margin: 15mm 12mm; }
body { font-family: "Noto Serif CJK SC", "Source Han Serif SC", "SimSun", serif;
       font-size: 10.5pt; color: #000; margin: 0 auto; max-width: 190mm; }
h1 { font-size: 16pt; text-align: center; margin: 0 0 4mm; }
h2 { font-size: 12pt; border-bottom: 1px solid #000; margin: 6mm 0 2mm; }
table { border-collapse: collapse; width: 100%; page-break-inside: auto; font-size: 9pt; }
tr { page-break-inside: avoid; }
th, td { border: 1px solid #555; padding: 1mm 1.5mm; vertical-align: top; text-align: left; }
th, td.short { white-space: nowrap; }
th { background: #eee; }
td.hash, span.hash { font-family: monospace; font-size: 8pt; word-break: break-all; }
.passed, .failed, .not_applicable { white-space: nowrap; }
.passed { color: #075; } .failed { color: #b00; font-weight: bold; } .not_applicable { color: #555; }
.meta td:first-child { width: 32mm; background: #f6f6f6; }
footer { margin-top: 8mm; font-size: 9pt; color: #333; }
"""


def text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):  # the headers and the footer say 北京时间
        return f"{china(value):%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def cell(value: object, css: str = "") -> str:
    shown = text(value)
    css = css or ("short" if len(shown) <= 16 else "")  # dates, times, codes: on one line
    attr = f' class="{css}"' if css else ""
    return f"<td{attr}>{escape(shown)}</td>"


def grid(
    headers: Sequence[str], rows: Sequence[Sequence[object]], hashes: int | None = None
) -> str:
    if not rows:
        return "<p>无 (none)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(cell(v, "hash" if i == hashes else "") for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def meta(report: AuditReport) -> str:
    case = report.case
    rows: list[tuple[str, object]] = [
        ("案号", report.case_id),
        ("评查时间", china_text(report.audited_at)),
        ("历史重放", replay_text(report.replay)),
    ]
    if case is not None:
        rows += [
            (
                "鉴定类别",
                f"{case.case_type_label} ({case.case_type})"
                + ("，绿色通道" if case.green_channel else ""),
            ),
            ("鉴定方式", case.mode),
            ("当前阶段", case.stage),
            (
                "结案方式",
                f"{case.closed_label or '未结案'}"
                + (f"：{case.closed_reason}" if case.closed_reason else ""),
            ),
            ("鉴定结论", case.outcome_label),
            ("期限政策", case.policy_version),
            ("归档摘要", case.archive_sha256),
            ("保管期限", case.retain_until),
        ]
    body = "".join(f"<tr><td>{escape(k)}</td>{cell(v)}</tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def checks(report: AuditReport) -> str:
    rows = "".join(
        f"<tr><td>{escape(c.label)}</td>"
        f'<td class="{c.status.value}">{escape(CHECK_STATUS_LABELS[c.status])}'
        f"{' (FAILED)' if c.status is CheckStatus.failed else ''}</td>"
        f"<td>{escape(c.reason)}</td></tr>"
        for c in report.checks
    )
    verdict = VERDICTS[report.exit_code]
    return (
        "<table><thead><tr><th>评查项目</th><th>结果</th><th>理由</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p><strong>评查结果：{escape(verdict)}</strong></p>"
    )


def page(report: AuditReport) -> str:
    sections = [("评查项目 (checks)", checks(report))]
    if report.case is not None:
        sections += [
            (
                "阶段",
                grid(
                    ["阶段", "进入时间 (北京时间)", "操作人"],
                    [[f"{s.label} ({s.stage})", s.entered_at, s.actor] for s in report.stages],
                ),
            ),
            (
                "期限",
                grid(
                    [
                        "期限",
                        "起算日",
                        "届满 (北京时间)",
                        "结果",
                        "完成 / 逾期记录 (北京时间)",
                        "说明",
                    ],
                    [
                        [
                            c.label,
                            c.started_on,
                            f"{c.due_on} 24:00",
                            CLOCK_OUTCOME_LABELS[c.outcome],
                            done_text(c.done_at, c.breach_at),
                            "; ".join(
                                x
                                for x in [
                                    clock_note(c.note, c.extended_days, c.shift_days),
                                    c.problem or "",
                                ]
                                if x
                            ),
                        ]
                        for c in report.clocks
                    ],
                ),
            ),
            (
                "拒绝与退回",
                grid(
                    ["序号", "时间 (北京时间)", "类别", "操作人", "理由"],
                    [[r.seq, r.at, r.kind, r.actor, r.reason] for r in report.refusals],
                ),
            ),
            (
                "文书",
                grid(
                    ["文书", "类别", "大小 (字节)", "SHA-256", "核对", "形成时间 (北京时间)"],
                    [
                        [
                            d.document_id,
                            d.kind,
                            d.size,
                            d.sha256,
                            "完好" if d.intact else "已被改动",
                            d.created_at,
                        ]
                        for d in report.documents
                    ],
                    hashes=3,
                ),
            ),
            (
                "结论书送达",
                grid(
                    ["受送达人", "运单号", "寄出时间 (北京时间)", "状态", "送达凭证"],
                    [
                        [
                            ROLES.get(x.recipient, x.recipient),
                            x.waybill_no or "公告送达",
                            x.sent_at,
                            x.status,
                            x.proof,
                        ]
                        for x in report.letters
                    ],
                ),
            ),
            (
                "专家抽取",
                grid(
                    ["次序", "鉴定日", "专家", "回避/排除 (原因)", "可复现"],
                    [
                        [
                            d.attempt,
                            d.on,
                            ", ".join(d.members) or f"缺 {d.short_by} 人",
                            ", ".join(d.exclusions),
                            {True: "是", False: "否", None: "无快照"}[d.reproduced],
                        ]
                        for d in report.panel
                    ],
                ),
            ),
            (
                "事件记录",
                grid(
                    ["序号", "时间 (北京时间)", "阶段", "操作人", "事件", "内容"],
                    [
                        [e.seq, e.at, e.stage, e.actor, f"{e.label} ({e.kind})", e.what]
                        for e in report.events
                    ],
                ),
            ),
        ]
    body = "".join(f"<h2>{escape(title)}</h2>{content}" for title, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>案卷评查报告 {escape(report.case_id)}</title><style>{STYLE}</style></head>"
        f"<body><h1>劳动能力鉴定案卷评查报告</h1>{meta(report)}{body}"
        "<footer>本报告由 appraisal audit 生成；时间均为北京时间；个人信息（姓名、身份证号、"
        "手机号、地址、病情）已隐去。</footer></body></html>\n"
    )
