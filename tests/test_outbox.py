"""The outbox and its mailer, on both databases and a real SMTP server.

A ticket's mails are queued in its projection's transaction (store/outbox.py)
and sent by the mailer (activities/mailer.py): queued once whatever attempts
of a workflow task project; what a discarded attempt queued is dropped when
the committed one corrects its line; sent only after the mail server took
it; retried while the server is away; failed at once, with its reason and
the owner told, when the server refuses the address.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.mail import MailActivities
from activities.mailer import Mailer
from activities.notices import NoticeActivities
from domain.commands import Command, NewTicket, TicketChange, decide_change, decide_comment, decide_create
from domain.notices import notices_for
from domain.contracts import TicketWorkflowInput
from domain.ticket import (
    NoticeKind, Source, TicketNotice, TicketPolicy, TicketProjection, TicketState, workflow_id_for,
)
from store import outbox
from store.db import make_engine, migrate
from store.models import OutboxRow, User, UserRole
from store.tickets import TicketStore
from tests.api_fixtures import free_port
from workflows.ticket import TicketWorkflow

ROOT = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = TicketPolicy(segment_managers={"retail": ["ann", "bob"]})
NO_SETTLE = timedelta(0)


def new_ticket(customer: str = "pat@example.com") -> tuple[TicketState, list]:
    created = decide_create(
        NewTicket(id=str(uuid.uuid4()), source=Source.MANUAL, customer_email=customer, segment="retail",
                  owner="ann", comment="Phoned in"),
        POLICY, NOW,
    )
    return created.state, created.events


def resolved(state: TicketState, key: str, at: datetime = NOW) -> TicketProjection:
    """The ticket resolved by ann, with the customer's "Is it solved?" mail."""
    decision = decide_change(state, TicketChange(status="resolved", comment="Refund sent", actor="ann"), POLICY, at)
    notices = [
        notice.model_copy(update={"key": f"{notice.kind.value}.{state.id}.{key}"})
        for notice in notices_for(state, decision.state, "ann", "Refund sent")
    ]
    return TicketProjection(state=decision.state, events=decision.events, decided_at=at, notices=notices)


def rows(store: TicketStore, ticket_id: str) -> list[outbox.Delivery]:
    return outbox.deliveries(store.engine, ticket_id)


@pytest.fixture
def store(ticket_store: TicketStore) -> TicketStore:
    ticket_store.mail_settle = NO_SETTLE
    return ticket_store


def test_a_mail_is_queued_once_whatever_attempts_project_it(store: TicketStore) -> None:
    state, events = new_ticket()
    store.apply(TicketProjection(state=state, events=events, decided_at=NOW))
    first = resolved(state, "update-1")
    assert [notice.kind for notice in first.notices] == [NoticeKind.RESOLVED]

    store.apply(first, projected_at=NOW)
    # The local activity retried, and a new attempt of the task with another
    # comment before it: the same update's mail, now under line 3.
    store.apply(first, projected_at=NOW + timedelta(seconds=1))
    commented = decide_comment(state, Command(comment="first", actor="bob"), NOW)
    again = resolved(commented.state, "update-1", NOW + timedelta(seconds=2))
    store.apply(TicketProjection(state=again.state, events=commented.events + again.events,
                                 decided_at=again.decided_at, notices=again.notices),
                projected_at=NOW + timedelta(seconds=2))

    [mail] = rows(store, state.id)
    assert (mail.kind, mail.recipient, mail.to_customer, mail.status, mail.seq) == (
        "resolved", "pat@example.com", True, "queued", 3)
    assert mail.message_id.startswith("<") and state.id not in mail.message_id


def test_a_discarded_attempts_mail_goes_when_the_committed_attempt_corrects_its_line(store: TicketStore) -> None:
    """The discarded attempt resolved the ticket (a mail to the customer);
    the committed one ran a comment under that line instead: the queued mail
    is dropped before it was ever due to leave."""
    state, events = new_ticket()
    store.apply(TicketProjection(state=state, events=events, decided_at=NOW))
    task_time = NOW + timedelta(seconds=1)
    store.apply(resolved(state, "update-9", task_time), projected_at=task_time)
    assert [mail.status for mail in rows(store, state.id)] == ["queued"]

    commented = decide_comment(state, Command(comment="a note", actor="bob"), task_time)
    applied = store.apply(
        TicketProjection(state=commented.state, events=commented.events, decided_at=task_time),
        projected_at=task_time + timedelta(milliseconds=5),
    )
    assert applied.written and applied.repaired >= 2  # the line corrected, the mail dropped
    assert rows(store, state.id) == []


def test_a_mail_sent_is_never_queued_again(store: TicketStore) -> None:
    state, events = new_ticket()
    store.apply(TicketProjection(state=state, events=events, decided_at=NOW))
    projection = resolved(state, "update-2")
    store.apply(projection, projected_at=NOW)
    [mail] = rows(store, state.id)
    outbox.mark_sent(store.engine, mail.key, NOW)
    store.apply(projection, projected_at=NOW + timedelta(seconds=1))
    assert [(mail.status, mail.attempts) for mail in rows(store, state.id)] == [("sent", 0)]
    assert outbox.claim(store.engine, NOW + timedelta(hours=1), timedelta(minutes=1)) == []


def test_a_claim_holds_its_mails_for_the_lease_only(store: TicketStore) -> None:
    tickets = []
    for n in range(6):
        state, events = new_ticket(f"c{n}@example.com")
        store.apply(TicketProjection(state=state, events=events, decided_at=NOW))
        store.apply(resolved(state, f"update-{n}"), projected_at=NOW)
        tickets.append(state.id)
    lease = timedelta(minutes=2)
    # Two mailers at once (threads, each its own connection): no mail twice.
    claims: list[list[outbox.Claimed]] = [[], []]

    def take(slot: int) -> None:
        claims[slot] = outbox.claim(store.engine, NOW + timedelta(seconds=1), lease, limit=4)

    threads = [threading.Thread(target=take, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    taken = [mail.key for claim in claims for mail in claim]
    assert len(taken) == len(set(taken)) == 6
    assert outbox.claim(store.engine, NOW + timedelta(minutes=1), lease) == []
    # A mailer that died with its claim: after the lease, another takes them.
    again = outbox.claim(store.engine, NOW + timedelta(minutes=3), lease)
    assert {mail.key for mail in again} == set(taken)
    assert {mail.attempts for mail in again} == {2}


# --- the mailer on a real SMTP server ---------------------------------------------------


class Refusing:
    """An SMTP server's handler (aiosmtpd) that keeps what it receives and
    refuses, for good, every address at bounce.example.com."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        if address.endswith("@bounce.example.com"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Refusing]]:
    handler = Refusing()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    yield controller, handler
    if controller._thread is not None:  # still running
        controller.stop()


def mailer_for(store: TicketStore, controller: Controller) -> Mailer:
    mail = MailActivities(controller.hostname, controller.port, "Acme care <care@acme.example>", engine=store.engine)
    return Mailer(store.engine, NoticeActivities(store.engine, mail, "test-secret", "http://cxloop.test"))


def test_mail_waits_while_the_mail_server_is_away_and_leaves_once_it_is_back(
    store: TicketStore, smtp: tuple[Controller, Refusing]
) -> None:
    controller, handler = smtp
    state, events = new_ticket()
    store.apply(TicketProjection(state=state, events=events, decided_at=NOW))
    # Queued now: the mailer counts a day of retries from then.
    store.apply(resolved(state, "update-1"), projected_at=datetime.now(UTC))
    mailer = mailer_for(store, controller)

    # Nobody listens on the port yet.
    assert mailer.send_due() == 1
    [mail] = rows(store, state.id)
    assert mail.status == "queued" and mail.attempts == 1 and "refused" in (mail.error or "").lower()
    assert mailer.send_due() == 0  # not due again before its pause

    controller.start()
    assert mailer.send_due(now=datetime.now(UTC) + timedelta(seconds=11)) == 1
    [mail] = rows(store, state.id)
    assert (mail.status, mail.attempts, mail.error) == ("sent", 2, None)
    [received] = handler.messages
    assert received["To"] == "pat@example.com"
    assert received["Message-ID"] == mail.message_id
    assert received.get_content_type() == "multipart/alternative"


def test_a_refused_address_fails_at_once_with_the_reason_and_the_owner_is_told(
    store: TicketStore, smtp: tuple[Controller, Refusing]
) -> None:
    controller, handler = smtp
    controller.start()
    with Session(store.engine) as session, session.begin():
        session.add(User(username="ann", email="ann@acme.example", role=UserRole.MANAGER))
    state, events = new_ticket("gone@bounce.example.com")
    store.apply(TicketProjection(state=state, events=events, decided_at=NOW))
    # Queued now: the mailer counts a day of retries from then.
    store.apply(resolved(state, "update-1"), projected_at=datetime.now(UTC))
    mailer = mailer_for(store, controller)

    assert mailer.send_due() == 1
    failed, told = rows(store, state.id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.error.startswith("550") and "mailbox unavailable" in failed.error
    assert (told.kind, told.recipient, told.status) == ("delivery_failed", "ann", "queued")

    assert mailer.send_due() == 1
    [to_owner] = handler.messages
    assert to_owner["To"] == "ann@acme.example"
    assert state.reference in to_owner["Subject"]
    assert "550" in to_owner.get_content() and "gone@bounce.example.com" in to_owner.get_content()
    assert [mail.status for mail in rows(store, state.id)] == ["failed", "sent"]
    with Session(store.engine) as session:
        assert session.scalar(select(OutboxRow.status).where(OutboxRow.key == told.key)) == "sent"


def test_a_users_notice_without_an_address_fails_without_retrying(
    store: TicketStore, smtp: tuple[Controller, Refusing]
) -> None:
    controller, _ = smtp
    controller.start()
    state, events = new_ticket()
    assign = decide_change(state, TicketChange(owner="bob", comment="yours", actor="ann"), POLICY, NOW)
    notices = [n.model_copy(update={"key": f"{n.kind.value}.{state.id}.u1"})
               for n in notices_for(state, assign.state, "ann", "yours")]
    assert [n.kind for n in notices] == [NoticeKind.ASSIGNED]
    store.apply(TicketProjection(state=state, events=events, decided_at=NOW))
    store.apply(TicketProjection(state=assign.state, events=assign.events, decided_at=NOW, notices=notices),
                projected_at=datetime.now(UTC))

    assert mailer_for(store, controller).send_due() == 1
    [mail] = rows(store, state.id)
    assert (mail.status, mail.error) == ("failed", "no address for bob")


def test_a_notice_keeps_its_shape_through_the_outbox() -> None:
    """What the outbox stores is what the mailer gets back."""
    notice = TicketNotice(kind=NoticeKind.REPLY, ticket_id="t", reference="CX-1", version=3, to="a@b.example",
                          customer_email="a@b.example", segment="retail", actor="ann", key="reply.t.u1",
                          body="Dear Pat,\nwe are on it.")
    assert TicketNotice.model_validate(notice.model_dump(mode="json")) == notice


def test_a_mail_the_server_never_took_is_given_up_after_a_day(
    store: TicketStore, smtp: tuple[Controller, Refusing]
) -> None:
    controller, _ = smtp  # never started: nobody listens
    state, events = new_ticket()
    store.apply(TicketProjection(state=state, events=events, decided_at=NOW))
    store.apply(resolved(state, "update-1"), projected_at=datetime.now(UTC) - timedelta(days=1, minutes=1))

    assert mailer_for(store, controller).send_due() == 1
    mail, told = rows(store, state.id)
    assert mail.status == "failed" and mail.error.startswith("given up after 1 attempts")
    assert (told.kind, told.recipient) == ("delivery_failed", "ann")


# --- a worker killed between projection and send ----------------------------------------


def worker_process(dev_server, database_url: str, task_queue: str, smtp_port: int, settle: float, log) -> subprocess.Popen:
    """`python worker.py` as `make run` starts it, configured through CXLOOP_*."""
    env = {
        **os.environ,
        "CXLOOP_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "CXLOOP_TEMPORAL_NAMESPACE": dev_server.client.namespace,
        "CXLOOP_TASK_QUEUE": task_queue,
        "CXLOOP_DATABASE_URL": database_url,
        "CXLOOP_SMTP_HOST": "127.0.0.1",
        "CXLOOP_SMTP_PORT": str(smtp_port),
        "CXLOOP_MAIL_SETTLE_SECONDS": str(settle),
        "CXLOOP_MAILER_POLL_SECONDS": "0.1",
        "CXLOOP_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.mark.dev_server
async def test_mail_queued_by_a_worker_killed_before_sending_is_sent_by_the_next(
    dev_server, database_url: str, smtp: tuple[Controller, Refusing], tmp_path
) -> None:
    """Tickets resolved (each queues a mail to its customer); the worker is
    SIGKILLed before any mail was due; the next worker sends every one of
    them, once each."""
    controller, handler = smtp
    controller.start()
    migrate(database_url)
    engine = make_engine(database_url)
    task_queue = f"outbox-kill-{uuid.uuid4().hex[:8]}"
    log = (tmp_path / "workers.log").open("wb")
    # Mails wait 10 s before they are due: the kill comes first (the five
    # updates take a second or two).
    first = worker_process(dev_server, database_url, task_queue, controller.port, 10, log)
    second = None
    try:
        client = dev_server.client
        customers = [f"kill-{n}-{uuid.uuid4().hex[:6]}@example.com" for n in range(5)]

        async def resolve(customer: str) -> None:
            new = NewTicket(id=str(uuid.uuid4()), source=Source.MANUAL, customer_email=customer, segment="retail",
                            owner="ann", comment="Phoned in")
            handle = await client.start_workflow(
                TicketWorkflow.run, TicketWorkflowInput(new=new, policy=POLICY),
                id=workflow_id_for(new.id), task_queue=task_queue,
            )
            await handle.execute_update(
                TicketWorkflow.change, TicketChange(status="resolved", comment="Refund sent", actor="ann")
            )

        # Each update returns once its projection (and its mail) landed.
        await asyncio.wait_for(asyncio.gather(*(resolve(customer) for customer in customers)), timeout=60)
        with Session(engine) as session:
            queued = session.scalars(select(OutboxRow.recipient).where(OutboxRow.status == "queued")).all()
        assert sorted(queued) == sorted(customers)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert handler.messages == []

        second = worker_process(dev_server, database_url, task_queue, controller.port, 0, log)
        # Due 10 s after they were queued; bounded well beyond.
        await until(lambda: len(handler.messages) >= len(customers), 90, "the queued mails")
        await asyncio.sleep(1)  # nothing more arrives
        assert sorted(message["To"] for message in handler.messages) == sorted(customers)
        with Session(engine) as session:
            assert set(session.scalars(select(OutboxRow.status))) == {"sent"}
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
        log.close()
        engine.dispose()


def test_who_spoke_last_is_the_newest_message_of_either_side(store: TicketStore) -> None:
    """The list and the kanban show it: the team's reply, then the customer's answer."""
    from domain.commands import CustomerReply, ReplyCommand, decide_customer_reply, decide_reply
    from store.conversation import who_spoke_last

    state, events = new_ticket()
    quiet, quiet_events = new_ticket("quiet@example.com")
    for ticket, log in ((state, events), (quiet, quiet_events)):
        store.apply(TicketProjection(state=ticket, events=log, decided_at=NOW))
    replied = decide_reply(state, ReplyCommand(body="Fixed?", actor="ann"), POLICY, NOW + timedelta(minutes=1))
    store.apply(TicketProjection(state=replied.state, events=replied.events, decided_at=NOW + timedelta(minutes=1)))
    assert {k: v.direction for k, v in who_spoke_last(store.engine, [state.id, quiet.id]).items()} == {state.id: "out"}
    answered = decide_customer_reply(replied.state, CustomerReply(comment="Yes"), POLICY, NOW + timedelta(minutes=2))
    store.apply(TicketProjection(state=answered.state, events=answered.events, decided_at=NOW + timedelta(minutes=2)))
    last = who_spoke_last(store.engine, [state.id])[state.id]
    assert (last.direction, last.at) == ("in", NOW + timedelta(minutes=2))
