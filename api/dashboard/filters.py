"""The dashboard's filters, as they live in the URL's query string.

Every view reads the same parameters (so a view can be shared, reloaded and
switched without losing them): `workspace`, `from` and `to` (dates, in the
reader's time zone, both days included), `segment`, `owner`, `status` and
`priority` (repeatable), `q`, the score's range `score_min` and `score_max`
(0-10) and its NPS category `nps` (repeatable: detractor, passive,
promoter), and for the list `sort` and `cursor`. Without
`from` and `to` the views show the last 30 days, as the API does; an empty
`from=` asks for every date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, get_args
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from domain.ticket import NpsCategory, Priority, TicketStatus
from store.tickets import TicketFilters, TicketSort

if TYPE_CHECKING:  # pages imports this module
    from api.dashboard.pages import Reader

SORTS: tuple[str, ...] = get_args(TicketSort)
DEFAULT_SORT = "-reported_at"
# The period the views show when no dates are given (the API's default too).
DEFAULT_PERIOD = TicketFilters.DEFAULT_PERIOD
MAX_SEARCH = 200
# No name or text searched for has control characters; a NUL would even reach
# the database (PostgreSQL refuses it, SQLite's search index too).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _text(params: QueryParams, name: str) -> str:
    return CONTROL_CHARACTERS.sub("", params.get(name, "")).strip()


def _score(params: QueryParams, name: str) -> int | None:
    try:
        value = int(params.get(name, ""))
    except ValueError:
        return None
    return value if 0 <= value <= 10 else None


def _enum_values(values: list[str], enum: type) -> tuple[str, ...]:
    allowed = {member.value for member in enum}
    return tuple(dict.fromkeys(v for v in values if v in allowed))


@dataclass(frozen=True)
class DashboardQuery:
    workspace: str
    date_from: date | None = None
    date_to: date | None = None
    segment: str = ""
    owner: str = ""
    status: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    q: str = ""
    score_min: int | None = None
    score_max: int | None = None
    nps: tuple[str, ...] = ()
    sort: str = DEFAULT_SORT
    cursor: str = ""
    page: int = 1
    # Parameters that were in the URL, so that links keep exactly those.
    explicit_dates: bool = field(default=False, compare=False)

    @classmethod
    def parse(cls, params: QueryParams, workspace: str, today: date) -> DashboardQuery:
        """Unknown values (a misspelt status, a malformed date, control
        characters in text) are dropped rather than refused: a bookmarked view
        keeps working."""
        explicit = "from" in params or "to" in params
        date_from, date_to = _date(params.get("from")), _date(params.get("to"))
        if not explicit:
            date_from = today - DEFAULT_PERIOD
        if date_from and date_to and date_from > date_to:
            date_from, date_to = date_to, date_from
        score_min, score_max = _score(params, "score_min"), _score(params, "score_max")
        if score_min is not None and score_max is not None and score_min > score_max:
            score_min, score_max = score_max, score_min
        sort = params.get("sort", DEFAULT_SORT)
        try:
            page = max(1, min(int(params.get("page", "1")), 1_000_000))
        except ValueError:
            page = 1
        return cls(
            workspace=workspace,
            date_from=date_from,
            date_to=date_to,
            segment=_text(params, "segment"),
            owner=_text(params, "owner"),
            status=_enum_values(params.getlist("status"), TicketStatus),
            priority=_enum_values(params.getlist("priority"), Priority),
            q=_text(params, "q")[:MAX_SEARCH],
            score_min=score_min,
            score_max=score_max,
            nps=_enum_values(params.getlist("nps"), NpsCategory),
            sort=sort if sort in SORTS else DEFAULT_SORT,
            cursor=params.get("cursor", "") if params.get("cursor", "").isascii() else "",
            page=page if params.get("cursor") else 1,
            explicit_dates=explicit,
        )

    # --- to the store -----------------------------------------------------------------

    def ticket_filters(self, reader: Reader, *, with_status: bool = True) -> TicketFilters:
        """The store's filters: dates become the reader's midnights, in UTC;
        only tickets in the reader's reach."""
        zone = ZoneInfo(reader.time_zone)

        def midnight(day: date) -> datetime:
            return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)

        return TicketFilters(
            workspace_id=self.workspace,
            reported_from=midnight(self.date_from) if self.date_from else None,
            reported_to=midnight(self.date_to + timedelta(days=1)) if self.date_to else None,
            segment=self.segment or None,
            owner=self.owner or None,
            status=[TicketStatus(s) for s in self.status] if with_status else None,
            priority=[Priority(p) for p in self.priority] or None,
            q=self.q or None,
            score_min=self.score_min,
            score_max=self.score_max,
            nps=[NpsCategory(n) for n in self.nps] or None,
            reach=reader.reach(self.workspace),
        )

    # --- to URLs ----------------------------------------------------------------------

    def params(self, *, paging: bool = False) -> list[tuple[str, str]]:
        """The filters as query parameters (and the sort; the cursor when paging)."""
        pairs: list[tuple[str, str]] = [("workspace", self.workspace)]
        # Default dates stay out of links: a shared link keeps meaning "the
        # last 30 days" tomorrow.
        if self.explicit_dates:
            pairs += [
                ("from", self.date_from.isoformat() if self.date_from else ""),
                ("to", self.date_to.isoformat() if self.date_to else ""),
            ]
        for name in ("segment", "owner", "q"):
            if getattr(self, name):
                pairs.append((name, getattr(self, name)))
        pairs += [("status", s) for s in self.status]
        pairs += [("priority", p) for p in self.priority]
        pairs += self._score_params()
        if self.sort != DEFAULT_SORT:
            pairs.append(("sort", self.sort))
        if paging and self.cursor:
            pairs += [("cursor", self.cursor), ("page", str(self.page))]
        return pairs

    def _score_params(self) -> list[tuple[str, str]]:
        """The score filters, the same in the views' links and the API's."""
        pairs = [(name, str(value)) for name, value in (("score_min", self.score_min), ("score_max", self.score_max))
                 if value is not None]
        return pairs + [("nps", n) for n in self.nps]

    def query_string(self, **changes: object) -> str:
        """This view's query with some filters changed (and the page reset)."""
        changed = replace(self, cursor="", page=1, **changes) if changes else replace(self, cursor="", page=1)
        return urlencode(changed.params())

    def page_query(self, cursor: str, page: int) -> str:
        return urlencode(replace(self, cursor=cursor, page=page).params(paging=True))

    def api_query(self, reader: Reader) -> str:
        """The same filters for the API (the Excel export): exact instants."""
        filters = self.ticket_filters(reader)
        pairs: list[tuple[str, str]] = [("workspace", self.workspace)]
        # Without any date the API would fall back to the last 30 days; the
        # view shows every date, so the export must ask for every date too.
        reported_from = filters.reported_from
        if reported_from is None and filters.reported_to is None:
            reported_from = datetime(1970, 1, 1, tzinfo=UTC)
        if reported_from is not None:
            pairs.append(("from", reported_from.isoformat()))
        if filters.reported_to is not None:
            pairs.append(("to", filters.reported_to.isoformat()))
        for name in ("segment", "owner", "q"):
            if getattr(self, name):
                pairs.append((name, getattr(self, name)))
        pairs += [("status", s) for s in self.status]
        pairs += [("priority", p) for p in self.priority]
        pairs += self._score_params()
        pairs.append(("sort", self.sort))
        return urlencode(pairs)

    @property
    def is_filtered(self) -> bool:
        return bool(
            self.explicit_dates or self.segment or self.owner or self.status or self.priority or self.q
            or self.score_min is not None or self.score_max is not None or self.nps
        )
