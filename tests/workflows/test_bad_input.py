"""The bad-input run: malformed applications and events, generated (tests/bad_input.py), through
every door a client has: a case started with a raw JSON payload (the Web UI's and `temporal
workflow start --input`'s path), the `appraisal` CLI, updates and signals with raw payloads to
a running case, and the HTTP gateway. Each is refused naming the field (or the input as a
whole), without repeating personal data; no bad start is left Running; the running case keeps
its state and history (a signal's arrival aside); PostgreSQL gets no row.

Examples are derandomized (the same ones in every run) and counted per door; the counts are
printed at the end."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from typer.testing import CliRunner

import starter.cli  # noqa: F401  (registers every command on the app)
from gateway import clients
from schemas import events
from starter.app import REFUSED
from starter.app import app as cli
from tests.bad_input import Malformed, any_malformed, windows
from tests.conftest import TASK_QUEUE, CaseEnv
from tests.gateway_fixtures import bearer, gateway_at, signed_headers
from tests.helpers import (
    Driver,
    china,
    describe_raw,
    example,
    example_json,
    failure_chain,
    new_id,
)

MONDAY = china(2026, 10, 12)
# Examples per door: the whole run stays near a minute on two cores.
STARTS, CLI_STARTS, CLI_OPTIONS, UPDATES, SIGNALS, BODIES = 60, 40, 20, 80, 30, 80
APPLICATION_REQUIRED = ("case_type", "applicant", "worker", "employer", "injury", "materials")
EVENT_REQUIRED = ("event_id", "actor")
TABLES = ("cases", "case_events", "outbox")
RUNNING = WorkflowExecutionStatus.RUNNING.value
WHOLE = [  # the input as a whole: (inputs as JSON texts, what the run calls it)
    ([], "no input"),
    (["null"], "null"),
    (["[1, 2]"], "a list"),
    (["3"], "a number"),
    (['"申请"'], "a text"),
    (["{}", "{}"], "two inputs"),
    (['{"case_type": "initial",'], "not JSON"),
]

T = TypeVar("T")

# A courier's text, scrubbed of stray characters rather than refused (schemas.strict.Scrubbed).
COURIER_TEXT = ("signer", "reason")


def raw(text: str) -> RawValue:
    """A payload as the UI and the temporal CLI send it: JSON text, not made by our models."""
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=text.encode()))


def as_text(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False)


def generated(strategy: st.SearchStrategy[T], count: int, check: Callable[[T], None]) -> None:
    """Run `check` on `count` derandomized examples (hypothesis in this thread)."""

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(example: T) -> None:
        check(example)

    run()


async def through(
    strategy: st.SearchStrategy[T], count: int, door: Callable[[T], Coroutine[Any, Any, None]]
) -> None:
    """`door` on each example, on this event loop; hypothesis drives it from a thread."""
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(
        generated,
        strategy,
        count,
        lambda example: asyncio.run_coroutine_threadsafe(door(example), loop).result(60),
    )


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def refused(
        self, door: str, message: str, field: str | tuple[str, ...], personal: list[str]
    ) -> None:
        """A refusal: it names `field` (or one of them) and repeats nothing of `personal`."""
        self.counts["generated"] += 1
        self.counts[door] += 1
        leaked = [w for value in personal for w in windows(value) if w in message]
        assert not leaked, f"{door}: the refusal repeats personal data"
        named = (field,) if isinstance(field, str) else field
        assert any(f in message for f in named), f"{door}: {field} not named in: {message}"
        self.counts["named"] += 1


def names_field(field: str) -> str:
    return f"{field}:"  # "worker.address.text: 含有控制字符 U+202E (…)"


def personal_of(application: dict[str, Any]) -> list[str]:
    worker, employer = application["worker"], application["employer"]
    return [
        worker["citizen_id"],
        worker["mobile"],
        worker["name"],
        worker["address"]["text"],
        employer["credit_code"],
    ]


async def rows(db_pool: asyncpg.Pool) -> dict[str, int]:
    return {t: await db_pool.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


# --- door 1: a case started with a raw JSON payload ------------------------------------------


async def closed(handle: WorkflowHandle[Any, Any]) -> None:
    async def poll() -> None:  # the server's state: no event to wait on
        while (await describe_raw(handle)).workflow_execution_info.status == RUNNING:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), 30)


async def start_refused(env: Any, inputs: list[str]) -> tuple[str, WorkflowHandle[Any, Any]]:
    handle = await env.client.start_workflow(
        "AppraisalCase",
        args=[raw(text) for text in inputs],
        id=new_id("BAD"),
        task_queue=TASK_QUEUE,
    )
    await closed(handle)  # not result(): waiting on it lets the test server skip time
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    error = failed.value.cause
    assert isinstance(error, ApplicationError) and error.type == "InvalidApplication"
    assert error.non_retryable
    return error.message, handle


# --- door 3: updates and signals with raw payloads --------------------------------------------

# One valid payload per update and signal; each example breaks one thing in one of them.
EVENTS: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "issue_supplement_notice": (
        events.SupplementNotice,
        {"items": [{"kind": "diagnosis", "note": "缺诊断证明原件"}]},
    ),
    "extend_supplement_deadline": (
        events.SupplementExtension,
        {"reason": "申请人住院治疗", "until": "2026-11-20"},
    ),
    "redraw_panel": (events.PanelRedraw, {"reason": "专家库已补充"}),
    "request_recusal": (
        events.RecusalRequest,
        {"expert_id": "EXP-012", "requested_by": "worker", "reason": "曾为职工诊治"},
    ),
    "reschedule": (
        events.Reschedule,
        {"at": "2026-10-20T09:00:00+08:00", "place": "鉴定大厅", "reason": "职工住院"},
    ),
    "record_attendance": (
        events.AttendanceRecord,
        {"status": "no_show", "identity_verified": False, "good_reason": "交通中断"},
    ),
    "commission_examination": (
        events.ExaminationOrder,
        {"hospital": "济宁市第一人民医院", "items": ["肌电图", "头颅CT"]},
    ),
    "report_examination_results": (
        events.ExaminationResults,
        {"summary": "肌电图: 正常\n头颅CT: 未见异常", "hospital": "济宁市第一人民医院"},
    ),
    "record_opinion": (
        events.ExpertOpinion,
        {"expert_id": "EXP-001", "outcome": {"verdict": "grade_8", "self_care": "none"}},
    ),
    "sign_off_review": (
        events.ReviewSignoff,
        {"layer": "examination", "approve": False, "reason": "复核依据", "signer": "王审核"},
    ),
    "issue_conclusion": (
        events.ConclusionDecision,
        {"outcome": {"verdict": "grade_8"}, "findings": "腰椎压缩骨折", "clause": "5.8.2.9"},
    ),
    "report_postal_event": (
        events.PostalEvent,
        {
            "waybill_no": "EA000000000CN",
            "status": "returned",
            "occurred_at": "2026-10-13T10:00:00+08:00",
            "reason": "拒收",
        },
    ),
    "correct_address": (
        events.AddressCorrection,
        {
            "recipient": "worker",
            "address": {"text": "山东省济宁市任城区建设路1号", "postal_code": "272000"},
            "reason": "地址有误",
        },
    ),
    "request_re_appraisal": (
        events.ReAppraisalRequest,
        {"requested_by": "worker", "received_on": "2026-10-12", "reason": "对结论不服"},
    ),
}
SIGNALS_OF: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "materials_supplemented": (
        events.MaterialsSupplemented,
        {"materials": [{"kind": "diagnosis", "title": "诊断证明书", "pages": 2}]},
    ),
    "examination_results": (events.ExaminationResults, {"summary": "正常"}),
    "postal_event": (
        events.PostalEvent,
        {
            "waybill_no": "EA000000000CN",
            "status": "delivered",
            "occurred_at": "2026-10-13T10:00:00Z",
        },
    ),
}


def with_sender(payload: dict[str, Any], n: int) -> dict[str, Any]:
    return {"event_id": f"bad-{n}", "actor": "W0101", **payload}


def event_cases(
    table: dict[str, tuple[type[BaseModel], dict[str, Any]]],
) -> st.SearchStrategy[tuple[str, Malformed]]:
    strategies = []
    for n, (handler, (model, payload)) in enumerate(table.items()):
        valid = with_sender(payload, n)
        model.model_validate(valid)  # the template is good: only the change makes it bad
        strategies.append(st.tuples(st.just(handler), any_malformed(valid, EVENT_REQUIRED)))
    return st.one_of(strategies)


def essentials(status: Any) -> dict[str, Any]:
    """The case's state as the status query shows it, less the clock's countdown."""
    dumped: dict[str, Any] = status.model_dump(mode="json")
    for deadline in dumped["deadlines"]:
        deadline.pop("seconds_left")
    return dumped


async def quiet(handle: WorkflowHandle[Any, Any]) -> list[int]:
    """The case's history once no workflow task or activity is pending: its event types."""
    while True:
        described = await describe_raw(handle)
        if not described.pending_activities and not described.HasField("pending_workflow_task"):
            return [event.event_type async for event in handle.fetch_history_events()]
        await asyncio.sleep(0.05)


SIGNAL_TRACE = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


class SignalDrops(logging.Handler):
    """The word when a signal is dropped, handed from the worker's workflow thread to the
    test's event loop: the SDK's when its payload does not decode (the reason is the error it
    logs), workflows/inputs.py's when it is not one payload."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self.loop = loop
        self.reasons: asyncio.Queue[str] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "dropping the signal" in message and record.exc_info:
            reason = failure_chain(record.exc_info[1])
        elif "dropped: input:" in message:
            reason = message
        else:
            return
        self.loop.call_soon_threadsafe(self.reasons.put_nowait, reason)


# --- the run ---------------------------------------------------------------------------------


async def test_bad_input_run(
    case_env: CaseEnv,
    db_pool: asyncpg.Pool,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tally = Tally()
    application = example_json("re_appraisal", fresh_worker=True)
    personal = personal_of(application)
    left_running = 0
    async with case_env(MONDAY) as env:
        before = await rows(db_pool)
        # Door 1: the Web UI's path, the input as a whole and one field wrong.
        starts: list[WorkflowHandle[Any, Any]] = []
        for inputs, _ in WHOLE:
            message, handle = await start_refused(env, inputs)
            tally.refused("start", message, "input:", personal)
            starts.append(handle)

        async def start(bad: Malformed) -> None:
            message, handle = await start_refused(env, [as_text(bad.document)])
            tally.refused("start", message, names_field(bad.field), personal)
            starts.append(handle)

        # Personal data where the refusal could repeat it: a wrong check digit, an ID as the
        # value of an unknown field.
        citizen_id = application["worker"]["citizen_id"]
        wrong_digit = citizen_id[:-1] + ("1" if citizen_id[-1] != "1" else "2")
        worker = {**application["worker"], "citizen_id": wrong_digit}
        for document, field in (
            ({**application, "worker": worker}, "worker.citizen_id"),
            ({**application, "nickname": citizen_id}, "nickname"),
        ):
            await start(Malformed(document, field, "personal data"))
        await through(any_malformed(application, APPLICATION_REQUIRED), STARTS, start)
        for handle in starts:
            described = await describe_raw(handle)
            if described.workflow_execution_info.status != WorkflowExecutionStatus.FAILED.value:
                left_running += 1

        # Door 2: the CLI, in this process: `appraisal start -` and event options.
        runner = CliRunner()

        def cli_start(bad: Malformed) -> None:
            result = runner.invoke(cli, ["start", "-"], input=as_text(bad.document))
            assert result.exit_code == REFUSED, result.output
            tally.refused("cli", result.output, names_field(bad.field), personal)

        await asyncio.to_thread(
            generated, any_malformed(application, APPLICATION_REQUIRED), CLI_STARTS, cli_start
        )
        texts = st.tuples(
            st.text("受理材料", min_size=1, max_size=4),
            st.sampled_from(["\x00", "\r", "\x1b", "\u202e", "\u2066", "\u200f", "\u061c"]),
            st.text("原因", min_size=1, max_size=4),
        ).map("".join)
        numbers = st.integers(0, 2_000_000_000).map(str)  # a date or time as a number
        options = st.one_of(  # (command, option, the field it fills, its value)
            st.tuples(
                st.sampled_from(
                    [
                        (["redraw", "JN-X"], "--reason", "reason"),
                        (["examination-refused", "JN-X"], "--reason", "reason"),
                        (["attend", "JN-X", "--no-show"], "--good-reason", "good_reason"),
                        (
                            ["schedule", "JN-X", "--at", "2026-10-20T09:00:00+08:00"],
                            "--place",
                            "place",
                        ),
                        (["examination", "JN-X", "--item", "肌电图"], "--hospital", "hospital"),
                        (["examination-results", "JN-X"], "--summary", "summary"),
                    ]
                ),
                texts,
            ),
            st.tuples(
                st.sampled_from(
                    [
                        (["extend-supplement", "JN-X", "--reason", "住院"], "--until", "until"),
                        (["schedule", "JN-X", "--place", "大厅"], "--at", "at"),
                    ]
                ),
                numbers,
            ),
        )

        def cli_option(choice: tuple[tuple[list[str], str, str], str]) -> None:
            (command, option, field), value = choice
            result = runner.invoke(cli, [*command, option, value, "--actor", "W0101"])
            assert result.exit_code == REFUSED, result.output
            tally.refused("cli", result.output, names_field(field), personal)

        await asyncio.to_thread(generated, options, CLI_OPTIONS, cli_option)

        assert await rows(db_pool) == before  # nothing written by a refused start

        # A running case for the events, settled before anything is sent to it.
        case = await Driver.start(env, example("initial_complete"), task_queue=TASK_QUEUE)
        await case.until(lambda s: s.appointment is not None)
        history = await quiet(case.handle)
        state = essentials(await case.status())
        before = await rows(db_pool)

        # Door 3: updates and signals with raw payloads to the running case.
        async def update(example: tuple[str, Malformed]) -> None:
            handler, bad = example
            with pytest.raises(WorkflowUpdateFailedError) as failed:
                await case.handle.execute_update(handler, raw(as_text(bad.document)))
            tally.refused("update", failure_chain(failed.value), f"\n{bad.field}\n", personal)

        await through(event_cases(EVENTS), UPDATES, update)
        # The input as a whole: workflows/inputs.py's word, or pydantic's for one payload of
        # the wrong kind (no field to name: "Input should be an object", "Invalid JSON").
        whole = ("input:", "Input should be an object", "Invalid JSON")
        for handler in ("record_attendance", "reschedule"):
            for inputs, _ in WHOLE:
                with pytest.raises(WorkflowUpdateFailedError) as failed:
                    await case.handle.execute_update(handler, args=[raw(t) for t in inputs])
                tally.refused("update", failure_chain(failed.value), whole, personal)

        drops = SignalDrops(asyncio.get_running_loop())
        logs = [
            logging.getLogger(n)
            for n in ("temporalio.worker._workflow_instance", "temporalio.workflow")
        ]
        for log in logs:
            log.addHandler(drops)
        try:

            async def signal(example: tuple[str, Malformed]) -> None:
                handler, bad = example
                await case.handle.signal(handler, raw(as_text(bad.document)))
                reason = await asyncio.wait_for(drops.reasons.get(), 30)
                tally.refused("signal", reason, f"\n{bad.field}\n", personal)

            await through(event_cases(SIGNALS_OF), SIGNALS, signal)
            for inputs, _ in WHOLE:
                await case.handle.signal("materials_supplemented", args=[raw(t) for t in inputs])
                reason = await asyncio.wait_for(drops.reasons.get(), 30)
                tally.refused("signal", reason, whole, personal)
        finally:
            for log in logs:
                log.removeHandler(drops)

        # Door 4: the HTTP gateway, its cases on this server.
        conn = await asyncpg.connect(database_url)
        try:
            suffix = new_id("")
            scopes = [clients.Scope.ledger, clients.Scope.re_appraisal]
            hospital = await clients.add(
                conn, f"h{suffix}", "济宁市第一人民医院", [clients.Scope.examinations]
            )
            hotline = await clients.add(conn, f"l{suffix}", "12345 热线", scopes)
        finally:
            await conn.close()
        ledger_before = await db_pool.fetchval("SELECT count(*) FROM ledger_entries")
        webhooks_before = await db_pool.fetchval("SELECT count(*) FROM postal_webhooks")
        target = env.client.service_client.config.target_host
        bodies: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
            f"/v1/cases/{case.handle.id}/examination-results": (
                {"event_id": "emg-1", "summary": "肌电图: 正常\n神经传导: 正常"},
                bearer(hospital),
            ),
            f"/v1/cases/{case.handle.id}/re-appraisal-requests": (
                {
                    "event_id": "req-1",
                    "requested_by": "worker",
                    "received_on": "2026-10-12",
                    "reason": "对结论不服",
                },
                bearer(hotline),
            ),
            "/v1/ledger": (
                {
                    "event_id": "q-1",
                    "source": "12345",
                    "category": "benefits",
                    "question": "是否收费?",
                    "owner": "W0101",
                },
                bearer(hotline),
            ),
            "/v1/postal/webhooks": (
                {
                    "event_id": "EA0:1",
                    "reference": case.handle.id,
                    "waybill_no": "EA000000000CN",
                    "status": "delivered",
                    "occurred_at": "2026-10-13T10:00:00+08:00",
                    "signer": "本人",
                },
                {},
            ),
        }
        strategy = st.one_of(
            [
                st.tuples(
                    st.just(path),
                    any_malformed(
                        body,
                        ("event_id",),
                        unknown="postal" not in path,
                        scrubbed=COURIER_TEXT if "postal" in path else (),
                    ),
                )
                for path, (body, _) in bodies.items()
            ]
        )
        async with gateway_at(target, database_url) as http:

            async def post(example: tuple[str, Malformed]) -> None:
                path, bad = example
                content = as_text(bad.document).encode()
                headers = {"Content-Type": "application/json", **bodies[path][1]}
                if path == "/v1/postal/webhooks":  # signed, as the courier signs
                    headers = signed_headers(content, "EA0:1")
                sent = await http.post(path, content=content, headers=headers)
                assert sent.status_code == 422, (path, bad, sent.text)
                answer = sent.json()
                assert answer["error"] == "invalid_request", answer
                tally.refused("gateway", answer["message"], names_field(bad.field), personal)

            await through(strategy, BODIES, post)

        # Nothing moved: the case, its history (the signals' arrival aside), PostgreSQL.
        assert essentials(await case.status()) == state
        after = await quiet(case.handle)
        assert after[: len(history)] == history
        assert set(after[len(history) :]) <= SIGNAL_TRACE
        now = await rows(db_pool)
        written = sum(now[t] - before[t] for t in TABLES)
        written += await db_pool.fetchval("SELECT count(*) FROM ledger_entries") - ledger_before
        written += await db_pool.fetchval("SELECT count(*) FROM postal_webhooks") - webhooks_before
        await case.handle.terminate("test over")

    counts = tally.counts
    line = (
        f"bad-input run: {counts['generated']} generated "
        f"(start {counts['start']}, cli {counts['cli']}, update {counts['update']}, "
        f"signal {counts['signal']}, gateway {counts['gateway']}), "
        f"{counts['named']} refused with a field named, {left_running} left running, "
        f"{written} rows written"
    )
    with capsys.disabled():
        print(f"\n{line}")
    assert counts["named"] == counts["generated"] and left_running == 0 and written == 0
