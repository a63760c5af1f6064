"""Sign-in: passwords, dashboard sessions and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). Session and API tokens are
random 256-bit strings handed to the browser or the client once; the database
keeps only their SHA-256, so a leaked database does not leak working
credentials (a hash of a random token needs no slow hashing: there is nothing
to guess).
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.access import Principal, Role
from domain.commands import N_
from store.configuration import InvalidConfiguration, NotFound
from store.db import make_engine, reading, write_transaction
from store.models import ApiToken, Segment, SegmentManager, User, UserSession

PASSWORDS = PasswordHasher()
# Verified when the username is unknown, so that a wrong username takes as
# long as a wrong password and usernames cannot be probed by timing.
_UNKNOWN_USER_HASH = PASSWORDS.hash(secrets.token_urlsafe(16))
TOKEN_PREFIX = "cxl_"
# A token's last use is written at most this often: not a write per request.
LAST_USED_PRECISION = timedelta(minutes=5)
MIN_PASSWORD_LENGTH = 10


class AccountError(InvalidConfiguration, ValueError):
    """A refused account change, with a reason fit for the user: a message
    and its parameters, like any refusal of the configuration (the API
    answers it in the reader's language)."""


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _principal(session: Session, user: User) -> Principal:
    segments: dict[str, set[str]] = defaultdict(set)
    rows = session.execute(
        select(Segment.workspace_id, Segment.name)
        .join(SegmentManager, SegmentManager.segment_id == Segment.id)
        .where(SegmentManager.user_id == user.id)
    )
    for workspace_id, name in rows:
        segments[workspace_id].add(name)
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        segments={workspace: frozenset(names) for workspace, names in segments.items()},
    )


# --- passwords -------------------------------------------------------------------------


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(N_("a password needs at least {count} characters"), count=MIN_PASSWORD_LENGTH)


def set_password(engine: Engine, user_id: str, password: str) -> None:
    check_password_strength(password)
    # Hashed before the transaction: it holds the write lock (on SQLite every
    # writer's), and Argon2 takes a while on purpose.
    password_hash = PASSWORDS.hash(password)
    with Session(engine) as session, session.begin():
        user = session.get(User, user_id)
        if user is None:
            raise AccountError(N_("unknown user"))
        user.password_hash = password_hash
        # A new password signs out every browser that used the old one.
        session.execute(delete(UserSession).where(UserSession.user_id == user_id))


def authenticate(engine: Engine, username: str, password: str) -> Principal | None:
    """The user whose password this is, or None (unknown user, no password
    set, or a wrong one: the caller cannot tell which)."""
    # Read, then verified outside any transaction: Argon2 takes a while on
    # purpose, and a transaction that may write holds the write lock.
    with reading(engine) as connection, Session(bind=connection) as session:
        # No username has a NUL, and PostgreSQL refuses one even in a look-up:
        # such a name is unknown (and still costs a hash, like any other).
        user = None if "\x00" in username else session.scalar(select(User).where(User.username == username))
        # A deactivated user is refused like an unknown one (after the same hash).
        principal = _principal(session, user) if user is not None and user.deactivated_at is None else None
        stored = user.password_hash if user is not None and user.password_hash else _UNKNOWN_USER_HASH
    try:
        PASSWORDS.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if principal is None or stored is _UNKNOWN_USER_HASH:
        return None
    if PASSWORDS.check_needs_rehash(stored):
        rehashed = PASSWORDS.hash(password)
        with write_transaction(engine) as connection:
            # Unless the password changed meanwhile.
            connection.execute(
                update(User).where(User.id == principal.user_id, User.password_hash == stored)
                .values(password_hash=rehashed)
            )
    return principal


# --- dashboard sessions ----------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    csrf_token: str


def open_session(engine: Engine, user_id: str, lifetime: timedelta) -> tuple[str, str]:
    """A new session for the user: (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        # Expired sessions of this user go when a new one opens.
        session.execute(
            delete(UserSession).where(UserSession.user_id == user_id, UserSession.expires_at <= now)
        )
        session.add(
            UserSession(token_hash=_hash_token(token), user_id=user_id, csrf_token=csrf, expires_at=now + lifetime)
        )
    return token, csrf


def session_principal(engine: Engine, token: str) -> SignedIn | None:
    with reading(engine) as connection, Session(bind=connection) as session:
        row = session.get(UserSession, _hash_token(token))
        if row is None or row.expires_at <= datetime.now(UTC):
            return None
        user = session.get(User, row.user_id)
        if user is None or user.deactivated_at is not None:
            return None
        return SignedIn(_principal(session, user), row.csrf_token)


def close_session(engine: Engine, token: str) -> None:
    with Session(engine) as session, session.begin():
        session.execute(delete(UserSession).where(UserSession.token_hash == _hash_token(token)))


# --- API tokens ------------------------------------------------------------------------


def create_token(engine: Engine, user_id: str, name: str) -> tuple[ApiToken, str]:
    """A new bearer token: its row and its secret, shown this once."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            if session.get(User, user_id) is None:
                raise NotFound(N_("user '{id}' not found"), id=user_id)
            row = ApiToken(user_id=user_id, name=name, token_hash=_hash_token(secret))
            session.add(row)
    except IntegrityError:
        # The user was deleted between the look-up and the insert.
        raise NotFound(N_("user '{id}' not found"), id=user_id) from None
    return row, secret


def list_tokens(engine: Engine, user_id: str | None = None) -> list[ApiToken]:
    """Every token (of one user), newest first; revoked ones included."""
    stmt = select(ApiToken).order_by(ApiToken.created_at.desc())
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    with Session(engine) as session:
        return list(session.scalars(stmt))


def get_token(engine: Engine, token_id: str) -> ApiToken | None:
    with Session(engine) as session:
        return session.get(ApiToken, token_id)


def revoke_token(engine: Engine, token_id: str) -> ApiToken | None:
    """Revoke (idempotent); None when there is no such token."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        row = session.get(ApiToken, token_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        return row


def token_principal(engine: Engine, secret: str) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = datetime.now(UTC)
    with reading(engine) as connection, Session(bind=connection) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(secret)))
        if row is None or row.revoked_at is not None:
            return None
        user = session.get(User, row.user_id)
        # A deactivated user's tokens are refused (and work again if they come back).
        if user is None or user.deactivated_at is not None:
            return None
        principal = _principal(session, user)
        stale = row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION
        token_id = row.id
    if stale:
        # Its own write transaction, after the read one: a read transaction
        # cannot write (store.db.reading).
        with write_transaction(engine) as connection:
            connection.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    return principal


# --- the first admin -------------------------------------------------------------------


def ensure_first_admin(engine: Engine, username: str, email: str) -> str | None:
    """On a database without any admin, create `username` as an admin with a
    random password and answer that password (shown once); otherwise None."""
    with Session(engine) as session, session.begin():
        if session.scalar(select(User.id).where(User.role == Role.ADMIN).limit(1)) is not None:
            return None
        password = secrets.token_urlsafe(12)
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, email=email, role=Role.ADMIN)
            session.add(user)
        user.role = Role.ADMIN
        user.password_hash = PASSWORDS.hash(password)
        return password


def main(argv: list[str] | None = None) -> None:
    """`python -m store.accounts first-admin URL [USERNAME [EMAIL]]`: the
    first admin of a fresh database (docker-compose's migrate step runs it;
    `make run` does the same through run.py)."""
    parser = argparse.ArgumentParser(prog="python -m store.accounts", description="cxloop accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    first = commands.add_parser("first-admin", help="create an admin with a random password if there is none")
    first.add_argument("url")
    first.add_argument("username", nargs="?", default="admin")
    first.add_argument("email", nargs="?", default="admin@cxloop.localhost")
    args = parser.parse_args(argv)
    engine = make_engine(args.url)
    try:
        password = ensure_first_admin(engine, args.username, args.email)
    finally:
        engine.dispose()
    if password is None:
        print("an admin exists already; nothing created")
    else:
        print(f"created the first admin '{args.username}' with password {password} (change it: PUT /api/me/password)")


if __name__ == "__main__":
    main()
