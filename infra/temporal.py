"""Temporal client and worker plumbing shared by the worker, the CLI and the tests."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError
from temporalio.service import TLSConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from infra.codec import EncryptionCodec, load_keys
from infra.settings import Settings, settings
from schemas.application import AppraisalApplication
from schemas.status import CaseStatus

CASE_WORKFLOW = "AppraisalCase"
# The server's failure type for an update a completed workflow task did not reach: the case
# never saw it (a worker or server restarted between delivery and completion).
UNPROCESSED_UPDATE = "UnprocessedUpdate"


def data_converter(config: Settings | None = None) -> DataConverter:
    """The one converter of every client, worker and Replayer: pydantic JSON, then encrypted
    (infra/codec.py); failure messages and stack traces move into an encrypted payload."""
    config = config or settings()
    keys = load_keys(config.payload_keys, config.payload_keys_path)
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(config: Settings | None = None, converter: DataConverter | None = None) -> Client:
    config = config or settings()
    return await Client.connect(
        config.temporal_address,
        namespace=config.temporal_namespace,
        data_converter=converter or data_converter(config),
        tls=tls(config),
        api_key=config.temporal_api_key,
    )


def tls(config: Settings) -> TLSConfig | bool:
    """Mutual TLS when a client certificate is configured (production), else plain gRPC."""
    if config.temporal_tls_cert is None or config.temporal_tls_key is None:
        return False
    ca = config.temporal_tls_ca
    return TLSConfig(
        client_cert=config.temporal_tls_cert.read_bytes(),
        client_private_key=config.temporal_tls_key.read_bytes(),
        server_root_ca_cert=ca.read_bytes() if ca else None,
        domain=config.temporal_tls_server_name,
    )


async def start_case(
    client: Client,
    application: AppraisalApplication,
    case_id: str,
    task_queue: str | None = None,
    **options: Any,
) -> WorkflowHandle[Any, CaseStatus]:
    """Start a case. The workflow takes its input raw and validates it itself (so that no
    payload can wedge it), hence the start by name; the result is typed here."""
    return await client.start_workflow(
        CASE_WORKFLOW,
        application,
        id=case_id,
        task_queue=task_queue or settings().task_queue,
        result_type=CaseStatus,
        **options,
    )


async def send_event(
    handle: WorkflowHandle[Any, Any], update: Any, event: Any, event_id: str, **options: Any
) -> Any:
    """The case's answer to an event sent as the update `update` with the event id as the
    update id (the server answers a repeat with the first outcome). An update the server
    rejected as unprocessed never reached the case, so it goes again with the same id, with a
    growing pause; callers bound the whole with their answer timeout."""
    pause = 0.2
    while True:
        try:
            return await handle.execute_update(update, event, id=event_id, **options)
        except WorkflowUpdateFailedError as failed:
            if not unprocessed(failed):
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)


def unprocessed(failed: WorkflowUpdateFailedError) -> bool:
    cause = failed.cause
    return isinstance(cause, ApplicationError) and cause.type == UNPROCESSED_UPDATE


class CaseLogContext(Interceptor):
    """Binds case id, stage and run id to every log line an activity writes."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindCase(next)


class _BindCase(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        stage = getattr(input.args[0], "stage", None) if input.args else None
        with structlog.contextvars.bound_contextvars(
            case_id=info.workflow_id,
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            stage=str(stage.value) if stage is not None else None,
            activity=info.activity_type,
        ):
            return await super().execute_activity(input)
