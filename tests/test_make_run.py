"""`make run`'s launcher end to end: the read model migrated, the dev server
with its SQLite file under the data dir, UI, worker, API and mail sink; a
ticket created through the API shows in the UI's API with its search
attributes, a web form's automatic reply lands in the sink; Ctrl-C (SIGINT)
stops everything."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import os
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.ticket import workflow_id_for
from store.db import make_engine
from store.models import Segment
from tests.api_fixtures import free_port
from workflows.client import connect

ROOT = Path(__file__).resolve().parent.parent


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
    port, ui_port, api_port, smtp_port = free_port(), free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        CXLOOP_TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        CXLOOP_TEMPORAL_UI_PORT=str(ui_port),
        CXLOOP_API_PORT=str(api_port),
        CXLOOP_DATA_DIR=str(tmp_path / "data"),
        CXLOOP_DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'cxloop.db'}",
        CXLOOP_TASK_QUEUE="make-run-test",
        CXLOOP_SMTP_PORT=str(smtp_port),
        CXLOOP_WORKER_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
    )
    launcher = subprocess.Popen(
        [sys.executable, "run.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        async def ui_answers() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=2) as response:
                return response.status == 200

        async def api_healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/healthz", timeout=2) as response:
                return response.status == 200

        await wait_until(ui_answers)
        await wait_until(api_healthy)
        assert (tmp_path / "data" / "temporal.db").exists()
        # A ticket through the API (its workspace configured in the read model).
        # A first run creates workspace "default" with segment "general".
        with Session(make_engine(env["CXLOOP_DATABASE_URL"])) as session:
            assert [(s.workspace_id, s.name) for s in session.scalars(select(Segment))] == [("default", "general")]
        api = f"http://127.0.0.1:{api_port}"
        # A first run creates an admin and keeps its password for the banner.
        password = (tmp_path / "data" / "first-admin-password").read_text().strip()
        async with httpx.AsyncClient(base_url=api, timeout=30) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/dashboard/tickets")).status_code == 303  # to the sign-in page
            form = await http.get("/login")
            login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
            signed_in = await http.post("/login", data={
                "username": "admin", "password": password, "csrf_token": login_csrf, "next": "/dashboard/tickets"})
            assert signed_in.status_code == 303, signed_in.text
            dashboard = await http.get("/dashboard/tickets")
            assert dashboard.status_code == 200 and "Default" in dashboard.text
            # The signed-in admin makes an API token for what follows.
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', dashboard.text).group(1)
            token = await http.post("/api/tokens", json={"name": "make run test"}, headers={"X-CSRF-Token": csrf})
            assert token.status_code == 201, token.text
            http.headers["Authorization"] = f"Bearer {token.json()['token']}"
            created = await http.post("/api/tickets", json={
                "customer_email": "a@example.com", "segment": "general", "comment": "walk-in"})
            assert created.status_code == 201, created.text
            changed = await http.patch(f"/api/tickets/{created.json()['id']}", json={"status": "open", "comment": "seen"})
            assert changed.status_code == 200 and changed.json()["status"] == "open"
            # The web form's automatic reply lands in the local mail sink.
            form = await http.post("/api/intake/form", json={"customer_email": "sam@example.com", "message": "hi"})
            assert form.status_code == 202, form.text
        mail_dir = tmp_path / "data" / "mail" / "new"

        async def mail_arrived() -> bool:
            return any(form.json()["reference"] in p.read_text() for p in mail_dir.glob("*"))

        await wait_until(mail_arrived, timeout=30)
        handle = (await connect(f"127.0.0.1:{port}")).get_workflow_handle(workflow_id_for(created.json()["id"]))

        found: list[dict] = []

        async def ui_lists_ticket() -> bool:
            query = urllib.parse.quote(f"TicketStatus='open' AND WorkflowId='{handle.id}'")
            url = f"http://127.0.0.1:{ui_port}/api/v1/namespaces/default/workflows?query={query}"
            with urllib.request.urlopen(url, timeout=2) as response:
                found[:] = json.load(response).get("executions", [])
            return bool(found)

        await wait_until(ui_lists_ticket, timeout=20)
        indexed = found[0]["searchAttributes"]["indexedFields"]
        assert {"TicketStatus", "TicketPriority", "TicketSegment", "TicketWorkspace"} <= set(indexed)
    finally:
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 0, output
    assert "stopping cxloop" in output
    assert "created the first admin 'admin'" in output and "sign in" in output
    with socket.socket() as sock:  # the server is gone: its port is free again
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: no library needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that may never reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_sigterm_to_make_runs_process_group_stops_all_four(tmp_path: Path) -> None:
    """A supervisor, or `kill -- -PGID`, signals make's whole process group;
    run.py hears it twice (from the kill and from make), and the second signal
    used to raise KeyboardInterrupt inside the shutdown and leave processes
    running."""
    port, api_port = free_port(), free_port()
    env = dict(
        os.environ,
        CXLOOP_TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        CXLOOP_TEMPORAL_UI_PORT=str(free_port()),
        CXLOOP_API_PORT=str(api_port),
        CXLOOP_DATA_DIR=str(tmp_path / "data"),
        CXLOOP_DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'cxloop.db'}",
        CXLOOP_TASK_QUEUE="make-run-sigterm-test",
        CXLOOP_SMTP_PORT=str(free_port()),
        CXLOOP_WORKER_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
    )
    # `make run` as the README says, in a process group of its own as under a
    # supervisor: the group's SIGTERM reaches make and run.py, and make passes
    # it on to run.py again. (The stamp is taken as made: .venv is installed.)
    launcher = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed-stamp", "run", f"PYTHON={sys.executable}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    started: list[int] = []
    try:
        async def api_healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/healthz", timeout=2) as response:
                return response.status == 200

        await wait_until(api_healthy)
        [run_py] = children_of(launcher.pid)
        started = children_of(run_py)
        assert len(started) == 4, "dev server, mail sink, worker and API"
        os.killpg(launcher.pid, signal.SIGTERM)
        output, _ = await asyncio.to_thread(launcher.communicate, timeout=60)
        await wait_until(lambda: asyncio.sleep(0, not running(run_py)), timeout=30)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for pid in started:  # never leave them to the next test
            if running(pid):
                os.killpg(pid, signal.SIGKILL)
    assert "stopping cxloop" in output
    assert [pid for pid in started if running(pid)] == []
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_make_test_brings_its_system_packages_or_says_how() -> None:
    """`make test` on a fresh machine: the Debian packages the tests need are
    installed when make runs as root, and a user who is not root is stopped
    at once with the exact command to run."""
    present = subprocess.run(["make", "--no-print-directory", "test-prerequisites"], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
    assert present.returncode == 0, present.stderr
    assert shutil.which("chromium") and shutil.which("docker-compose")
    # As a user who cannot install (nobody), with a package no machine has.
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.getuid() == 0 else []
    missing = subprocess.run(
        [*as_nobody, "make", "--no-print-directory", "-C", str(ROOT), "test-prerequisites",
         "TEST_SYSTEM_PACKAGES=chromium cxloop-no-such-package"],
        cwd="/", capture_output=True, text=True, timeout=60,
    )
    assert missing.returncode != 0
    assert "make test needs cxloop-no-such-package from Debian's packages" in missing.stderr
    assert "sudo apt-get install -y cxloop-no-such-package" in missing.stderr
