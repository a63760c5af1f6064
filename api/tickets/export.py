"""The Excel export: what the list shows, every page, in the reader's
language (headers, statuses and priorities as the list words them), the
ticket's reference first.

openpyxl's write-only mode appends rows to a temporary file rather than
building the sheet in memory, and the rows come from the store as a stream, so
memory stays flat however many tickets match.

Most of an export's time is openpyxl's, cell by cell, so each row costs it as
little as it can: the store reads only the sheet's columns, as plain tuples
(not a validated TicketState per ticket); cells are plain values, except the
date, one cell styled once and refilled for every row; and openpyxl writes
its XML with lxml (a dependency for that reason: `openpyxl.LXML`). The
reader's words are looked up once per export (each header, status and
priority), never per row: a row's status is one lookup in a dict."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Font

from api.dashboard import i18n
from api.dashboard.i18n import N_
from domain.ticket import Priority, TicketStatus
from domain.wording import PRIORITY_LABELS, STATUS_LABELS
from store.tickets import TicketFilters, TicketSort, TicketStore

# Each column: its title (as the list's, in the reader's language), and the
# read model's column it shows.
COLUMNS = (
    (N_("Ticket"), "reference"),
    (N_("Response ID"), "response_id"),
    (N_("Customer name"), "customer_name"),
    (N_("Customer email"), "customer_email"),
    (N_("Origin segment"), "origin_segment"),
    (N_("Current segment"), "segment"),
    (N_("Ticket owner"), "owner"),
    (N_("Priority"), "priority"),
    (N_("Status"), "status"),
    (N_("Score"), "score"),
    # Excel has no time zones: the sheet says which one it uses.
    (N_("Reported on (UTC)"), "reported_at"),
    (N_("Customer comment"), "customer_comment"),
    (N_("Resolution reason"), "resolution_reason"),
)
# openpyxl's own default for a datetime cell.
REPORTED_ON_FORMAT = "yyyy-mm-dd h:mm:ss"


def write_export(
    store: TicketStore, filters: TicketFilters, sort: TicketSort, locale: str = i18n.SOURCE_LOCALE
) -> str:
    """Write the matching tickets to a temporary .xlsx file in the reader's
    language and return its path (the caller deletes it once sent)."""
    words = i18n.translations(locale).gettext
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(words(N_("Tickets")))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title, _ in COLUMNS:
        cell = WriteOnlyCell(sheet, value=words(title))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    # A datetime makes openpyxl set the date format on a new cell for every
    # row; one cell formatted once carries each row's date instead (openpyxl
    # writes a row as soon as it is appended, so the cell is free again for
    # the next one).
    reported_on = WriteOnlyCell(sheet)
    reported_on.number_format = REPORTED_ON_FORMAT
    tickets = store.iter_columns(filters, [column for _, column in COLUMNS], sort)
    statuses = {status: words(label) for status, label in STATUS_LABELS.items()}
    priorities = {priority: words(label) for priority, label in PRIORITY_LABELS.items()}
    for row in sheet_rows(tickets, reported_on, statuses, priorities):
        sheet.append(row)
    handle, path = tempfile.mkstemp(prefix="cxloop-export-", suffix=".xlsx")
    os.close(handle)
    try:
        workbook.save(path)
    except BaseException:
        os.unlink(path)
        raise
    return path


def sheet_rows(
    tickets: Iterator[Any],
    reported_on: Cell,
    statuses: dict[TicketStatus, str],
    priorities: dict[Priority, str],
) -> Iterator[tuple[Any, ...]]:
    """The sheet's row for each ticket, a row of COLUMNS' fields in order;
    `reported_on` is the date's cell, refilled for every row; `statuses` and
    `priorities` are their words in the reader's language."""
    sheet = reported_on.parent
    for (
        reference, response_id, name, email, origin, segment, owner, priority, status, score, reported_at,
        comment, reason,
    ) in tickets:
        reported_on.value = reported_at.astimezone(UTC).replace(tzinfo=None)
        yield (
            reference, as_text(sheet, response_id), as_text(sheet, name), as_text(sheet, email),
            as_text(sheet, origin), as_text(sheet, segment), as_text(sheet, owner), priorities[priority],
            statuses[status], score, reported_on, as_text(sheet, comment), as_text(sheet, reason),
        )


def as_text(sheet: Any, value: str | None) -> Any:
    """Text stays text: openpyxl stores a string that starts with "=" as a
    formula and "#N/A" and the like as errors, so a customer who writes
    "=HYPERLINK(...)" in a comment would put a live formula in the manager's
    sheet. Such values get a cell typed as a string (rare: plain values
    otherwise, which keeps the export fast)."""
    if value is None or not (value.startswith("=") or value in ERROR_CODES):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


def export_filename(now: datetime) -> str:
    return f"cxloop-tickets-{now:%Y%m%d-%H%M}.xlsx"
