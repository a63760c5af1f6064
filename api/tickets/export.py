"""The Excel export: exactly the rows and columns of the list, every page.

openpyxl's write-only mode appends rows to a temporary file rather than
building the sheet in memory, and the rows come from the store as a stream, so
memory stays flat however many tickets match."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from domain.ticket import TicketState
from store.tickets import TicketFilters, TicketSort, TicketStore

COLUMNS = (
    ("Response ID", lambda t: t.response_id),
    ("Customer email", lambda t: t.customer_email),
    ("Origin segment", lambda t: t.origin_segment),
    ("Current segment", lambda t: t.segment),
    ("Ticket owner", lambda t: t.owner),
    ("Priority", lambda t: t.priority.value),
    ("Status", lambda t: t.status.value),
    # Excel has no time zones: the sheet says which one it uses.
    ("Reported on (UTC)", lambda t: t.reported_at.astimezone(UTC).replace(tzinfo=None)),
    ("Customer comment", lambda t: t.customer_comment),
)


def row_of(ticket: TicketState) -> list:
    return [value(ticket) for _, value in COLUMNS]


def write_export(store: TicketStore, filters: TicketFilters, sort: TicketSort) -> str:
    """Write the matching tickets to a temporary .xlsx file and return its path
    (the caller deletes it once sent)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Tickets")
    sheet.freeze_panes = "A2"
    header = []
    for title, _ in COLUMNS:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for ticket in store.iter_rows(filters, sort):
        sheet.append(row_of(ticket))
    handle, path = tempfile.mkstemp(prefix="cxloop-export-", suffix=".xlsx")
    os.close(handle)
    try:
        workbook.save(path)
    except BaseException:
        os.unlink(path)
        raise
    return path


def export_filename(now: datetime) -> str:
    return f"cxloop-tickets-{now:%Y%m%d-%H%M}.xlsx"
