"""The case's vocabulary, typed: event kinds of the log, clocks, parties and channels, how a
case closes. The values are what PostgreSQL and the histories hold: renaming one is a
migration, adding one is not."""

from __future__ import annotations

from enum import StrEnum

from schemas.application import CaseType

CASE_TYPE_LABELS = {
    CaseType.initial: "初次鉴定",
    CaseType.re_appraisal: "再次鉴定",
    CaseType.review: "复查鉴定",
    CaseType.illness: "因病鉴定",
}


class EventKind(StrEnum):
    """Kinds of the append-only case event log (case_events.kind)."""

    application_received = "application.received"
    application_refused = "application.refused"
    application_accepted = "application.accepted"
    policy_captured = "policy.captured"
    green_channel_granted = "green_channel.granted"
    stage_entered = "stage.entered"
    application_complete = "milestone.application_complete"
    site_appraisal_done = "milestone.site_appraisal_done"
    supplement_notice = "supplement.notice"
    materials_supplemented = "materials.supplemented"
    supplement_extended = "supplement.extended"
    case_refused = "case.refused"
    case_abandoned = "case.abandoned"
    case_terminated = "case.terminated"
    deadline_reminder = "deadline.reminder"
    deadline_breached = "deadline.breached"
    panel_drawn = "panel.drawn"
    panel_shortage = "panel.shortage"
    panel_redraw_requested = "panel.redraw_requested"
    # the standing panel checked again for the appraisal day; unable members' seats redrawn
    panel_rechecked = "panel.rechecked"
    recusal_requested = "recusal.requested"  # a party asked for an expert's recusal
    staff_recused = "recusal.staff"  # a person with a declared conflict was refused a step
    # a request (update or signal) the case refused, with the reason: audits see attempts too
    request_refused = "request.refused"
    appointment_booked = "appointment.booked"
    appointment_no_seat = "appointment.no_seat"
    appointment_rescheduled = "appointment.rescheduled"
    attended = "attendance.attended"
    no_show = "attendance.no_show"
    examination_ordered = "examination.ordered"
    examination_results = "examination.results"
    examination_refused = "examination.refused"
    opinion_recorded = "opinion.recorded"
    opinion_corrected = "opinion.corrected"
    panel_deliberation = "panel.deliberation"
    review_approved = "review.approved"
    review_returned = "review.returned"
    conclusion_extended = "conclusion.extended"
    conclusion_decided = "conclusion.decided"
    conclusion_issued = "conclusion.issued"
    letter_failed = "letter.failed"
    letter_sent = "letter.sent"
    letter_rejected = "letter.rejected"
    address_corrected = "address.corrected"
    postal_accepted = "postal.accepted"
    postal_in_transit = "postal.in_transit"
    postal_delivered = "postal.delivered"
    postal_returned = "postal.returned"
    address_other = "address.other"  # a returned letter goes to the other known address
    notice_published = "notice.published"  # 公告送达: published after a second return
    delivery_deemed = "delivery.deemed"  # 视为送达: the public notice period ran out
    delivery_completed = "delivery.completed"
    dispute_window_ended = "dispute_window.ended"  # 申请再次鉴定期限届满: nobody disputed
    re_appraisal_requested = "re_appraisal.requested"
    re_appraisal_referred = "re_appraisal.referred"  # 移送省劳动能力鉴定委员会
    case_archived = "case.archived"
    # a review or re-appraisal application's prior conclusion, as this system recorded it
    prior_conclusion_checked = "prior_conclusion.checked"


class ClockName(StrEnum):
    """The deadlines a case keeps (DOMAIN.md, Deadlines)."""

    supplement_notice = "supplement_notice"
    supplement = "supplement"
    conclusion = "conclusion"  # the legal limit: 60 days from the complete application
    green_conclusion = "green_conclusion"  # the green channel's shorter internal clock
    site_promise = "site_promise"  # the local promise: conclusion within 5 days of the appraisal
    attendance = "attendance"
    examination = "examination"
    delivery = "delivery"
    # One per recipient: the public notice period (公告期) and the dispute window.
    public_notice_worker = "public_notice_worker"
    public_notice_employer = "public_notice_employer"
    dispute_window_worker = "dispute_window_worker"
    dispute_window_employer = "dispute_window_employer"

    @property
    def label(self) -> str:
        return CLOCK_LABELS[self]


CLOCK_LABELS = {
    ClockName.supplement_notice: "补正告知期限",
    ClockName.supplement: "补正材料期限",
    ClockName.conclusion: "鉴定结论法定期限",
    ClockName.green_conclusion: "绿色通道结论期限",
    ClockName.site_promise: "现场鉴定后5日内出具结论承诺",
    ClockName.attendance: "到场情况录入期限",
    ClockName.examination: "委托检查结果期限",
    ClockName.delivery: "结论书送达期限",
    ClockName.public_notice_worker: "职工公告送达期间",
    ClockName.public_notice_employer: "用人单位公告送达期间",
    ClockName.dispute_window_worker: "职工申请再次鉴定期限",
    ClockName.dispute_window_employer: "用人单位申请再次鉴定期限",
}


class Party(StrEnum):
    """Who a message from the case goes to."""

    applicant = "applicant"
    worker = "worker"
    supervisor = "supervisor"
    case_officer = "case_officer"
    benefits_agency = "benefits_agency"  # 社会保险经办机构
    provincial_agency = "provincial_agency"  # 省社会保险经办机构: 就近办 cases' copy
    hospital = "hospital"  # a commissioned hospital, named in the message
    provincial_committee = "provincial_committee"  # 省劳动能力鉴定委员会: re-appraisal referrals


class Channel(StrEnum):
    sms = "sms"
    internal = "internal"
    supervisor = "supervisor"
    benefits_agency = "benefits_agency"
    letter = "letter"


CHANNELS = {
    Party.applicant: Channel.sms,
    Party.worker: Channel.sms,
    Party.supervisor: Channel.supervisor,
    Party.case_officer: Channel.internal,
    Party.benefits_agency: Channel.benefits_agency,
    Party.provincial_agency: Channel.benefits_agency,
    Party.hospital: Channel.letter,
    Party.provincial_committee: Channel.letter,
}


class CloseReason(StrEnum):
    """How a case left the five stages: delivered, or closed early (it is archived either way)."""

    delivered = "delivered"
    refused = "refused"  # 不予受理 (duplicate or ineligible)
    abandoned = "abandoned"  # 视为放弃申请 (supplement deadline passed)
    terminated = "terminated"  # 当次鉴定终止 (no-show, refused examinations)
    referred = "referred"  # 再次鉴定申请移送省劳动能力鉴定委员会 (after delivery)

    @property
    def label(self) -> str:
        return CLOSE_LABELS[self]


CLOSE_LABELS = {
    CloseReason.delivered: "已送达",
    CloseReason.refused: "不予受理",
    CloseReason.abandoned: "视为放弃申请",
    CloseReason.terminated: "鉴定终止",
    CloseReason.referred: "已移送再次鉴定",
}


class PostalStatus(StrEnum):
    accepted = "accepted"  # 收寄
    in_transit = "in_transit"
    delivered = "delivered"  # 签收
    returned = "returned"  # 退回


class ReturnReason(StrEnum):
    """Why the courier brought a letter back (退回原因): the `reason` of a `returned` postal
    event. Codes, so the case can tell one reason from another; the labels are for people."""

    refused = "refused"  # 拒收
    unknown_address = "unknown_address"  # 查无此人 / 地址不详
    nobody_home = "nobody_home"  # 无人签收: nobody there, the notice never collected
    moved = "moved"  # 迁移新址不明

    @property
    def label(self) -> str:
        return RETURN_REASON_LABELS[self]


RETURN_REASON_LABELS = {
    ReturnReason.refused: "拒收",
    ReturnReason.unknown_address: "查无此人/地址不详",
    ReturnReason.nobody_home: "无人签收",
    ReturnReason.moved: "迁移新址不明",
}
