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
        # No locals in tracebacks: they would print the case's personal data.
        else structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _OutsideSandbox(
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


class _OutsideSandbox(structlog.stdlib.ProcessorFormatter):
    """Renders a record also when workflow code logs it from inside Temporal's sandbox.

    The sandbox re-imports, under its restrictions, every module first imported there, and
    forbids os.path. The console renderer formats an exception with rich, which imports
    `rich` lazily and reads os.path at import: a workflow's log line with a traceback failed
    ("--- Logging error ---"). Rendering is not workflow logic, so it runs unrestricted, with
    the process's modules."""

    def format(self, record: logging.LogRecord) -> str:
        if not workflow.unsafe.in_sandbox():
            return super().format(record)
        with workflow.unsafe.sandbox_unrestricted(), workflow.unsafe.imports_passed_through():
            return super().format(record)


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
