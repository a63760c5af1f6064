"""`make run`'s launcher end to end: dev server with its SQLite file under the
data dir, UI, worker; a ticket shows in the UI's API with its search
attributes; Ctrl-C (SIGINT) stops everything."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from domain.commands import NewTicket, TicketChange
from domain.ticket import Source, TicketPolicy, workflow_id_for
from workflows.client import connect
from workflows.ticket import TicketWorkflow, TicketWorkflowInput

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until(check, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            if await check():
                return
        except Exception:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.3)


async def test_run_starts_server_ui_worker_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    env = dict(
        os.environ,
        CXLOOP_TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        CXLOOP_TEMPORAL_UI_PORT=str(ui_port),
        CXLOOP_DATA_DIR=str(tmp_path / "data"),
        CXLOOP_TASK_QUEUE="make-run-test",
    )
    launcher = subprocess.Popen(
        [sys.executable, "run.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        async def ui_answers() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=2) as response:
                return response.status == 200

        await wait_until(ui_answers)
        assert (tmp_path / "data" / "temporal.db").exists()
        client = await connect(f"127.0.0.1:{port}")
        ticket_id = str(uuid.uuid4())
        handle = await client.start_workflow(
            TicketWorkflow.run,
            TicketWorkflowInput(
                new=NewTicket(id=ticket_id, source=Source.MANUAL, customer_email="a@example.com", segment="retail"),
                policy=TicketPolicy(segment_managers={"retail": ["ann"]}),
            ),
            id=workflow_id_for(ticket_id),
            task_queue="make-run-test",
        )
        # The worker that run.py started answers the update.
        state = await handle.execute_update(TicketWorkflow.change, TicketChange(status="open", comment="seen"))
        assert state.status == "open"

        found: list[dict] = []

        async def ui_lists_ticket() -> bool:
            query = urllib.parse.quote(f"TicketStatus='open' AND WorkflowId='{handle.id}'")
            url = f"http://127.0.0.1:{ui_port}/api/v1/namespaces/default/workflows?query={query}"
            with urllib.request.urlopen(url, timeout=2) as response:
                found[:] = json.load(response).get("executions", [])
            return bool(found)

        await wait_until(ui_lists_ticket, timeout=20)
        indexed = found[0]["searchAttributes"]["indexedFields"]
        assert {"TicketStatus", "TicketPriority", "TicketSegment", "TicketOwner"} <= set(indexed)
    finally:
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 0, output
    assert "stopping cxloop" in output
    with socket.socket() as sock:  # the server is gone: its port is free again
        assert sock.connect_ex(("127.0.0.1", port)) != 0
