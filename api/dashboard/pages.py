"""What every dashboard page knows about the person reading it and renders
with: the templates, their language and time zone, the chosen workspace."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from api.dashboard import i18n
from api.dashboard.i18n import N_, Formats
from domain.access import Principal, TicketReach
from domain.ticket import Priority, TicketStatus
from domain.wording import EVENT_LABELS, FIELD_LABELS, PRIORITY_LABELS, STATUS_LABELS

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/dashboard/static"

# The ticket's words for people (statuses, priorities, fields, kinds of log
# line) live with the rest of its wording: domain/wording.py.

# The team's saved quick reasons, offered beside the free-text comment.
QUICK_REASONS = (
    N_("Called the customer"),
    N_("Emailed the customer"),
    N_("Waiting for the customer"),
    N_("Refund issued"),
    N_("Replacement sent"),
    N_("Handed over to the segment's team"),
    N_("Duplicate ticket"),
    N_("Not a real customer"),
)
# Messages the page's script shows (it has no catalog of its own).
SCRIPT_MESSAGES = {
    "comment_required": N_("A comment is required."),
    "snooze_required": N_("Choose when the ticket wakes up."),
    "saving": N_("Saving…"),
    "saved": N_("Saved."),
    "moved": N_("Moved to %(status)s."),
    "refused": N_("Not changed: %(reason)s"),
    "unassigned": N_("Unassigned"),
    "not_a_manager": N_("%(owner)s (not a manager of this segment)"),
    "moved_out_of_reach": N_("Moved to %(segment)s, which you do not manage: the ticket has left your list."),
    "handed_over": N_("Handed to %(owner)s: the ticket has left your list."),
    "unassigned_out_of_reach": N_("Unassigned: the ticket has left your list."),
    "failed": N_("Something went wrong; try again."),
    "live": N_("Live"),
    "reconnecting": N_("Reconnecting…"),
    "new_event": N_("New activity"),
    "confirm_delete": N_("Delete this rule?"),
}

_environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",)),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)
_environment.globals.update(
    STATUSES=list(TicketStatus),
    PRIORITIES=list(Priority),
    STATUS_LABELS=STATUS_LABELS,
    PRIORITY_LABELS=PRIORITY_LABELS,
    FIELD_LABELS=FIELD_LABELS,
    EVENT_LABELS=EVENT_LABELS,
    QUICK_REASONS=QUICK_REASONS,
    STATIC=STATIC_PATH,
)
# Ids that tie each <label> to its control: unique within any page.
_field_ids = itertools.count(1)
_environment.globals["uid"] = lambda: f"field-{next(_field_ids)}"


def _static_version() -> str:
    # Changes whenever a static file does, so browsers never keep an old script.
    stamps = [int(p.stat().st_mtime) for p in STATIC_DIR.iterdir() if p.is_file()]
    return str(max(stamps, default=0))


_environment.globals["STATIC_VERSION"] = _static_version()


@dataclass(frozen=True)
class Reader:
    """The person reading the page: who they are (None on the sign-in page),
    their language and time zone, and the CSRF token their changes carry."""

    locale: str
    time_zone: str
    user: Principal | None = None
    csrf_token: str | None = None

    @classmethod
    def of(cls, request: Request) -> Reader:
        # Set by api.auth.caller.identify, which every dashboard page depends on.
        caller = getattr(request.state, "caller", None)
        return cls(
            locale=i18n.locale_of(request),
            time_zone=i18n.choose_time_zone(request.cookies.get(i18n.TIME_ZONE_COOKIE)),
            user=caller.principal if caller is not None else None,
            csrf_token=caller.csrf_token if caller is not None else None,
        )

    def reach(self, workspace_id: str) -> TicketReach | None:
        """What of the workspace the reader may see (None: all). Pages are
        only served to a signed-in reader; without one, nothing is in reach."""
        if self.user is None:
            return TicketReach(owner="")
        return self.user.reach(workspace_id)

    @property
    def formats(self) -> Formats:
        return Formats(self.locale, self.time_zone)

    def today(self) -> date:
        return datetime.now(UTC).astimezone(self.formats.zone).date()


def render_fragment(reader: Reader, template: str, **context: Any) -> str:
    with i18n.speaking(reader.locale):
        return _environment.get_template(template).render(reader=reader, fmt=reader.formats, **context)


def render(
    request: Request, reader: Reader, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    with i18n.speaking(reader.locale):
        script_messages = {key: i18n.gettext_(message) for key, message in SCRIPT_MESSAGES.items()}
        html = _environment.get_template(template).render(
            request=request,
            reader=reader,
            fmt=reader.formats,
            locales=[(code, i18n.locale_name(code)) for code in i18n.LOCALES],
            time_zones=i18n.time_zones(),
            script_messages=script_messages,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        )
    return HTMLResponse(html, status_code=status_code)


def safe_next(target: str) -> str:
    """Where to go after a form: only a dashboard page of this site (never
    another site: an open redirect would lend it our name)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/dashboard") or "\\" in target:
        return "/dashboard"
    return target


def json_attribute(value: Any) -> Markup:
    """JSON for a data-* attribute (escaped by the template)."""
    return Markup.escape(json.dumps(value, default=str))


_environment.filters["json_attr"] = json_attribute


def _instant(value: str | None, formats: Formats) -> str:
    """A time written into the log as text (snooze_until) in the reader's format."""
    try:
        return formats.datetime_long(datetime.fromisoformat(value)) if value else "—"
    except (TypeError, ValueError):
        return value or "—"


_environment.globals["instant"] = _instant
