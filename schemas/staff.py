"""The staff roster (工作人员名册): who may act on a case, and in which role.

A step of a case names its actor; the case checks that the actor is an active roster member
whose role fits the step (workflows/actors.py), or an expert of the panel, or another system's
gateway client with the step's scope."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from schemas.steps import CaseStep, StaffConflict


class StaffRole(StrEnum):
    clerk = "clerk"  # 受理窗口/经办人员: the office's entries
    examination = "examination"  # 面检组
    chief_examination = "chief_examination"  # 总检组
    recheck = "recheck"  # 复核组
    committee = "committee"  # 鉴定委员会委员
    supervisor = "supervisor"  # 科室负责人

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    StaffRole.clerk: "经办人员",
    StaffRole.examination: "面检组",
    StaffRole.chief_examination: "总检组",
    StaffRole.recheck: "复核组",
    StaffRole.committee: "鉴定委员会委员",
    StaffRole.supervisor: "科室负责人",
}


class ActorCheck(CaseStep):
    """Who is `actor`? Its roster entry, its gateway client, and (art. 27) a conflict it
    declared with this case's worker or employer: one look-up for one step."""

    actor: str
    citizen_id: str = Field(repr=False, description="hashed by the activity")
    employer_credit_code: str


class ActorFacts(BaseModel):
    """What the roster and the gateway's clients say about an actor (activity `check_actor`)."""

    actor: str
    on_roster: bool = False
    active: bool = False  # on the roster and not retired
    roles: list[StaffRole] = []
    client: bool = False  # an active (not revoked) gateway client
    scopes: list[str] = []
    conflict: StaffConflict | None = None
