"""structlog for every process: JSON when not on a terminal, readable when on one.

Standard-library records (the Temporal SDK, workflow.logger) go through the same renderer, so
a workflow's lines carry `case_id` and `stage` passed as `extra`."""

from __future__ import annotations

import logging
import sys

import structlog
from temporalio import workflow

from infra.settings import settings


def configure(level: int = logging.INFO) -> None:
    json_output = settings().log_json
    if json_output is None:
        json_output = not sys.stderr.isatty()
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _drop_temporal_extras,
                renderer,
            ],
        )
    )
    # The ids travel as fields (below), not appended to every workflow message.
    workflow.logger.workflow_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _drop_temporal_extras(
    _: object, __: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The SDK attaches whole info dicts; keep the ids operators search by."""
    event.pop("color_message", None)  # uvicorn's ANSI copy of the message
    info = event.pop("temporal_workflow", None) or event.pop("temporal_activity", None)
    if isinstance(info, dict):
        event.setdefault("workflow_id", info.get("workflow_id"))
        event.setdefault("run_id", info.get("run_id"))
        event.setdefault("case_id", info.get("workflow_id"))
        if "activity_type" in info:
            event.setdefault("activity", info["activity_type"])
    return event


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
