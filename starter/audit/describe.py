"""Each row of the event log in words: its kind in Chinese and what it changed, from the
fields the log keeps (no personal data is in the log; the CLI masks the output anyway)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from schemas.clock import china_text
from schemas.events import REVIEW_LABELS, ReviewLayer
from schemas.outcome import Outcome
from schemas.steps import STAGE_LABELS, Stage
from schemas.vocabulary import CASE_TYPE_LABELS, CLOCK_LABELS, ClockName, EventKind

K = EventKind
KIND_LABELS: dict[str, str] = {
    K.application_received: "收到申请",
    K.application_refused: "不予受理",
    K.application_accepted: "受理",
    K.policy_captured: "期限政策确定",
    K.green_channel_granted: "绿色通道批准",
    K.stage_entered: "进入阶段",
    K.application_complete: "材料齐全",
    K.site_appraisal_done: "现场鉴定完成",
    K.supplement_notice: "一次性告知补正",
    K.materials_supplemented: "补正材料",
    K.supplement_extended: "补正期限延长",
    K.case_refused: "结案: 不予受理",
    K.case_abandoned: "结案: 视为放弃",
    K.case_terminated: "结案: 鉴定终止",
    K.deadline_reminder: "期限提醒",
    K.deadline_breached: "逾期上报",
    K.panel_drawn: "抽取专家",
    K.panel_shortage: "专家不足上报",
    K.panel_redraw_requested: "申请重新抽取",
    K.panel_rechecked: "专家组按鉴定日复核",
    K.recusal_requested: "当事人申请回避",
    K.staff_recused: "工作人员回避 (拒绝办理)",
    K.appointment_booked: "预约鉴定",
    K.appointment_no_seat: "无可用场次上报",
    K.appointment_rescheduled: "改期",
    K.attended: "到场并核验身份",
    K.no_show: "未到场",
    K.examination_ordered: "委托检查",
    K.examination_results: "检查结果",
    K.examination_refused: "拒绝检查",
    K.opinion_recorded: "专家意见",
    K.opinion_corrected: "专家意见更正",
    K.panel_deliberation: "专家组合议",
    K.review_approved: "复核签署",
    K.review_returned: "复核退回",
    K.conclusion_extended: "鉴定期限延长",
    K.conclusion_decided: "作出鉴定结论",
    K.conclusion_issued: "出具结论书",
    K.letter_failed: "结论书出具失败上报",
    K.letter_sent: "邮寄结论书",
    K.letter_rejected: "快递拒收",
    K.address_corrected: "更正地址",
    K.postal_accepted: "快递收寄",
    K.postal_in_transit: "快递运输中",
    K.postal_delivered: "签收",
    K.postal_returned: "退回",
    K.address_other: "改寄另一已知地址",
    K.notice_published: "公告送达",
    K.delivery_deemed: "视为送达",
    K.delivery_completed: "送达完成",
    K.dispute_window_ended: "申请再次鉴定期限届满",
    K.re_appraisal_requested: "申请再次鉴定",
    K.re_appraisal_referred: "移送省鉴定委员会",
    K.case_archived: "归档",
    K.prior_conclusion_checked: "核对原鉴定结论",
}


def label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def stage_label(stage: str) -> str:
    return STAGE_LABELS[Stage(stage)] if stage in Stage.__members__ else stage


def clock_label(clock: str) -> str:
    return CLOCK_LABELS[ClockName(clock)] if clock in ClockName.__members__ else clock


CASE_TYPES = {t.value: name for t, name in CASE_TYPE_LABELS.items()}


def case_type(value: Any) -> str:
    return f"{CASE_TYPES.get(value, value)} {value}"


def outcome(value: Any) -> str:
    try:
        return Outcome.model_validate(value).label()
    except ValueError:
        return str(value)


def when(value: str) -> str:
    """An ISO instant from the log as people read it."""
    return china_text(datetime.fromisoformat(value))


Describe = Callable[[dict[str, Any]], str]
DESCRIBE: dict[str, Describe] = {
    K.application_received: lambda d: (
        case_type(d.get("case_type")) + (", 绿色通道" if d.get("green_channel") else "")
    ),
    K.application_accepted: lambda d: (
        f"材料齐全日 {d.get('complete_on')}, 法定期限至 {d.get('conclusion_due')}"
    ),
    K.application_refused: lambda d: f"规则 {d.get('rule')}",
    K.policy_captured: lambda d: f"政策版本 {d.get('version')}",
    K.stage_entered: lambda d: d.get("reason") or "",
    K.supplement_notice: lambda d: (
        "缺 "
        + ", ".join(str(i.get("kind", i)) if isinstance(i, dict) else str(i) for i in d["items"])
        + f"; 补正期限 {d.get('due')}"
    ),
    K.materials_supplemented: lambda d: "补交 " + ", ".join(d.get("kinds", [])),
    K.supplement_extended: lambda d: f"{d.get('from')} → {d.get('until')}: {d.get('reason')}",
    K.deadline_reminder: lambda d: (
        f"{clock_label(d['clock'])} {d.get('due_on')} 届满 ({d.get('at')})"
    ),
    K.deadline_breached: lambda d: (
        f"{clock_label(d['clock'])} {d.get('due_on')} 届满"
        + (f": {d['detail']}" if d.get("detail") else "")
    ),
    K.panel_drawn: lambda d: (
        f"第{d.get('attempt')}次: "
        + ", ".join(d.get("members", []))
        + (f"; 缺 {d['short_by']} 人" if d.get("short_by") else "")
        + f"; 回避/排除 {d.get('excluded', 0)} 人"
    ),
    K.panel_rechecked: lambda d: (
        f"第{d.get('attempt')}次 ({d.get('cause')}): "
        + ", ".join(d.get("members", []))
        + "; 替换 "
        + (
            ", ".join(f"{r.get('expert_id')} ({r.get('reason')})" for r in d.get("replaced", []))
            or "无"
        )
    ),
    K.recusal_requested: lambda d: (
        f"{d.get('requested_by')} 申请 {d.get('expert_id')} 回避: {d.get('reason')}"
    ),
    K.staff_recused: lambda d: f"{d.get('step')}: {d.get('kind')} {d.get('note') or ''}".rstrip(),
    K.appointment_booked: lambda d: joined(when(d["at"]), d.get("mode"), d.get("place")),
    K.appointment_rescheduled: lambda d: (
        f"原定 {d.get('from')}, 推迟 {d.get('delay_days')} 日 "
        f"(累计 {d.get('total_shift_days')} 日): {d.get('reason')}"
    ),
    K.attended: lambda d: "身份已核验" if d.get("identity_verified") else "身份未核验",
    K.no_show: lambda d: f"正当理由: {d['good_reason']}" if d.get("good_reason") else "无正当理由",
    K.examination_refused: lambda d: str(d.get("reason", "")),
    K.opinion_recorded: lambda d: f"{d.get('expert_id')}: {outcome(d.get('outcome'))}",
    K.opinion_corrected: lambda d: (
        f"{d.get('expert_id')}: {outcome(d.get('replaces'))} → {outcome(d.get('outcome'))}"
    ),
    K.panel_deliberation: lambda d: (
        f"第{d.get('round')}轮, 未形成多数: "
        + ", ".join(f"{e} {v}" for e, v in d.get("opinions", {}).items())
    ),
    K.review_approved: lambda d: f"{layer(d)} 第{d.get('round')}轮 签署",
    K.review_returned: lambda d: f"{layer(d)} 第{d.get('round')}轮 退回: {d.get('reason')}",
    K.conclusion_extended: lambda d: f"延长 {d.get('days')} 日: {d.get('reason')}",
    K.conclusion_decided: lambda d: joined(
        outcome(d.get("outcome")), d.get("basis"), d.get("clause"), sep="; "
    ),
    K.conclusion_issued: lambda d: outcome(d.get("outcome")),
    K.letter_failed: lambda d: str(d.get("reason", "")),
    K.letter_sent: lambda d: f"{d.get('recipient')} 运单 {d.get('waybill_no')}",
    K.letter_rejected: lambda d: f"{d.get('recipient')} 第{d.get('attempt')}次: {d.get('reason')}",
    K.address_corrected: lambda d: (
        f"{d.get('recipient')} 第{d.get('attempt')}次: {d.get('reason')}"
    ),
    K.address_other: lambda d: f"{d.get('recipient')} 第{d.get('attempt')}次",
    K.postal_delivered: lambda d: (
        f"{d.get('recipient') or ''} 运单 {d.get('waybill_no')} 签收日 {d.get('delivered_on') or d.get('occurred_at')}".strip()
    ),
    K.postal_returned: lambda d: (
        f"{d.get('recipient') or ''} 运单 {d.get('waybill_no')} 退回: {d.get('reason')}".strip()
    ),
    K.notice_published: lambda d: (
        f"{d.get('recipient')}: {d.get('place')}, 视为送达日 {d.get('deemed_delivered_on')}"
    ),
    K.delivery_deemed: lambda d: f"{d.get('recipient')} 视为送达 {d.get('delivered_on')}",
    K.delivery_completed: lambda d: ", ".join(f"{k} {delivered(v)}" for k, v in d.items()),
    K.dispute_window_ended: lambda d: ", ".join(f"{k} {v}" for k, v in d.items()),
    K.re_appraisal_requested: lambda d: (
        f"{d.get('requested_by')} 于 {d.get('request_date')}: {d.get('reason')}"
    ),
    K.re_appraisal_referred: lambda d: ", ".join(
        f"{k} {v}" for k, v in d.items() if isinstance(v, str)
    ),
    K.case_archived: lambda d: (
        f"摘要 {d.get('sha256')}"
        + (f", 保管至 {d['retain_until']}" if d.get("retain_until") else "")
    ),
}


def joined(*parts: Any, sep: str = ", ") -> str:
    """The parts that are there."""
    return sep.join(str(p) for p in parts if p not in (None, ""))


def layer(data: dict[str, Any]) -> str:
    name = data.get("layer", "")
    return REVIEW_LABELS[ReviewLayer(name)] if name in ReviewLayer.__members__ else str(name)


def delivered(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("delivered_on")) + (" (视为送达)" if value.get("deemed") else "")
    return str(value)


def what(kind: str, data: dict[str, Any]) -> str:
    """What the event changed; kinds without a describer list their plain fields."""
    describe = DESCRIBE.get(kind)
    if describe is not None:
        try:
            return " ".join(describe(data).split())
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # an older or newer shape of the same kind: the fields as they are
    plain = (f"{k}={v}" for k, v in data.items() if isinstance(v, str | int | float | bool))
    return ", ".join(plain)
