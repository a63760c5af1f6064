"""The configuration's refusals and what its modules share.

The refusals: `ConfigurationError` and its kinds (`NotFound`, `Conflict`,
`InvalidConfiguration`), and `Phrase`, a part of a refusal's message that is
translated on its own. The helpers every kind of configuration uses: a read
session (`_reading`), one write transaction that translates the database's
refusals (`_writing`), lookups that refuse what is missing (`_get`,
`_workspace`), `_refuse_fields`, `_bump_revision`, and the counts and lookups
that more than one module makes (`_count`, `_segment_exists`). It imports no
other module of the package, so that any of them can import it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from domain.commands import N_
from store.db import reading, write_transaction
from store.models import Segment, Workspace

T = TypeVar("T")


# --- refusals ---------------------------------------------------------------------


class ConfigurationError(Exception):
    """A change or lookup the configuration refuses, and why.

    Like `domain.commands.Refused`: `message` is an English template (marked
    with `N_`) and `params` fill it in, so that the API can answer in the
    reader's language; `reason` (and str()) is the English text."""

    def __init__(self, message: str, **params: Any) -> None:
        self.reason = message.format(**params)
        super().__init__(self.reason)
        self.message = message
        self.params = params


class NotFound(ConfigurationError):
    pass


class Conflict(ConfigurationError):
    """A duplicate (name, username, id) or something still in use."""


class InvalidConfiguration(ConfigurationError):
    """A reference to something that does not exist, or a value the database refuses."""


@dataclass(frozen=True)
class Phrase:
    """A part of a refusal's message that is translated on its own ("2
    segments"), passed as one of the message's parameters. Its English text is
    what the message is filled in with in English."""

    message: str
    params: Mapping[str, Any]

    def __str__(self) -> str:
        return self.message.format(**self.params)


def _listing(phrases: Sequence[Phrase], separator: str) -> Phrase:
    """Phrases one after the other. The template that strings them together
    is no message of the catalogs: it reads the same in every language."""
    names = [f"item{index}" for index in range(len(phrases))]
    return Phrase(separator.join(f"{{{name}}}" for name in names), dict(zip(names, phrases)))


def _is_unique_violation(error: IntegrityError) -> bool:
    # PostgreSQL's SQLSTATE (psycopg), SQLite's message: neither driver says it
    # in a way the other understands.
    return getattr(error.orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(error.orig)


@contextmanager
def _reading(engine: Engine) -> Iterator[Session]:
    """A read of the configuration: on SQLite it neither takes nor waits for
    the write lock (store.db.reading), so settings pages and policy loads never
    queue behind projections, nor hold them up."""
    with reading(engine) as connection, Session(bind=connection) as session:
        yield session


@contextmanager
def _writing(engine: Engine, *, removing: bool = False) -> Iterator[Session]:
    """One write transaction (queued behind other writers on SQLite). The
    checks before each write give clear messages; the database's refusals are
    translated for the request that loses a race to a concurrent one."""
    try:
        with (
            write_transaction(engine) as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session
            session.flush()
    except IntegrityError as error:
        if _is_unique_violation(error):
            raise Conflict(N_("it already exists (changed concurrently); reload and retry")) from None
        if removing:
            raise Conflict(N_("it is still in use (changed concurrently); reload and retry")) from None
        raise InvalidConfiguration(N_("it refers to something that does not exist (any more)")) from None
    except DataError as error:
        raise InvalidConfiguration(
            N_("the database refused a value: {error}"), error=str(error.orig)
        ) from None


def _get(
    session: Session,
    model: type[T],
    row_id: str,
    not_found: str,
    missing: type[ConfigurationError] = NotFound,
) -> T:
    """The row `row_id`, else a refusal with the message `not_found` ("user
    '{id}' not found")."""
    # An id with a NUL can name nothing, and PostgreSQL refuses to even look
    # it up: answer "not found" rather than let the database fail.
    row = None if "\x00" in row_id else session.get(model, row_id)
    if row is None:
        raise missing(not_found, id=row_id)
    return row


def _refuse_fields(unknown: set[str], refusal: str) -> None:
    """Refuse fields a change or a new row cannot have (`refusal` names them: "{fields}")."""
    if unknown:
        raise InvalidConfiguration(refusal, fields=", ".join(sorted(unknown)))


def _workspace(
    session: Session, workspace_id: str, *, missing: type[ConfigurationError] = NotFound
) -> Workspace:
    return _get(session, Workspace, workspace_id, N_("workspace '{id}' not found"), missing)


def _bump_revision(session: Session, *workspace_ids: str) -> None:
    """Count a change the workspaces' tickets depend on (every change the API
    rolls out), in the transaction that makes it: a policy read at the new
    revision holds the change. An increment in the database, so concurrent
    changes each count."""
    if workspace_ids:
        session.execute(
            update(Workspace)
            .where(Workspace.id.in_(workspace_ids))
            .values(config_revision=Workspace.config_revision + 1)
        )


# --- counts and lookups that more than one module makes ----------------------------


def _count(session: Session, model: type, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _segment_exists(session: Session, workspace_id: str, name: str) -> bool:
    found = session.scalar(
        select(Segment.id).where(Segment.workspace_id == workspace_id, Segment.name == name)
    )
    return found is not None
