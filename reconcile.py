"""Reconcile the read model with the ticket workflows, the source of truth.

    python reconcile.py [--dry-run] [--workspace W] [--concurrency N]
    (settings from CXLOOP_* environment variables, like worker.py)

Each ticket workflow writes its state and log to the read model (tables
tickets and ticket_events) after every change. That projection can still end
up wrong: a database restored from an older backup, a row edited by hand, or a
worker killed after its local activity wrote a change but before the workflow
task that made it completed, so the row is *ahead* of the workflow. This
command asks every ticket workflow, running or closed, for its state and log,
compares them with the read model, and rewrites whatever differs from the
workflow, which always wins. Rows whose workflow does not exist (its history is
past the namespace's retention, or it never existed) are reported as orphans
and kept: deleting what the workflows no longer vouch for is a person's call.

Exit status 0 once every ticket was checked (fixed or not), 1 when some
workflow did not answer its queries (its worker down, say), so the run proved
nothing about those tickets.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from domain.ticket import TicketEvent, TicketProjection, TicketState, workflow_id_for
from settings import get_settings
from store.db import make_engine
from store.tickets import TicketStore
from workflows.client import connect
from workflows.ticket import TICKET_STATUS, TICKET_WORKSPACE, TicketWorkflow

DEFAULT_CONCURRENCY = 16
# A running ticket whose worker is down never answers; a closed one needs a
# worker to replay its history. Either way, wait this long and report it.
QUERY_TIMEOUT = timedelta(seconds=10)
# "ticket-<id>" (DESIGN.md): the ticket id is what follows.
WORKFLOW_ID_PREFIX = workflow_id_for("")
# The fields a CX team reads on a ticket: a fix's line names their old and new
# values; other differing fields are only named.
SHOWN_FIELDS = ("status", "priority", "segment", "owner")


@dataclass(frozen=True)
class TicketFix:
    """How one ticket's read model differed from its workflow."""

    ticket_id: str
    # The read model's version, None when it had no row, and the workflow's.
    held_version: int | None
    true_version: int
    # The workflow purged the ticket; the read model still had its row.
    purged_row: bool = False
    # Field name -> (read model's value, workflow's value).
    changed_fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    missing_events: int = 0
    extra_events: int = 0
    rewritten_events: int = 0

    def describe(self, repaired: bool) -> str:
        """One line, e.g. "ticket 42: status open -> escalated (version 3 -> 5)";
        `repaired` False says what a dry run would do."""
        if self.purged_row:
            parts = ["purged in the workflow, row " + ("deleted" if repaired else "would be deleted")]
        elif self.held_version is None:
            parts = ["row missing, " + ("inserted" if repaired else "would be inserted")]
        else:
            parts = self._field_parts() + self._log_parts(repaired)
        return f"ticket {self.ticket_id}: {', '.join(parts)}"

    def _field_parts(self) -> list[str]:
        if not self.changed_fields:
            return []
        shown = [
            f"{name} {_shown(self.changed_fields[name][0])} -> {_shown(self.changed_fields[name][1])}"
            for name in SHOWN_FIELDS
            if name in self.changed_fields
        ]
        others = [name for name in self.changed_fields if name not in SHOWN_FIELDS and name != "version"]
        if others:
            shown.append(("also " if shown else "") + ", ".join(others) + ("" if shown else " changed"))
        if self.held_version == self.true_version:
            version = f"same version {self.true_version}"
        else:
            version = f"version {self.held_version} -> {self.true_version}"
            if self.held_version > self.true_version:  # type: ignore[operator]
                version += ": the read model was ahead, the workflow wins"
        return [f"{', '.join(shown)} ({version})" if shown else version]

    def _log_parts(self, repaired: bool) -> list[str]:
        counted = [
            (self.missing_events, "log event{s} added" if repaired else "log event{s} missing"),
            (self.extra_events, "extra log event{s} removed" if repaired else "extra log event{s}"),
            (self.rewritten_events, "log event{s} rewritten" if repaired else "log event{s} different"),
        ]
        return [f"{count} {text.format(s='s' if count != 1 else '')}" for count, text in counted if count]


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _known_beyond_the_workflow(field: str, truth: TicketState) -> bool:
    """A survey ticket's workflow from before `submitted_at` existed holds
    none; the read model's, backfilled from the stored response (migration
    0009), is kept by every projection and is no divergence. So is
    `customer_locale` for a workflow older than it (migration 0013)."""
    if field == "customer_locale":
        # Likewise the customer's language, backfilled by migration 0013.
        return truth.customer_locale is None
    return field == "submitted_at" and truth.submitted_at is None


def compare(
    ticket_id: str,
    held: TicketState | None,
    held_log: list[TicketEvent],
    truth: TicketState,
    true_log: list[TicketEvent],
) -> TicketFix | None:
    """What the read model (`held`) must change to match the workflow
    (`truth`); None when it already does."""
    held_version = held.version if held is not None else None
    if truth.purged:
        # The purge removed the row and its log; only a row still there is wrong.
        return TicketFix(ticket_id, held_version, truth.version, purged_row=True) if held is not None else None
    if held is None:
        return TicketFix(ticket_id, None, truth.version, missing_events=len(true_log))
    changed = {
        name: (getattr(held, name), getattr(truth, name))
        for name in TicketState.model_fields
        if getattr(held, name) != getattr(truth, name) and not _known_beyond_the_workflow(name, truth)
    }
    held_events = {event.seq: event for event in held_log}
    true_events = {event.seq: event for event in true_log}
    fix = TicketFix(
        ticket_id,
        held_version,
        truth.version,
        changed_fields=changed,
        missing_events=len(true_events.keys() - held_events.keys()),
        extra_events=len(held_events.keys() - true_events.keys()),
        rewritten_events=sum(
            1 for seq in held_events.keys() & true_events.keys() if held_events[seq] != true_events[seq]
        ),
    )
    if changed or fix.missing_events or fix.extra_events or fix.rewritten_events:
        return fix
    return None


@dataclass
class ReconcileResult:
    dry_run: bool
    # Tickets whose workflow answered and whose read model was compared.
    checked: int = 0
    fixes: list[TicketFix] = field(default_factory=list)
    # Ids of rows whose workflow does not exist.
    orphans: list[str] = field(default_factory=list)
    # Ticket id -> why its workflow could not be queried.
    unreadable: dict[str, str] = field(default_factory=dict)
    # Tickets whose row changed between reading and repairing it (a live
    # projection landed): left alone, the next run looks again.
    changed_meanwhile: list[str] = field(default_factory=list)

    @property
    def fixed(self) -> int:
        return 0 if self.dry_run else len(self.fixes)

    def summary(self) -> str:
        fixes = f"{len(self.fixes)} to fix (dry run, nothing written)" if self.dry_run else f"{self.fixed} fixed"
        parts = [fixes, _count(len(self.orphans), "orphan")]
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} not answering")
        if self.changed_meanwhile:
            parts.append(f"{len(self.changed_meanwhile)} changed while checked")
        return f"checked {_count(self.checked, 'ticket')}: {', '.join(parts)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def tickets_query(workspace_id: str | None) -> str:
    """Every ticket workflow, running and closed (one row per run)."""
    query = "WorkflowType = 'TicketWorkflow'"
    if workspace_id is not None:
        if "'" in workspace_id:
            raise ValueError(f"a workspace id cannot contain a quote: {workspace_id!r}")
        query += f" AND {TICKET_WORKSPACE.name} = '{workspace_id}'"
    return query


async def listed_ticket_ids(client: Client, workspace_id: str | None) -> set[str]:
    """The ids of the tickets visibility knows. A ticket continued as new has
    one run per id: the id is kept once, and its latest run queried later.
    A run without TicketStatus never became a ticket (it was refused at
    creation, before its first search attributes) and has nothing to query."""
    ticket_ids: set[str] = set()
    async for execution in client.list_workflows(tickets_query(workspace_id)):
        if execution.typed_search_attributes.get(TICKET_STATUS) is not None:
            ticket_ids.add(execution.id.removeprefix(WORKFLOW_ID_PREFIX))
    return ticket_ids


async def reconcile(
    client: Client,
    engine: Engine,
    *,
    workspace_id: str | None = None,
    dry_run: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    query_timeout: timedelta = QUERY_TIMEOUT,
    report: Callable[[str], None] | None = None,
) -> ReconcileResult:
    """Compare every ticket workflow (of one workspace, or all) with the read
    model at `engine` and, unless `dry_run`, repair the read model from the
    workflow. `report` receives one line per fix, orphan or unanswered query
    as they are found. At most `concurrency` tickets are checked at once."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    store = TicketStore(engine)
    result = ReconcileResult(dry_run=dry_run)

    def say(line: str) -> None:
        if report is not None:
            report(line)

    def read_model(ticket_id: str) -> tuple[TicketState | None, list[TicketEvent]]:
        return store.get(ticket_id), store.events(ticket_id)

    async def check(ticket_id: str) -> None:
        # The row is read before the workflow is asked: a projection landing in
        # between then shows as the workflow being ahead (repaired, or skipped
        # by the compare-and-set), never as a row ahead of the workflow.
        held, held_log = await asyncio.to_thread(read_model, ticket_id)
        handle = client.get_workflow_handle_for(TicketWorkflow.run, workflow_id_for(ticket_id))
        try:
            truth = await handle.query(TicketWorkflow.query_state, rpc_timeout=query_timeout)
            true_log = await handle.query(TicketWorkflow.query_log, rpc_timeout=query_timeout)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                if held is not None:
                    result.orphans.append(ticket_id)
                    say(f"ticket {ticket_id}: orphan: no workflow {workflow_id_for(ticket_id)}, row kept")
                return
            result.unreadable[ticket_id] = err.message
            say(f"ticket {ticket_id}: not checked: its workflow did not answer ({err.message})")
            return
        except WorkflowQueryFailedError as err:
            result.unreadable[ticket_id] = str(err)
            say(f"ticket {ticket_id}: not checked: its workflow's query failed ({err})")
            return
        # The log is asked second, so it may hold changes newer than the state;
        # those belong with a later state, which its own projection writes.
        true_log = [event for event in true_log if event.seq <= truth.version]
        result.checked += 1
        fix = compare(ticket_id, held, held_log, truth, true_log)
        if fix is None:
            return
        if not dry_run:
            projection = TicketProjection(state=truth, events=true_log)
            expected = held.version if held is not None else None
            if not await asyncio.to_thread(store.replace_from_workflow, projection, expected):
                result.changed_meanwhile.append(ticket_id)
                say(f"ticket {ticket_id}: changed while being checked, left for the next run")
                return
        result.fixes.append(fix)
        say(fix.describe(repaired=not dry_run))

    # Tickets visibility lists, and rows it does not list: orphans, or tickets
    # too new for (eventually consistent) visibility, which the query tells apart.
    listed = await listed_ticket_ids(client, workspace_id)
    held_ids = await asyncio.to_thread(store.ticket_ids, workspace_id)
    pending: Iterator[str] = iter(sorted(listed | set(held_ids)))

    async def check_pending() -> None:
        # `concurrency` of these share one iterator: each takes the next ticket.
        for ticket_id in pending:
            await check(ticket_id)

    async with asyncio.TaskGroup() as checkers:
        for _ in range(concurrency):
            checkers.create_task(check_pending())
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="reconcile.py",
        description="Compare every ticket workflow with the read model and repair the read model "
        "from the workflow (the source of truth), printing what it fixed.",
    )
    parser.add_argument("--dry-run", action="store_true", help="only report; write nothing")
    parser.add_argument("--workspace", metavar="W", help="only the tickets of workspace W")
    parser.add_argument(
        "--concurrency", metavar="N", type=int, default=DEFAULT_CONCURRENCY,
        help=f"tickets checked at once (default {DEFAULT_CONCURRENCY})",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.workspace is not None and "'" in args.workspace:
        parser.error("--workspace cannot contain a quote")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    engine = make_engine(settings.database_url)
    try:
        result = await reconcile(
            client,
            engine,
            workspace_id=args.workspace,
            dry_run=args.dry_run,
            concurrency=args.concurrency,
            report=lambda line: print(line, flush=True),
        )
    finally:
        engine.dispose()
    print(result.summary())
    return 1 if result.unreadable else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
