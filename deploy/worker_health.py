"""The worker container's health check: exit 0 while this container's worker
polls its task queue, 1 otherwise (docker-compose.yml, service `worker`).

Docker runs it inside the worker's container, whose host name is the one in the
worker's Temporal identity (`<pid>@<host name>`, the SDK's default). So a
replica whose process is alive but no longer polls (a lost connection, a
blocked event loop) turns unhealthy, not only one whose process died.

    python deploy/worker_health.py      (settings from CXLOOP_* variables)
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import datetime, timedelta, timezone

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from settings import get_settings
from workflows.client import connect

# A polling worker renews its long poll at least once a minute; Temporal keeps
# reporting a poller for minutes after it stopped, so the time matters.
POLLED_WITHIN = timedelta(minutes=2)
CHECK_TIMEOUT_SECONDS = 10


async def this_host_polls() -> str | None:
    """None when a worker on this host polls the task queue, else the reason."""
    settings = get_settings()
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    host = f"@{socket.gethostname()}"
    now = datetime.now(timezone.utc)
    for poller in described.pollers:
        polled_ago = now - poller.last_access_time.ToDatetime(timezone.utc)
        if poller.identity.endswith(host) and polled_ago < POLLED_WITHIN:
            return None
    return f"no worker on {host[1:]} polled task queue {settings.task_queue!r} in the last {POLLED_WITHIN}"


def main() -> int:
    try:
        problem = asyncio.run(asyncio.wait_for(this_host_polls(), CHECK_TIMEOUT_SECONDS))
    except Exception as error:  # unreachable Temporal, a timeout: unhealthy, with the reason shown
        problem = f"cannot ask Temporal: {error.__class__.__name__}: {error}"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit at once with the answer: the Temporal client's native runtime was
    # seen to crash (SIGSEGV) while the interpreter tore it down on a loaded
    # machine, which turned a clear 1 into -11. Nothing is left to clean up.
    os._exit(code)
