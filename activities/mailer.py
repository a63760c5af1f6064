"""The mailer: sends the outbox's mails (store/outbox.py), in the worker process.

A ticket's change queues its mails in the same transaction as its projection;
this loop claims the due ones, writes each in its reader's language
(activities/notices.py) and hands it to the mail server. So a mail costs the
ticket's workflow no activity and no workflow task, and the mail server being
away delays mail, never a change.

- Sent: marked so only after the server accepted it (a crash in between sends
  it again after the claim's lease: at least once, under one Message-ID).
- The server away, or a temporary refusal (4xx): tried again with growing
  pauses (10 s doubling, at most 10 minutes), for a day; then failed.
- A permanent refusal (5xx, the address refused) or a user without address:
  failed at once, with the server's reason. A customer's mail that failed is
  told to the ticket's owner (a mail of its own, through the outbox).

Any number of mailers may run against PostgreSQL (claims skip each other's
rows); on SQLite the write lock serializes claims.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from activities.notices import NoticeActivities, Undeliverable
from domain.ticket import NoticeKind
from store import outbox
from store.tickets import TicketStore

log = logging.getLogger(__name__)

FIRST_PAUSE = timedelta(seconds=10)
LONGEST_PAUSE = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(days=1)
# Who fails to hear of a failed mail: the mailer, in the ticket's log words.
MAILER_ACTOR = "system:mailer"


def permanent_refusal(error: Exception) -> str | None:
    """The mail server's reason when it refused for good (5xx), else None."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        answers = list(error.recipients.values())
        if answers and all(code >= 500 for code, _ in answers):
            return "; ".join(f"{code} {_text(message)}" for code, message in answers)
        return None
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500:
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return None


def _text(message: bytes | str) -> str:
    return message.decode(errors="replace") if isinstance(message, bytes) else str(message)


class Mailer:
    """Sends due outbox mails on a thread of its own until stopped.
    `async with mailer:` (or start()/stop()) runs it beside the worker."""

    def __init__(
        self,
        engine: Engine,
        notices: NoticeActivities,
        *,
        poll_interval: float = 0.5,
        lease: timedelta = timedelta(minutes=2),
        give_up_after: timedelta = GIVE_UP_AFTER,
        first_pause: timedelta = FIRST_PAUSE,
        batch: int = 10,
    ) -> None:
        self.engine = engine
        self.notices = notices
        self.poll_interval = poll_interval
        self.lease = lease
        self.give_up_after = give_up_after
        self.first_pause = first_pause
        self.batch = batch
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- running ---------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cxloop-mailer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    async def __aenter__(self) -> Mailer:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    def wake(self) -> None:
        """Look for due mails now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.send_due()
            except Exception:  # the read model away: try again at the next poll
                log.exception("mailer: could not read the outbox")
                handled = 0
            if handled == 0:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    # --- one round -------------------------------------------------------------------

    def send_due(self, now: datetime | None = None) -> int:
        """Claim the due mails and send each; answers how many were handled."""
        claimed = outbox.claim(self.engine, now or datetime.now(UTC), self.lease, self.batch)
        for mail in claimed:
            if self._stop.is_set():
                break  # the rest come back after their lease
            self._send(mail)
        return len(claimed)

    def _send(self, mail: outbox.Claimed) -> None:
        about = {"ticket_id": mail.ticket_id}
        try:
            self.notices.deliver(mail.notice)
        except Undeliverable as refused:
            self._fail(mail, str(refused))
            return
        except Exception as error:  # the mail server's errors, and any fault of ours in writing it
            reason = permanent_refusal(error)
            if reason is not None:
                self._fail(mail, reason)
                return
            if not isinstance(error, (smtplib.SMTPException, OSError)):
                log.exception("mailer: %s of %s could not be written", mail.notice.kind.value,
                              mail.notice.reference, extra=about)
            now = datetime.now(UTC)
            if now - mail.created_at >= self.give_up_after:
                self._fail(mail, f"given up after {mail.attempts} attempts: {error}")
                return
            pause = min(self.first_pause * 2 ** (mail.attempts - 1), LONGEST_PAUSE)
            log.info("mailer: %s of %s not sent yet (%s); next try in %s", mail.notice.kind.value,
                     mail.notice.reference, error, pause, extra=about)
            outbox.retry_later(self.engine, mail.key, str(error), now + pause)
            return
        outbox.mark_sent(self.engine, mail.key, datetime.now(UTC))

    def _fail(self, mail: outbox.Claimed, reason: str) -> None:
        notice = mail.notice
        log.warning("mailer: %s of %s failed: %s", notice.kind.value, notice.reference, reason,
                    extra={"ticket_id": mail.ticket_id})
        outbox.mark_failed(self.engine, mail.key, reason)
        if not notice.kind.to_customer:
            return
        # The customer did not get it: whoever owns the ticket now hears why.
        ticket = TicketStore(self.engine).get(mail.ticket_id)
        if ticket is None or ticket.owner is None:
            return
        told = notice.model_copy(update={
            "kind": NoticeKind.DELIVERY_FAILED, "to": ticket.owner, "actor": MAILER_ACTOR, "comment": "",
            "body": reason, "key": f"{NoticeKind.DELIVERY_FAILED.value}.{mail.key}",
        })
        outbox.queue_one(self.engine, told, datetime.now(UTC))
