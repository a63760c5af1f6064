"""What the benchmarks share: latency figures, the printed tables and goals,
throwaway read-model databases, cxloop laid out in processes as `make run` lays
it out, and a watchdog that bounds a whole run.

Every figure is wall-clock time from `time.perf_counter`; a percentile is
interpolated between the two nearest samples (numpy's default), so p99 of 300
samples is not simply the third-largest one.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent

# The server that throwaway PostgreSQL databases are created on (and dropped from).
POSTGRES_ADMIN_URL = os.environ.get(
    "CXLOOP_BENCH_POSTGRES_URL",
    os.environ.get("CXLOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
)


class BenchError(Exception):
    """The benchmark could not measure what it set out to (an error answer, a
    wrong result, a database that cannot be reached): the run exits non-zero."""


# --- figures -----------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * fraction
    below = int(position)
    above = min(below + 1, len(sorted_values) - 1)
    return sorted_values[below] + (sorted_values[above] - sorted_values[below]) * (position - below)


@dataclass(frozen=True)
class Latency:
    """The latencies of one measured phase, in seconds."""

    name: str
    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float
    # Wall time of the whole phase (for throughput); None when not meaningful.
    wall: float | None = None
    note: str = ""

    @classmethod
    def of(cls, name: str, samples: Sequence[float], wall: float | None = None, note: str = "") -> Latency:
        ordered = sorted(samples)
        if not ordered:
            raise BenchError(f"{name}: no samples")
        return cls(
            name=name,
            count=len(ordered),
            p50=percentile(ordered, 0.50),
            p95=percentile(ordered, 0.95),
            p99=percentile(ordered, 0.99),
            mean=sum(ordered) / len(ordered),
            max=ordered[-1],
            wall=wall,
            note=note,
        )

    @property
    def throughput(self) -> float | None:
        return self.count / self.wall if self.wall else None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator > 0 else "n/a"


def goal(met: bool) -> str:
    return "goal met" if met else "goal missed"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Sequence[bool] | None = None
) -> str:
    """A plain-text table; columns flagged in `right` are right-aligned (numbers)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    right = right or [False] * len(headers)

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def latency_table(rows: Sequence[Latency]) -> str:
    body = [[row.name, *latency_cells(row), row.note] for row in rows]
    headers = ["phase", *LATENCY_HEADERS, ""]
    return table(headers, body, right=[False] + [True] * len(LATENCY_HEADERS) + [False])


def latency_cells(row: Latency) -> list[str]:
    """n, p50, p95, p99, mean, max (ms) and throughput, as table cells."""
    throughput = row.throughput
    return [
        str(row.count),
        ms(row.p50),
        ms(row.p95),
        ms(row.p99),
        ms(row.mean),
        ms(row.max),
        f"{throughput:.1f}" if throughput is not None else "-",
    ]


LATENCY_HEADERS = ["n", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms", "per s"]


def section(title: str) -> None:
    print()
    print(title)
    print("=" * len(title))


def machine_line() -> str:
    return f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform(terse=True)}"


def load_line() -> str:
    """The machine's load: figures taken while other work competes for the
    cores are slower and noisier, so the report says how busy it was."""
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    busy = "  (busy: other processes compete for the cores; expect noisy figures)" if one > cores else ""
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {cores} cores{busy}"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (another one, by pid) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- databases ----------------------------------------------------------------------


@contextmanager
def postgres_database(prefix: str = "cxloop_bench") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards (even
    when the benchmark fails)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as err:
            shown = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
            raise BenchError(
                f"cannot create a database on {shown} ({err}); set CXLOOP_BENCH_POSTGRES_URL"
            ) from err
        try:
            yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # FORCE: a pooled connection left open must not keep it alive.
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def read_model_database(kind: str, directory: Path) -> Iterator[str]:
    """An empty read model database: a SQLite file in `directory`, or a
    throwaway PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'read-model-{uuid.uuid4().hex[:8]}.db'}"
    elif kind == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        raise BenchError(f"unknown database {kind!r}: sqlite or postgresql")


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# --- the load generator -----------------------------------------------------------------


def lighten_httpx() -> None:
    """httpcore asks `import sniffio` several times per request; where sniffio
    is not installed (newer anyio no longer needs it) every ask is a failed
    import that searches all of sys.path, about 0.5 ms of CPU per request in
    the load generator, taken from the server it shares the cores with.
    Marking it absent in sys.modules makes the failed import immediate; where
    sniffio is installed nothing changes."""
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


# --- bounds ---------------------------------------------------------------------------


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Child processes started inside (the dev server prints a banner) write
    their stdout to stderr, keeping this process's stdout for the report."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_pids() -> list[int]:
    """The processes this one started (e.g. the Temporal dev server)."""
    pids: list[int] = []
    for task in Path("/proc/self/task").glob("*"):
        try:
            pids.extend(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    return pids


class Watchdog:
    """The last resort bound of a run: when the soft time limits inside the
    benchmark did not stop it, print where every thread is, stop the child
    processes this one started (by pid) and exit with status 3."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        print(f"\nbench: still running after {self.seconds:.0f} s; stopping it", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for pid in child_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        os._exit(3)


def run_async_bench(prog: str, run: Callable[[], Awaitable[None]], timeout: float) -> int:
    """The `main` of an async benchmark: run it under a watchdog, and turn its
    errors into a message and exit status 1 (a missed goal is not an error)."""
    lighten_httpx()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with Watchdog(timeout):
            asyncio.run(run())
    except BenchError as error:
        print(f"\n{prog}: error: {error}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"\n{prog}: error: the run took longer than {timeout:.0f} s", file=sys.stderr)
        return 1
    return 0


# --- cxloop in processes of its own ------------------------------------------------------


@dataclass
class CxloopProcesses:
    """cxloop's running processes, by name, and where its API answers."""

    api_url: str
    processes: dict[str, subprocess.Popen]

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}


@contextmanager
def cxloop_processes(
    database_url: str, temporal_address: str, task_queue: str, mail: Path | int
) -> Iterator[CxloopProcesses]:
    """cxloop as `make run` lays it out, each part a process of its own on
    127.0.0.1: `python worker.py` and the API (uvicorn, on a free port), with
    the mail sink `make run` starts writing into the Maildir `mail`, or, given
    a port, the SMTP server already listening there. Stopped on exit."""
    api_port = free_port()
    smtp_port = mail if isinstance(mail, int) else free_port()
    environment = {
        **os.environ,
        "CXLOOP_DATABASE_URL": database_url,
        "CXLOOP_TEMPORAL_ADDRESS": temporal_address,
        "CXLOOP_TASK_QUEUE": task_queue,
        "CXLOOP_API_PORT": str(api_port),
        "CXLOOP_SMTP_HOST": "127.0.0.1",
        "CXLOOP_SMTP_PORT": str(smtp_port),
    }
    quiet = {"cwd": ROOT, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes: dict[str, subprocess.Popen] = {}
    try:
        if not isinstance(mail, int):
            processes["mail sink"] = subprocess.Popen(
                [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
                 "-c", "aiosmtpd.handlers.Mailbox", str(mail)], **quiet)
        processes["worker"] = subprocess.Popen([sys.executable, "worker.py"], env=environment, **quiet)
        processes["API"] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", str(api_port),
             "--log-level", "warning", "--no-access-log"], env=environment, **quiet)
        yield CxloopProcesses(f"http://127.0.0.1:{api_port}", processes)
    finally:
        stop_processes(processes.values())


def stop_processes(processes: Iterable[subprocess.Popen]) -> None:
    """SIGTERM each, then wait for each (30 s at most)."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


async def wait_healthy(http: httpx.AsyncClient, path: str = "/healthz") -> None:
    """Until the server behind `http` answers `path` with 200 (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await http.get(path)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise BenchError(f"{http.base_url} did not answer {path} within 60 s")


class ProcessCpu:
    """CPU time used by each process of a layout, by name; this process's
    own (the load generator, and whatever else runs in it) as `this_process`."""

    def __init__(self, pids: dict[str, int], this_process: str) -> None:
        self.pids = pids
        self.this_process = this_process

    def read(self) -> dict[str, float]:
        used = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        used[self.this_process] = time.process_time()
        return used

    @staticmethod
    def per_operation(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
        return {name: (after[name] - before[name]) / count for name in after}
