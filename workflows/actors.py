"""Proven actors (issue #10): every update and signal declares who may send it (a `Who`), and
the gate checks the event's actor against it, in the case's lock, after the stage's rule and
before the change (patches.PROVEN_ACTORS).

Pure rules need no look-up: a panel member acts for the panel (`PANEL`), the case's own
tracking polls are internal (`INTERNAL`). Roles and gateway scopes are looked up by one
activity (`check_actor`), which also finds a conflict the actor declared with this case's
worker or employer (回避, 《工伤保险条例》 art. 27): a conflicted member is refused, and that
is recorded (`recusal.staff`) as before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.case_file import CaseFile
from workflows.records import record_event, short

with workflow.unsafe.imports_passed_through():
    from activities.experts import Experts
    from schemas.events import CaseEvent, ReviewLayer
    from schemas.staff import ActorCheck, ActorFacts, StaffRole
    from schemas.steps import StaffConflict
    from schemas.vocabulary import EventKind


@dataclass(frozen=True)
class Who:
    """Who may send an event: a roster member with one of `roles`, a gateway client holding
    `scope`, a member of the case's panel (`panel`), or anyone (`internal`: the case's own)."""

    roles: tuple[StaffRole, ...] = ()
    scope: str | None = None
    panel: bool = False
    internal: bool = False

    def needed(self) -> str:
        """The roles named in a refusal, in Chinese and English."""
        names = [f"{r.label} ({r.value})" for r in self.roles]
        if self.scope:
            names.append(f"接口客户端 (gateway client with scope {self.scope})")
        if self.panel:
            names.append("本案专家组成员 (a panel member)")
        return " 或 ".join(names)


CLERK = Who(roles=(StaffRole.clerk,))
COMMITTEE = Who(roles=(StaffRole.committee,))
COMMITTEE_OR_SUPERVISOR = Who(roles=(StaffRole.committee, StaffRole.supervisor))
PANEL = Who(panel=True)
# The panel's order for examinations: a member, or the site's clerk entering it for the panel.
PANEL_OR_CLERK = Who(roles=(StaffRole.clerk,), panel=True)
INTERNAL = Who(internal=True)
# Reports from other systems come through the gateway under its client's id; the office may
# type the same report from paper under a clerk's id.
POSTAL = Who(roles=(StaffRole.clerk,), scope="postal")
EXAMINATIONS = Who(roles=(StaffRole.clerk,), scope="examinations")
RE_APPRAISAL = Who(roles=(StaffRole.clerk,), scope="re_appraisal")


# The step a conflicted member is refused, as the event log names it (`recusal.staff`).
STEPS = {
    "ReviewSignoff": "复核签署",
    "ConclusionDecision": "鉴定结论",
    "ConclusionExtension": "延长鉴定期限",
    "SupplementNotice": "补正告知",
    "SupplementExtension": "延长补正期限",
    "MaterialsSupplemented": "补正材料",
    "PanelRedraw": "重新抽取专家",
    "RecusalRequest": "专家回避申请",
    "ScheduleAppraisal": "预约鉴定",
    "Reschedule": "改期",
    "AttendanceRecord": "到场核验",
    "ExaminationResults": "检查结果",
    "ExaminationRefusal": "拒绝检查",
    "PostalEvent": "邮件轨迹",
    "AddressCorrection": "更正地址",
    "ReAppraisalRequest": "再次鉴定申请",
}


def refusal(reason: str) -> ApplicationError:
    """How an update is refused once accepted: a Temporal failure carrying the reason (the
    gate's, and every stage's, through workflows/gate.py)."""
    return ApplicationError(reason, type="Refused", non_retryable=True)


def layer(of: ReviewLayer) -> Who:
    """A review layer is signed by a member of that layer only."""
    return Who(roles=(StaffRole(of.value),))


def problem(facts: ActorFacts, who: Who) -> str | None:
    """Why the looked-up actor may not send the event, or None (a conflict aside)."""
    actor = facts.actor
    if who.scope and facts.client and who.scope in facts.scopes:
        return None
    if facts.active and set(facts.roles) & set(who.roles):
        return None
    if facts.on_roster and not facts.active:
        why = f"{actor} 已离任, 不能办理 ({actor} is retired from the roster)"
    elif facts.on_roster:
        held = "、".join(r.label for r in facts.roles)
        why = f"{actor} 的角色为{held}, 无权办理 ({actor} holds {', '.join(facts.roles)})"
    elif facts.client:
        why = f"接口客户端 {actor} 无此权限 (gateway client {actor} lacks the scope)"
    else:
        why = f"{actor} 不在工作人员名册中 ({actor} is not on the staff roster)"
    return f"{why}; 须由{who.needed()}办理 (needed: {who.needed()})"


async def prove(case: CaseFile, event: CaseEvent, who: Who) -> None:
    """Refuse the event unless its actor fits `who` (cases since patches.PROVEN_ACTORS)."""
    if not case.proven_actors or who.internal:
        return
    if who.panel and event.actor in case.panel_ids:
        return
    if who.panel and not who.roles:
        raise refusal(
            f"{event.actor} 不是本案专家组成员, 无权办理 "
            f"(needed: a panel member: {', '.join(case.panel_ids) or 'none drawn'})"
        )
    app = case.application
    facts = await short(
        case,
        Experts.check_actor,
        ActorCheck(
            case_id=case.case_id,
            stage=case.stage,
            actor=event.actor,
            citizen_id=app.worker.citizen_id,
            employer_credit_code=app.employer.credit_code,
        ),
        f"核验办理人 (actor check: {event.actor})",
    )
    if (why := problem(facts, who)) is not None:
        raise refusal(why)
    if (conflict := facts.conflict) is None or not facts.active:
        return
    await refuse_conflicted(
        case, event, STEPS.get(type(event).__name__, type(event).__name__), conflict
    )


async def refuse_conflicted(
    case: CaseFile, event: CaseEvent, step: str, conflict: StaffConflict
) -> NoReturn:
    """Art. 27: the actor declared a conflict with the case's worker or employer; recorded
    (`recusal.staff`), then refused."""
    await record_event(
        case,
        f"recusal.staff:{event.event_id}",
        EventKind.staff_recused,
        event.actor,
        {"step": step, "kind": conflict.kind, "note": conflict.note},
    )
    whom = "职工" if conflict.kind == "worker" else "用人单位"
    raise refusal(
        f"{event.actor} 已申报与本案{whom}有利害关系, 应当回避, 请由其他人员办理{step} "
        f"(《工伤保险条例》第二十七条) ({event.actor} declared a conflict with this case's "
        f"{conflict.kind} and must recuse: another person acts)"
    )
