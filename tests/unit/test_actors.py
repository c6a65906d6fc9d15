"""Who may send an event (workflows/actors.py): the pure decision on the looked-up facts."""

from __future__ import annotations

from schemas.events import ReviewLayer
from schemas.staff import ActorFacts, StaffRole
from workflows import actors


def test_a_member_with_a_fitting_role_or_a_client_with_the_scope_may_act() -> None:
    clerk = ActorFacts(actor="W0101", on_roster=True, active=True, roles=[StaffRole.clerk])
    assert actors.problem(clerk, actors.CLERK) is None
    assert actors.problem(clerk, actors.POSTAL) is None
    ems = ActorFacts(actor="ems-webhook", client=True, scopes=["postal"])
    assert actors.problem(ems, actors.POSTAL) is None
    supervisor = ActorFacts(actor="D0101", on_roster=True, active=True, roles=["supervisor"])
    assert actors.problem(supervisor, actors.COMMITTEE_OR_SUPERVISOR) is None


def test_every_refusal_names_the_actor_and_the_role_needed() -> None:
    chief = ActorFacts(
        actor="S0102", on_roster=True, active=True, roles=[StaffRole.chief_examination]
    )
    wrong_layer = actors.problem(chief, actors.layer(ReviewLayer.examination))
    assert (
        wrong_layer
        and "S0102 的角色为总检组" in wrong_layer
        and "面检组 (examination)" in wrong_layer
    )
    retired = ActorFacts(actor="S0101", on_roster=True, roles=[StaffRole.examination])
    assert "S0101 已离任" in (actors.problem(retired, actors.layer(ReviewLayer.examination)) or "")
    unknown = actors.problem(ActorFacts(actor="clerk"), actors.COMMITTEE)
    assert unknown and "clerk 不在工作人员名册中" in unknown and "鉴定委员会委员" in unknown
    hospital = ActorFacts(actor="hospital-1", client=True, scopes=["examinations"])
    lacking = actors.problem(hospital, actors.POSTAL)
    assert lacking and "hospital-1 lacks the scope" in lacking
