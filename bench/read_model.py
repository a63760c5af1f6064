"""The read model at 100,000 tickets: list, counts and the Excel export, on
SQLite (a temporary file) and PostgreSQL (a throwaway database, dropped after).

    .venv/bin/python -m bench.read_model [--tickets 100000] [--runs 50]
        [--database sqlite postgresql] [--no-export] [--timeout 1200]

For each database: migrate, bulk-load the tickets with
`TicketStore.bulk_insert_states` (one workspace holds `--tickets`; two more
hold a few thousand each, so the workspace filter has something to leave
out; the load keeps the text search index up to date as it goes, as live
projections do: PostgreSQL's trigram index, SQLite's FTS5 table), then time `--runs` runs of each query after a short warm-up:
- `list`: the first page (50 rows, the default 30-day window, newest first)
  with no filter and with each kind of filter, and a deep page (after paging
  20 pages with the cursor);
- `counts`: by status, with no filter and with filters;
- a raw SQL query on the same engine, the list's first page written by hand
  (`SELECT ... WHERE workspace_id = ... AND reported_at >= ... ORDER BY
  reported_at DESC, id DESC LIMIT 50`): the floor the list is compared to.
Then the export of the whole workspace (`write_export` with a `from` date before
every ticket) in a fresh subprocess, for its time and peak memory: once plain
(time, growth of the process's peak RSS, then the time of reading the same rows,
the sheet's columns, without writing them) and, for the first database, once more under tracemalloc
(peak of Python allocations; tracemalloc slows the run about fivefold, so it
exports the newest `--trace-rows` tickets only, and its time is not reported).

Goals: list and counts p95 under 30 ms; the export under 15 s and 300 MB.
PostgreSQL gets VACUUM ANALYZE after the load (autovacuum would do it within a
minute); SQLite is measured as cxloop leaves it (no ANALYZE).
Exits non-zero only on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, text

from bench.harness import (
    LATENCY_HEADERS,
    BenchError,
    Latency,
    Watchdog,
    goal,
    latency_cells,
    load_line,
    machine_line,
    ms,
    read_model_database,
    section,
    shown_url,
    table,
)
from domain.commands import NewTicket, decide_create, schedule
from domain.escalation import EscalationRule
from domain.ticket import EscalatedBy, Priority, Source, TicketPolicy, TicketState, TicketStatus
from store.db import make_engine, migrate
from store.models import UTCDateTime
from store.tickets import STATE_COLUMNS, TicketFilters, TicketStore

QUERY_GOAL_MS = 30
EXPORT_GOAL_SECONDS = 15
EXPORT_GOAL_MB = 300
MAIN_WORKSPACE = "bench-main"
OTHER_WORKSPACES = ("bench-other-1", "bench-other-2")
PAGE = 50
DEEP_PAGES = 20
SPAN = timedelta(days=90)

SEGMENTS = (
    "retail",
    "b2b",
    "support",
    "enterprise",
    "smb",
    "online",
    "stores",
    "wholesale",
    "partners",
    "education",
    "public-sector",
    "healthcare",
)
OWNERS = (
    "ann",
    "bob",
    "cy",
    "dee",
    "eli",
    "fay",
    "gus",
    "hal",
    "ivy",
    "jon",
    "kim",
    "lou",
    "max",
    "ned",
    "ola",
    "pam",
    "quin",
    "rae",
    "sam",
    "tia",
    "uma",
    "vic",
    "wes",
    "xia",
    "yan",
    "zoe",
    "abe",
    "bea",
    "cal",
    "dot",
)
# Every status and priority, in the proportions of a working help desk.
STATUS_WEIGHTS = {
    TicketStatus.NEW: 10,
    TicketStatus.OPEN: 18,
    TicketStatus.ANSWERED: 10,
    TicketStatus.ESCALATED: 5,
    TicketStatus.POSTPONED: 5,
    TicketStatus.RESOLVED: 15,
    TicketStatus.CLOSED: 27,
    TicketStatus.SPAM: 5,
    TicketStatus.DELETED: 5,
}
PRIORITY_WEIGHTS = {Priority.LOW: 25, Priority.MEDIUM: 40, Priority.HIGH: 25, Priority.CRITICAL: 10}
SOURCE_WEIGHTS = {Source.SURVEY: 70, Source.MANUAL: 10, Source.EMAIL: 10, Source.FORM: 5, Source.API: 5}
FIRST_NAMES = (
    "Alex",
    "Maria",
    "Jean",
    "Priya",
    "Chen",
    "Fatima",
    "Lucas",
    "Olga",
    "Kwame",
    "Sofia",
    "Hiro",
    "Amara",
    "Noah",
    "Elena",
    "Omar",
    "Ines",
    "Liam",
    "Yuki",
    "Tomas",
    "Leila",
)
LAST_NAMES = (
    "Martin",
    "Garcia",
    "Dubois",
    "Patel",
    "Wang",
    "Haddad",
    "Silva",
    "Ivanova",
    "Mensah",
    "Rossi",
    "Tanaka",
    "Okafor",
    "Smith",
    "Novak",
    "Khan",
    "Moreau",
    "Murphy",
    "Sato",
    "Horvat",
    "Nasser",
)
DOMAINS = ("example.com", "example.org", "mail.example.net", "shop.example.io")
WORDS = (
    "the delivery was late and the parcel arrived damaged again after two weeks of waiting "
    "customer service never answered my emails so I called three times and nobody could help "
    "the app keeps crashing when I try to pay with my card and the checkout page is very slow "
    "I was charged twice for the same order please refund the second payment as soon as possible "
    "the staff in the store were rude and the queue was far too long for a Saturday morning "
    "great product but the invoice is wrong and the discount code did not work at all "
    "my subscription was cancelled without notice and I lost access to all my saved documents "
    "the technician missed the appointment window and did not call to reschedule the visit "
    "prices went up again this month without any explanation or improvement in the quality "
    "the replacement part is still missing and the warranty claim has been pending for weeks"
).split()
# The `q` searches: a word many comments hold, and one customer's email.
COMMON_WORD = "refund"


@dataclass(frozen=True)
class Dataset:
    states: list[TicketState]
    now: datetime
    earliest: datetime
    # Newest first: when the N newest tickets of the workspace were reported.
    newest_reported: list[datetime]
    generated_in: float
    sample_email_fragment: str
    sample_owner: str
    sample_segment: str


def policy() -> TicketPolicy:
    """Each segment managed by two or three of the 30 owners; one escalation
    rule, so that tickets whose clock runs carry an escalation due time."""
    managers: dict[str, list[str]] = {segment: [] for segment in SEGMENTS}
    for number, owner in enumerate(OWNERS):
        managers[SEGMENTS[number % len(SEGMENTS)]].append(owner)
    rule = EscalationRule(
        id="rule-24h", name="a day without an answer", after=timedelta(hours=24), assignee="ann"
    )
    return TicketPolicy(segment_managers=managers, escalation_rules=[rule])


def generate(
    count: int, workspace_id: str, now: datetime, rng: random.Random, ticket_policy: TicketPolicy
) -> Iterator[TicketState]:
    """Realistic tickets, through the domain's own `decide_create`, then moved
    to their final status the way the lifecycle would leave them."""
    statuses, status_weights = zip(*STATUS_WEIGHTS.items())
    priorities, priority_weights = zip(*PRIORITY_WEIGHTS.items())
    sources, source_weights = zip(*SOURCE_WEIGHTS.items())
    for number in range(count):
        segment = rng.choice(SEGMENTS)
        managers = ticket_policy.segment_managers[segment]
        owner = None if rng.random() < 0.05 else rng.choice(managers)
        reported_at = now - SPAN * rng.random()
        created_at = reported_at + timedelta(minutes=rng.randint(0, 30))
        source = rng.choices(sources, source_weights)[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        survey = source is Source.SURVEY
        new = NewTicket(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            source=source,
            workspace_id=workspace_id,
            survey_id=f"survey-{number % 7}" if survey else None,
            response_id=f"resp-{workspace_id}-{number}" if survey else None,
            customer_email=f"{first}.{last}{number}@{rng.choice(DOMAINS)}".lower(),
            customer_name=f"{first} {last}",
            segment=segment,
            reported_at=reported_at,
            customer_comment=" ".join(rng.choices(WORDS, k=rng.randint(8, 40))).capitalize() + ".",
            score=rng.randint(0, 6) if survey else None,
            priority=rng.choices(priorities, priority_weights)[0],
            owner=owner,
            comment="Imported by the read model benchmark",
        )
        state = decide_create(new, ticket_policy, created_at).state
        status = rng.choices(statuses, status_weights)[0]
        moved = created_at + timedelta(hours=rng.randint(1, 72))
        update: dict[str, Any] = {"status": status, "version": rng.randint(1, 12), "updated_at": moved}
        if status is TicketStatus.ESCALATED:
            update["escalated_by"] = rng.choice((EscalatedBy.HAND, EscalatedBy.RULE))
        elif status is TicketStatus.POSTPONED:
            update["snooze_until"] = now + timedelta(days=rng.randint(1, 14))
        elif status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            update["resolved_at"] = moved
        elif status is TicketStatus.DELETED:
            update["status_before_delete"] = TicketStatus.OPEN
        yield schedule(state.model_copy(update=update), ticket_policy)


def build_dataset(count: int, others: int) -> Dataset:
    rng = random.Random(20240601)
    now = datetime.now(UTC).replace(microsecond=0)
    ticket_policy = policy()
    started = time.perf_counter()
    states = list(generate(count, MAIN_WORKSPACE, now, rng, ticket_policy))
    for workspace_id in OTHER_WORKSPACES:
        states.extend(generate(others, workspace_id, now, rng, ticket_policy))
    generated_in = time.perf_counter() - started
    # A customer searched for by a piece of their email: matches a ticket or two.
    recent = next(
        s for s in states if s.workspace_id == MAIN_WORKSPACE and now - s.reported_at < timedelta(days=3)
    )
    return Dataset(
        states=states,
        now=now,
        earliest=min(s.reported_at for s in states),
        newest_reported=sorted(
            (s.reported_at for s in states if s.workspace_id == MAIN_WORKSPACE), reverse=True
        ),
        generated_in=generated_in,
        sample_email_fragment=recent.customer_email.split("@")[0],
        sample_owner=recent.owner or OWNERS[0],
        sample_segment=recent.segment,
    )


# --- timing ------------------------------------------------------------------------------


def timed(name: str, runs: int, call: Callable[[], Any], warmup: int = 3) -> tuple[Latency, Any]:
    result = None
    for _ in range(warmup):
        result = call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return Latency.of(name, samples), result


def raw_first_page(engine: Engine, workspace_id: str, since: datetime) -> Callable[[], list]:
    """The list's first page as hand-written SQL on the same engine: the floor
    of what `list` can cost."""
    columns = ", ".join(column.name for column in STATE_COLUMNS)
    statement = text(
        f"SELECT {columns} FROM tickets WHERE workspace_id = :workspace AND reported_at >= :since "
        f"ORDER BY reported_at DESC, id DESC LIMIT {PAGE}"
    ).bindparams(bindparam("since", type_=UTCDateTime()))

    def run() -> list:
        with engine.connect() as connection:
            return connection.execute(statement, {"workspace": workspace_id, "since": since}).all()

    return run


@dataclass
class QueryResult:
    kind: str  # list, counts or raw
    latency: Latency
    rows: int


def measure_queries(store: TicketStore, data: Dataset, runs: int) -> list[QueryResult]:
    base = TicketFilters(workspace_id=MAIN_WORKSPACE).with_defaults(data.now)
    since = base.reported_from
    assert since is not None
    results: list[QueryResult] = []

    latency, rows = timed(
        "raw SQL first page (the floor)", runs, raw_first_page(store.engine, MAIN_WORKSPACE, since)
    )
    if len(rows) != PAGE:
        raise BenchError(f"raw first page returned {len(rows)} rows, not {PAGE}")
    results.append(QueryResult("raw", latency, len(rows)))

    def with_filters(**fields: Any) -> TicketFilters:
        return base.model_copy(update=fields)

    list_cases = [
        ("list: first page", base),
        (f"list: segment {data.sample_segment}", with_filters(segment=data.sample_segment)),
        ("list: status open", with_filters(status=[TicketStatus.OPEN])),
        (
            f"list: owner {data.sample_owner} + status new/open",
            with_filters(owner=data.sample_owner, status=[TicketStatus.NEW, TicketStatus.OPEN]),
        ),
        ("list: priority critical", with_filters(priority=[Priority.CRITICAL])),
        (f"list: q {COMMON_WORD!r} (common word)", with_filters(q=COMMON_WORD)),
        (
            f"list: q {data.sample_email_fragment!r} (one customer)",
            with_filters(q=data.sample_email_fragment),
        ),
    ]
    for name, filters in list_cases:
        latency, page = timed(name, runs, lambda f=filters: store.list(f, limit=PAGE))
        if not page.items:
            raise BenchError(f"{name}: no rows; the generated data should match")
        results.append(QueryResult("list", latency, len(page.items)))

    # A deep page: the cursor after DEEP_PAGES pages of the unfiltered list.
    cursor = None
    for _ in range(DEEP_PAGES):
        page = store.list(base, cursor=cursor, limit=PAGE)
        cursor = page.next_cursor
        if cursor is None:
            raise BenchError(f"the list ran out before page {DEEP_PAGES}")
    name = f"list: page {DEEP_PAGES + 1} (keyset cursor)"
    latency, page = timed(name, runs, lambda: store.list(base, cursor=cursor, limit=PAGE))
    results.append(QueryResult("list", latency, len(page.items)))

    count_cases = [
        ("counts: no filter", base),
        (f"counts: segment {data.sample_segment}", with_filters(segment=data.sample_segment)),
        (f"counts: owner {data.sample_owner}", with_filters(owner=data.sample_owner)),
        ("counts: priority high/critical", with_filters(priority=[Priority.HIGH, Priority.CRITICAL])),
        (f"counts: q {COMMON_WORD!r}", with_filters(q=COMMON_WORD)),
    ]
    for name, filters in count_cases:
        latency, counts = timed(name, runs, lambda f=filters: store.counts(f))
        results.append(QueryResult("counts", latency, counts["total"]))
    return results


# --- the export, in a fresh process --------------------------------------------------------


def export_child(url: str, workspace_id: str, reported_from: str, trace: bool) -> None:
    """Runs in a fresh interpreter: the export alone, with its time and memory,
    printed as one JSON line."""
    import openpyxl

    from api.tickets.export import COLUMNS, write_export

    engine = make_engine(url)
    store = TicketStore(engine)
    filters = TicketFilters(workspace_id=workspace_id, reported_from=datetime.fromisoformat(reported_from))
    expected = store.counts(filters)["total"]  # also opens the pool's connection
    rss_before = peak_rss_kb()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    path = write_export(store, filters, "-reported_at")
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    rss_after = peak_rss_kb()
    try:
        file_bytes = os.path.getsize(path)
        rows = sheet_rows(path)
    finally:
        os.unlink(path)
    reading = None
    if not trace:
        # The same rows read again, as the export reads them (the sheet's
        # columns), without writing them: the store's share.
        started = time.perf_counter()
        read = sum(1 for _ in store.iter_columns(filters, [column for _, column in COLUMNS], "-reported_at"))
        reading = time.perf_counter() - started
        if read != expected:
            raise BenchError(f"iter_columns gave {read} rows, not {expected}")
    engine.dispose()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "reading_seconds": reading,
                "rss_before_kb": rss_before,
                "rss_after_kb": rss_after,
                "traced_peak_bytes": traced_peak,
                "file_bytes": file_bytes,
                # openpyxl writes with lxml when it can import it, else with
                # its pure-Python writer, several times slower.
                "writer": "lxml" if openpyxl.LXML else "et_xmlfile (no lxml)",
                "rows": rows,
                "expected": expected,
            }
        )
    )


def peak_rss_kb() -> int:
    """This process's peak resident set size (VmHWM), in KiB.

    Not getrusage's ru_maxrss: Linux carries the parent's peak over into a
    child through fork and exec, so a child of this benchmark (which holds the
    generated tickets) would start at the parent's few hundred MB and never
    show what the export itself needs."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def sheet_rows(path: str) -> int:
    """Data rows in the workbook's sheet, counted in its XML as a stream."""
    with zipfile.ZipFile(path) as workbook:
        sheet = next(name for name in workbook.namelist() if name.startswith("xl/worksheets/sheet"))
        rows = 0
        tail = b""
        with workbook.open(sheet) as stream:
            while chunk := stream.read(1 << 20):
                # "<row " or "<row>" may straddle two chunks.
                rows += (tail + chunk).count(b"<row") - tail.count(b"<row")
                tail = chunk[-4:]
    return rows - 1  # the header


def run_export(url: str, reported_from_time: datetime, trace: bool, timeout: float) -> dict[str, Any]:
    reported_from = reported_from_time.isoformat()
    command = [sys.executable, "-m", "bench.read_model", "--export-child", url, MAIN_WORKSPACE, reported_from]
    if trace:
        command.append("--trace")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parent.parent
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"the export did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise BenchError(f"the export failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rows"] != result["expected"]:
        raise BenchError(f"the export wrote {result['rows']} rows, not {result['expected']}")
    return result


# --- the run ---------------------------------------------------------------------------------


@dataclass
class DatabaseReport:
    database: str
    load_seconds: float
    analyze_seconds: float | None
    size_mb: float | None
    queries: list[QueryResult]
    export: dict[str, Any] | None
    export_traced: dict[str, Any] | None


def database_size_mb(engine: Engine, url: str) -> float | None:
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            return connection.scalar(text("SELECT pg_database_size(current_database())")) / 1e6
    path = url.removeprefix("sqlite:///")
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p)) / 1e6


def bench_database(
    kind: str, data: Dataset, args: argparse.Namespace, tmp: Path, trace: bool
) -> DatabaseReport:
    with read_model_database(kind, tmp) as url:
        print(f"\n{kind}: {shown_url(url)}", flush=True)
        migrate(url)
        engine = make_engine(url)
        try:
            store = TicketStore(engine)
            started = time.perf_counter()
            inserted = store.bulk_insert_states(data.states)
            load_seconds = time.perf_counter() - started
            if inserted != len(data.states):
                raise BenchError(f"bulk_insert_states inserted {inserted} of {len(data.states)}")
            print(f"  loaded {inserted:,} tickets in {load_seconds:.1f} s", flush=True)
            analyze_seconds = None
            if engine.dialect.name == "postgresql":
                # What autovacuum does to a table after a bulk insert; without
                # VACUUM's visibility map, index-only scans (counts) visit the heap.
                started = time.perf_counter()
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE tickets"))
                analyze_seconds = time.perf_counter() - started
            size = database_size_mb(engine, url)
            queries = measure_queries(store, data, args.runs)
            print(f"  measured {len(queries)} queries x {args.runs} runs", flush=True)
            export = export_traced = None
            if not args.no_export:
                everything = data.earliest - timedelta(days=1)
                export = run_export(url, everything, trace=False, timeout=args.export_timeout)
                print(f"  exported {export['rows']:,} rows in {export['seconds']:.1f} s", flush=True)
                if trace:
                    traced_from = everything
                    if 0 < args.trace_rows < len(data.newest_reported):
                        traced_from = data.newest_reported[args.trace_rows - 1]
                    export_traced = run_export(url, traced_from, trace=True, timeout=args.export_timeout * 3)
                    print(
                        f"  exported again under tracemalloc in {export_traced['seconds']:.1f} s", flush=True
                    )
        finally:
            engine.dispose()
    return DatabaseReport(kind, load_seconds, analyze_seconds, size, queries, export, export_traced)


def report(data: Dataset, reports: list[DatabaseReport], args: argparse.Namespace) -> None:
    for result in reports:
        section(f"{result.database}: list and counts, {args.runs} runs each (ms)")
        raw = next(q for q in result.queries if q.kind == "raw")
        rows = []
        for query in result.queries:
            p95_ms = query.latency.p95 * 1000
            rows.append(
                [
                    query.latency.name,
                    query.rows,
                    *latency_cells(query.latency)[1:6],
                    f"{query.latency.p50 / raw.latency.p50:.2f}x",
                    "" if query.kind == "raw" else f"{goal(p95_ms < QUERY_GOAL_MS)}",
                ]
            )
        headers = ["query", "rows", *LATENCY_HEADERS[1:6], "p50 / raw", f"p95 < {QUERY_GOAL_MS} ms"]
        print(table(headers, rows, right=[False] + [True] * 7 + [False]))
        first = next(q for q in result.queries if q.latency.name == "list: first page")
        print(
            f"\nlist first page / raw SQL first page: p50 {ms(first.latency.p50)} / {ms(raw.latency.p50)} ms = "
            f"{first.latency.p50 / raw.latency.p50:.2f}x, p95 {ms(first.latency.p95)} / {ms(raw.latency.p95)} ms = "
            f"{first.latency.p95 / raw.latency.p95:.2f}x ('rows' of counts = the total counted)"
        )

    section("load and export")
    rows = []
    for result in reports:
        load_rate = len(data.states) / result.load_seconds
        analyze = (
            f", VACUUM ANALYZE {result.analyze_seconds:.1f} s" if result.analyze_seconds is not None else ""
        )
        size = f", {result.size_mb:.0f} MB on disk" if result.size_mb is not None else ""
        rows.append(
            [
                f"{result.database} load",
                (
                    f"{len(data.states):,} tickets in {result.load_seconds:.1f} s "
                    f"({load_rate:,.0f}/s){analyze}{size}"
                ),
                "",
            ]
        )
        if result.export is not None:
            export, traced = result.export, result.export_traced
            growth_mb = (export["rss_after_kb"] - export["rss_before_kb"]) / 1024
            reading = export["reading_seconds"]
            rows.append(
                [
                    f"{result.database} export time",
                    (
                        f"{export['rows']:,} rows in {export['seconds']:.1f} s "
                        f"({export['rows'] / export['seconds']:,.0f} rows/s), {export['file_bytes'] / 1e6:.1f} MB .xlsx, "
                        f"written with {export['writer']}"
                    ),
                    goal(export["seconds"] < EXPORT_GOAL_SECONDS) + f" (< {EXPORT_GOAL_SECONDS} s)",
                ]
            )
            rows.append(
                [
                    f"{result.database} export split",
                    (
                        f"reading the rows (TicketStore.iter_columns alone) {reading:.1f} s, "
                        f"the rest (openpyxl building and saving the sheet) {export['seconds'] - reading:.1f} s"
                    ),
                    "",
                ]
            )
            traced_text = (
                f"; tracemalloc peak {traced['traced_peak_bytes'] / 1e6:.1f} MB of Python allocations "
                f"(exporting the newest {traced['rows']:,} rows)"
                if traced is not None
                else "; tracemalloc not run (--trace)"
            )
            rows.append(
                [
                    f"{result.database} export memory",
                    (
                        f"peak RSS +{growth_mb:.0f} MB "
                        f"({export['rss_before_kb'] / 1024:.0f} -> {export['rss_after_kb'] / 1024:.0f} MB){traced_text}"
                    ),
                    goal(growth_mb < EXPORT_GOAL_MB) + f" (< {EXPORT_GOAL_MB} MB)",
                ]
            )
    print(table(["", "measured", "goal"], rows))

    section("goals")
    rows = []
    for result in reports:
        queries = [q for q in result.queries if q.kind != "raw"]
        worst = max(queries, key=lambda q: q.latency.p95)
        missed = [q.latency.name for q in queries if q.latency.p95 * 1000 >= QUERY_GOAL_MS]
        rows.append(
            [
                f"{result.database}: list and counts p95 < {QUERY_GOAL_MS} ms",
                f"worst {worst.latency.name}: {ms(worst.latency.p95)} ms"
                + (f"; missed by {len(missed)} of {len(queries)}" if missed else ""),
                goal(not missed),
            ]
        )
        if result.export is not None:
            growth_mb = (result.export["rss_after_kb"] - result.export["rss_before_kb"]) / 1024
            rows.append(
                [
                    f"{result.database}: export < {EXPORT_GOAL_SECONDS} s",
                    f"{result.export['seconds']:.1f} s",
                    goal(result.export["seconds"] < EXPORT_GOAL_SECONDS),
                ]
            )
            rows.append(
                [
                    f"{result.database}: export < {EXPORT_GOAL_MB} MB",
                    f"peak RSS +{growth_mb:.0f} MB",
                    goal(growth_mb < EXPORT_GOAL_MB),
                ]
            )
    print(table(["goal", "measured", ""], rows))


def run(args: argparse.Namespace) -> None:
    section(f"cxloop read model at {args.tickets:,} tickets")
    others = max(args.tickets // 20, 1)
    started = time.perf_counter()
    data = build_dataset(args.tickets, others)
    window = sum(
        1
        for s in data.states
        if s.workspace_id == MAIN_WORKSPACE and data.now - s.reported_at <= TicketFilters.DEFAULT_PERIOD
    )
    print(
        table(
            ["", ""],
            [
                ["machine", machine_line()],
                ["before", load_line()],
                [
                    "data",
                    (
                        f"{args.tickets:,} tickets in workspace {MAIN_WORKSPACE}, {others:,} in each of "
                        f"{len(OTHER_WORKSPACES)} others; {len(SEGMENTS)} segments, {len(OWNERS)} owners, every status "
                        f"and priority, reported over {SPAN.days} days ({window:,} in the default 30-day window)"
                    ),
                ],
                [
                    "generated",
                    (
                        f"{len(data.states):,} tickets with domain.commands.decide_create in "
                        f"{data.generated_in:.1f} s (not part of the load time)"
                    ),
                ],
            ],
        ),
        flush=True,
    )
    reports = []
    with tempfile.TemporaryDirectory(prefix="cxloop-bench-") as tmp:
        for number, kind in enumerate(args.database):
            trace = args.trace == "all" or (args.trace == "first" and number == 0)
            reports.append(bench_database(kind, data, args, Path(tmp), trace))
    print(f"\nafter: {load_line()}; total {time.perf_counter() - started:.0f} s")
    report(data, reports, args)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.read_model", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tickets", type=int, default=100_000, help="tickets in the measured workspace (100000)"
    )
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each query (50)")
    parser.add_argument(
        "--database",
        nargs="+",
        choices=["sqlite", "postgresql"],
        default=["sqlite", "postgresql"],
        help="which read models to measure (both)",
    )
    parser.add_argument("--no-export", action="store_true", help="skip the export")
    parser.add_argument(
        "--trace",
        choices=["first", "all", "none"],
        default="first",
        help="export once more under tracemalloc (several times slower) for the first database (default), all, none",
    )
    parser.add_argument(
        "--trace-rows",
        type=int,
        default=20_000,
        help="export only the newest N tickets under tracemalloc, which is ~5x slower (20000; 0: all of them)",
    )
    parser.add_argument("--export-timeout", type=float, default=180, help="seconds one export may take (180)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds the whole run may take (1200)")
    args = parser.parse_args(argv)
    if args.tickets < 1000 or args.runs < 1:
        parser.error("--tickets must be at least 1000 and --runs at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--export-child"]:
        url, workspace_id, reported_from = argv[1:4]
        export_child(url, workspace_id, reported_from, trace="--trace" in argv[4:])
        return 0
    args = parse_args(argv)
    try:
        # Queries and exports have their own bounds; this one is the last resort.
        with Watchdog(args.timeout):
            run(args)
    except BenchError as error:
        print(f"\nbench.read_model: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
