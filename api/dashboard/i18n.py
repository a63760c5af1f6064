"""The dashboard's languages, time zones and formats.

Messages are English in the templates and code (the msgids); each other
language has a Babel catalog, `locales/<lang>/LC_MESSAGES/messages.po`, kept
in the repository. The catalogs are compiled in memory (babel's pofile and
mofile) the first time a language is used, so there is no build step and no
compiled file to forget. `python -m api.dashboard.catalogs` re-extracts the
messages and updates the catalogs.

A person's language is their choice (a cookie set by the language selector)
or else their browser's Accept-Language, negotiated with Babel; their time zone
is a cookie too, UTC until they choose one.

The same catalogs and negotiation serve the API's error answers that the
dashboard shows (a ticket's refusals, "ticket not found"): see api/errors.py.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time, format_timedelta
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from starlette.requests import HTTPConnection

# One marker for messages to extract, the domain's (its refusals use it too);
# a marked message is translated where it is shown.
from domain.commands import N_  # noqa: F401  (re-exported for api/)
from domain.ticket import TicketEvent, TicketStatus
from domain.wording import STATUS_LABELS, actor_phrase, change_phrase, comment_phrase

CATALOGS = Path(__file__).parent / "locales"
DOMAIN = "messages"
SOURCE_LOCALE = "en"
LOCALES = ("en", "de", "es", "ja", "hu")
DEFAULT_TIME_ZONE = "UTC"

LOCALE_COOKIE = "cxloop_locale"
TIME_ZONE_COOKIE = "cxloop_tz"
WORKSPACE_COOKIE = "cxloop_workspace"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalog of a language (the msgids themselves for English)."""
    if locale == SOURCE_LOCALE or locale not in LOCALES:
        return gettext.NullTranslations()
    with (CATALOGS / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


_current: ContextVar[gettext.NullTranslations] = ContextVar("dashboard_translations")


def gettext_(message: str) -> str:
    return _current.get(gettext.NullTranslations()).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return _current.get(gettext.NullTranslations()).ngettext(singular, plural, n)


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    """Render in this language: the templates' `_()` reads it from here."""
    token = _current.set(translations(locale))
    try:
        yield
    finally:
        _current.reset(token)


def parse_accept_language(header: str | None) -> list[str]:
    """Accept-Language's languages, most wanted first ("de-CH,de;q=0.9" -> de-CH, de)."""
    weighted = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def choose_locale(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LOCALES:
        return cookie
    return negotiate_locale(parse_accept_language(accept_language), LOCALES, sep="-") or SOURCE_LOCALE


def locale_of(request: HTTPConnection) -> str:
    """The language of whoever sent the request: their dashboard choice, else
    their Accept-Language (an API client that sends neither reads English)."""
    return choose_locale(request.cookies.get(LOCALE_COOKIE), request.headers.get("accept-language"))


@runtime_checkable
class Message(Protocol):
    """A message with named {placeholders} and the values that fill them in."""

    message: str
    params: Mapping[str, Any]


# Refusals (domain/commands.py) name statuses by their values ("cannot change
# status from new to closed"); the reader reads the words the list shows.
STATUS_REFUSALS = frozenset({
    "{name} applies to {requires} tickets; this one is {status}",
    "only a deleted ticket can be purged; this one is {status}",
    "cannot change status from {old} to {new} (allowed: {allowed})",
    "cannot change status from {old} to {new} (allowed: none)",
    "a ticket cannot start as {status} (allowed: {allowed})",
})
STATUS_PARAMETERS = ("requires", "status", "old", "new", "allowed")


def translate(
    locale: str, message: str, params: Mapping[str, Any], time_zone: str = DEFAULT_TIME_ZONE
) -> str:
    """A message with named {placeholders} (a refusal's, an API error's, a log
    line's) in the language, filled in. A value that is a `Message` of its own
    (a part of the message: "2 segments" in "... still has 2 segments") is
    translated first; a `timedelta` is written as a duration ("1 day, 2
    hours"), a `datetime` as a date and time in `time_zone`. A translation
    that names other placeholders than the message (`catalogs --check`
    refuses one) falls back to English rather than fail the answer it is
    part of."""
    if message in STATUS_REFUSALS:
        params = {**params, **{
            name: _statuses(locale, params[name]) for name in STATUS_PARAMETERS if name in params
        }}
    filled = {name: _word(locale, value, time_zone) for name, value in params.items()}
    try:
        return translations(locale).gettext(message).format(**filled)
    except (KeyError, IndexError, ValueError):
        return message.format(**filled)


def _word(locale: str, value: Any, time_zone: str) -> Any:
    if isinstance(value, Message):
        return translate(locale, value.message, value.params, time_zone)
    if isinstance(value, timedelta):
        return duration(locale, value)
    if isinstance(value, datetime):
        return format_datetime(value, "medium", tzinfo=ZoneInfo(time_zone), locale=locale)
    return value


def _statuses(locale: str, values: str) -> str:
    """Status values ("new" or "open, spam") as the list's words."""
    words = []
    for value in str(values).split(", "):
        try:
            words.append(translations(locale).gettext(STATUS_LABELS[TicketStatus(value)]))
        except ValueError:
            words.append(value)
    return ", ".join(words)


def duration(locale: str, value: timedelta) -> str:
    """A duration exactly, in the language's units: "1 Tag, 2 Stunden"."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(format_timedelta(timedelta(seconds=count * size), threshold=1, locale=locale))
    if not parts:
        return format_timedelta(timedelta(0), granularity="second", locale=locale)
    return format_list(parts, style="unit", locale=locale)


def say(locale: str, phrase: Any, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """A `domain.wording` phrase (or a plain value, as it is) in the language."""
    return str(_word(locale, phrase, time_zone))


@dataclass(frozen=True)
class LogLine:
    """One line of a ticket's log as a person reads it."""

    who: str
    what: str
    comment: str


def log_line(
    event: TicketEvent, names: Mapping[str, str], locale: str, time_zone: str = DEFAULT_TIME_ZONE
) -> LogLine:
    """Who (by name), what changed (in words) and why (a system comment in
    the language; a person's as written). `names`: the directory's names of
    the actors and owners (store.directory.names_for)."""
    return LogLine(
        who=say(locale, actor_phrase(event.actor, names), time_zone),
        what=say(locale, change_phrase(event, names), time_zone),
        comment=say(locale, comment_phrase(event, names), time_zone),
    )


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return (DEFAULT_TIME_ZONE, *zones)


def choose_time_zone(cookie: str | None) -> str:
    if cookie:
        try:
            ZoneInfo(cookie)
            return cookie
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return DEFAULT_TIME_ZONE


def locale_name(locale: str) -> str:
    """A language as its own speakers write it ("Deutsch", "日本語")."""
    name = Locale.parse(locale).get_display_name(locale) or locale
    return name[:1].upper() + name[1:]


@dataclass(frozen=True)
class Formats:
    """Dates and numbers as the person reading the page writes them."""

    locale: str
    time_zone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def datetime(self, value: datetime | None) -> str:
        """Short: "23. Nov. 2025 17:14" in German."""
        if value is None:
            return ""
        day = format_skeleton("yMMMd", value, tzinfo=self.zone, locale=self.locale)
        return f"{day} {format_time(value, 'short', tzinfo=self.zone, locale=self.locale)}"

    def date(self, value: date) -> str:
        return format_date(value, "medium", locale=self.locale)

    def datetime_long(self, value: datetime | None) -> str:
        """With seconds, for the log: "23.11.2025, 17:14:00"."""
        if value is None:
            return ""
        return format_datetime(value, "medium", tzinfo=self.zone, locale=self.locale)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def log_line(self, event: TicketEvent, names: Any = None) -> LogLine:
        """A line of the ticket's log for this reader (`names`: see log_line;
        a page without a directory shows ids)."""
        return log_line(event, names if isinstance(names, Mapping) else {}, self.locale, self.time_zone)

    def local_input(self, value: datetime | None) -> str:
        """A `datetime-local` input's value, in the person's time zone."""
        if value is None:
            return ""
        return value.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M")
