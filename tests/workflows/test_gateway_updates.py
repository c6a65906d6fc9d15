"""The updates the gateway and the CLI send (`report_postal_event`,
`report_examination_results`): the signals' checks and effects, but with an answer, so a
refusal comes back with the case's reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from schemas.events import ExaminationOrder, ExaminationResults, PostalEvent, PostalStatus
from schemas.steps import Stage
from schemas.vocabulary import CloseReason
from tests.conftest import CaseEnv
from tests.helpers import Driver, china, example, new_id, refused
from workflows.case import AppraisalCase
from workflows.gate import REPEAT


def signed_for(waybill_no: str, event_id: str | None = None) -> PostalEvent:
    return PostalEvent(
        event_id=event_id or new_id("ems"),
        actor="ems-webhook",
        waybill_no=waybill_no,
        status=PostalStatus.delivered,
        occurred_at=datetime.now(UTC),
        signer="本人",
    )


async def test_postal_and_examination_updates_answer_for_the_case(case_env: CaseEnv) -> None:
    async with case_env(china(2026, 10, 12)) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.until(lambda s: s.appointment is not None)
        assert "本案尚未寄出结论书" in await refused(
            case, AppraisalCase.report_postal_event, signed_for("EA000000000CN")
        )
        results = ExaminationResults(event_id=new_id("r"), actor="W0101", summary="正常")
        assert "没有待回的委托检查" in await refused(
            case, AppraisalCase.report_examination_results, results
        )

        await case.attend()
        order = ExaminationOrder(
            event_id=new_id("o"), actor="W0101", hospital="济宁市第一人民医院", items=["肌电图"]
        )
        await case.update(AppraisalCase.commission_examination, order)
        # Through the gateway the hospital is the credential's: only the commissioned one.
        elsewhere = results.model_copy(update={"hospital": "济宁医学院附属医院"})
        assert "结果只收受委托医院的" in await refused(
            case, AppraisalCase.report_examination_results, elsewhere
        )
        results = results.model_copy(update={"hospital": order.hospital})
        answer = await case.update(AppraisalCase.report_examination_results, results)
        assert answer == "examination results recorded"
        status = await case.status()
        assert not any("examination" in action for action in status.pending_actions)

        status = await case.conclude()
        first, second = status.shipments
        event = signed_for(first.waybill_no)
        answer = await case.update(AppraisalCase.report_postal_event, event)
        assert answer == f"postal event delivered recorded for {first.waybill_no}"
        # The same event under another update id: the case knows it by its event id.
        again = cast(  # the SDK types a described handler's result as its coroutine
            str,
            await case.handle.execute_update(
                AppraisalCase.report_postal_event, event, id=new_id("retry")
            ),
        )
        assert again == REPEAT + answer
        await case.update(AppraisalCase.report_postal_event, signed_for(second.waybill_no))
        final = await case.result()
        assert final.stage is Stage.archived and final.closed is CloseReason.delivered
        assert {s.signer for s in final.shipments} == {"本人"}
