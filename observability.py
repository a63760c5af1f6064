"""How cxloop's processes report on themselves: their log lines and the
worker's metrics endpoint.

- Logs: one JSON object per line on stderr (`CXLOOP_LOG_FORMAT=json`, the
  default) with timestamp, level, logger, message and, when known, ticket_id and
  workflow_id, so a log store can find every line about one ticket; or plain
  text for a human at a terminal (`CXLOOP_LOG_FORMAT=text`).
- Worker metrics: the Temporal SDK's own Prometheus endpoint
  (`CXLOOP_WORKER_METRICS_ADDRESS`), which also serves the domain metrics the
  projection records through the SDK's metric meter (activities/projection.py).
  The API's metrics are in api/metrics.py.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter
from pythonjsonlogger.core import RESERVED_ATTRS
from temporalio import activity, workflow
from temporalio.common import MetricMeter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from activities.projection import PROJECTION_LAG_BUCKETS, PROJECTION_LAG_METRIC
from domain.ticket import workflow_id_for

LogFormat = Literal["json", "text"]

log = logging.getLogger("cxloop.observability")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Every ticket's workflow id is "ticket-<ticket id>" (domain.ticket.workflow_id_for).
TICKET_WORKFLOW_PREFIX = workflow_id_for("")

# The loggers uvicorn configures with handlers of its own: their records go to
# the root handler instead, so the API's lines share one format.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class TicketLogFormatter(JsonFormatter):
    """One JSON object per record: timestamp, level, logger, message, then any
    `extra=` fields. Temporal's loggers put the workflow's details in a dict
    (`temporal_workflow` from workflow.logger, `temporal_activity` from
    activity.logger); workflow_id is lifted out of it to the top level, and a
    ticket workflow's id also gives the ticket_id."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
            # uvicorn's colored copy of its message is noise in a log store,
            # and the SDK core's raw record is already in the message.
            reserved_attrs=[*RESERVED_ATTRS, "color_message", "temporal_log"],
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        temporal = getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None)
        workflow_id = (temporal or {}).get("workflow_id")
        if workflow_id:
            log_data.setdefault("workflow_id", workflow_id)
            if workflow_id.startswith(TICKET_WORKFLOW_PREFIX):
                log_data.setdefault("ticket_id", workflow_id.removeprefix(TICKET_WORKFLOW_PREFIX))


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Send every log record of this process to one handler on stderr, in
    `log_format`. Called once at a process's start (worker.py, and the API
    when uvicorn loads `api.app:app`)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(TicketLogFormatter())
        # The JSON fields already carry the workflow's and activity's details:
        # Temporal's loggers need not repeat them as a dict inside the message.
        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Python's warnings as log records too, so that every line is in the format.
    logging.captureWarnings(True)
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True


# Python's garbage collector pauses the whole worker while it runs: a full
# collection of a worker holding thousands of tickets in memory took up to
# 1.5 s in the soak (README, Performance).
GC_PAUSE_METRIC = "cxloop_worker_gc_pause_seconds"
GC_PAUSE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]


def watch_garbage_collector(meter: MetricMeter) -> None:
    """Record each of this process's garbage collections, its pause and its
    generation, in the histogram GC_PAUSE_METRIC (through `gc.callbacks`)."""
    pause = meter.create_histogram_float(GC_PAUSE_METRIC, "Seconds each garbage collection paused the worker", "s")
    by_generation = [pause.with_additional_attributes({"generation": str(g)}) for g in range(3)]
    started = 0.0

    def observe(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            by_generation[info["generation"]].record(time.perf_counter() - started)

    gc.callbacks.append(observe)


def worker_runtime(metrics_address: str) -> Runtime:
    """The worker's Temporal runtime. Its metrics (the SDK's own and those
    cxloop records through its metric meter) are served for Prometheus on
    http://<metrics_address>/metrics; none when `metrics_address` is empty or
    taken (logged): a worker without metrics still runs every ticket, which
    matters more. The SDK core's own log lines (Rust) come through Python's
    logging as "temporalio.core...", so they too are JSON lines."""
    core_logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    if metrics_address:
        prometheus = PrometheusConfig(
            bind_address=metrics_address,
            histogram_bucket_overrides={
                PROJECTION_LAG_METRIC: PROJECTION_LAG_BUCKETS,
                GC_PAUSE_METRIC: GC_PAUSE_BUCKETS,
            },
        )
        try:
            runtime = Runtime(telemetry=TelemetryConfig(logging=core_logs, metrics=prometheus))
        except ValueError as error:  # the SDK's "Failed starting Prometheus exporter"
            log.error("worker metrics are not served on %s: %s", metrics_address, error)
        else:
            log.info("worker metrics on http://%s/metrics", metrics_address)
            return runtime
    return Runtime(telemetry=TelemetryConfig(logging=core_logs))
