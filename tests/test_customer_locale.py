"""The customer's language and the workspace's mail identity (issue 15).

Each ticket is born with `customer_locale`: the survey response's (its mapping
field `locale`), the web form's Accept-Language, the inbound mail's language,
else the workspace's default. Every mail to the customer is written in it,
from the workspace's sender with its Reply-To and signature, and the
customer's link page speaks it. Over real HTTP, the dev server and a real SMTP
server (tests/api_fixtures.py's Mailbox), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.utils import parseaddr

from sqlalchemy import insert, inspect, select, text

import reconcile
from api.dashboard.i18n import translations
from api.intake.adapters import sign_cxloop
from domain.ticket import Priority, Source, TicketProjection, TicketState, customer_locale, reference_for
from store.db import make_engine, migrate
from store.models import TicketRow, Workspace
from store.tickets import TicketStore
from tests.api_fixtures import ApiEnv, created, deliver, eventually, refused, ticket_of
from tests.db_fixtures import downgrade

SENDER = "cxloop <no-reply@cxloop.test>"  # the settings' mail_from in tests/api_fixtures.py
SIGNATURE = "ACME GmbH\nKundendienst: 0800 123 456"


def parts_of(mail) -> dict[str, str]:
    return {
        part.get_content_type():
            part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8").replace("\r\n", "\n")
        for part in mail.walk()
        if part.get_content_maintype() == "text"
    }


def subject(mail) -> str:
    """The Subject as the customer's mail client shows it (decoded)."""
    return str(make_header(decode_header(mail["Subject"])))


async def mail_to(api: ApiEnv, address: str) -> object:
    mails = await eventually(lambda: asyncio.sleep(0, result=api.mailbox.to(address)), f"a mail to {address}")
    assert len(mails) == 1, [m["Subject"] for m in mails]
    return mails[0]


def said(locale: str, message: str, **params: str) -> str:
    """A message of the catalogs in `locale`, as the mail's templates say it."""
    return translations(locale).gettext(message) % params


async def with_identity(api: ApiEnv, workspace: str, **fields) -> dict:
    answer = await api.http.patch(f"/api/workspaces/{workspace}", json={
        "mail_sender_name": "ACME Kundendienst", "mail_sender_address": "care@acme.example",
        "mail_reply_to": "inbound@acme.example", "mail_signature": SIGNATURE, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def survey_with_locale(api: ApiEnv, workspace: str) -> dict:
    return await created(api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": f"NPS {uuid.uuid4().hex[:6]}", "adapter": "cxloop",
        "field_mapping": {"score": "nps", "comment": "why", "customer_email": "email", "customer_name": "name",
                          "locale": "hidden:locale"},
        "default_segment": "retail",
    }))


def response_body(email: str, **hidden: str) -> bytes:
    return json.dumps({
        "response_id": uuid.uuid4().hex, "submitted_at": "2026-11-20T10:00:00Z",
        "answers": {"nps": 2, "why": "Die Lieferung kam zu spät", "email": email, "name": "Petra"},
        "hidden": hidden,
    }).encode()


async def inbound_mail(api: ApiEnv, workspace: str, sender: str, headers: dict | None = None, **fields) -> dict:
    body = json.dumps({"message_id": f"<{uuid.uuid4()}@mail.example.com>", "from": sender, "from_name": "Kenji",
                       "subject": "Refund?", "text": "Where is my refund?", "workspace_id": workspace,
                       **fields}).encode()
    timestamp = int(time.time())
    answer = await api.http.post("/api/intake/email", content=body, headers={
        "X-Cxloop-Timestamp": str(timestamp),
        "X-Cxloop-Signature": sign_cxloop(api.settings.inbound_email_secret, timestamp, body), **(headers or {})})
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_a_source_language_is_one_cxloop_writes_in_or_none() -> None:
    assert [customer_locale(t) for t in ("de-DE", "DE", "es_MX", "ja", "hu-HU", "en-GB")] == [
        "de", "de", "es", "ja", "hu", "en"]
    assert [customer_locale(t) for t in ("fr-FR", "", None, "x")] == [None, None, None, None]


async def test_a_german_survey_response_gets_a_german_mail_from_the_workspace(api: ApiEnv, workspace: str) -> None:
    await with_identity(api, workspace)
    survey = await survey_with_locale(api, workspace)
    customer = f"petra-{uuid.uuid4().hex[:8]}@example.com"
    accepted = await deliver(api, survey, response_body(customer, locale="de-DE"))
    assert accepted.status_code == 202, accepted.text
    ticket = await ticket_of(api, accepted.json()["response_id"])
    assert ticket["customer_locale"] == "de"

    resolved = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "resolved",
                                                                          "comment": "Refund issued"})
    assert resolved.status_code == 200, resolved.text
    mail = await mail_to(api, customer)
    assert subject(mail) == f"[{ticket['reference']}] Ist Ihre Anfrage gelöst?"
    assert parseaddr(str(make_header(decode_header(mail["From"])))) == ("ACME Kundendienst", "care@acme.example")
    assert parseaddr(mail["Reply-To"])[1] == "inbound@acme.example"
    parts = parts_of(mail)
    assert set(parts) == {"text/plain", "text/html"}
    assert "Hallo Petra" in parts["text/plain"] and 'lang="de"' in parts["text/html"]
    assert parts["text/plain"].rstrip().endswith(f"\n\n-- \n{SIGNATURE}")
    assert "ACME GmbH" in parts["text/html"] and "0800 123 456" in parts["text/html"]

    # The customer's page speaks German too, whatever their browser says.
    link = re.search(r"/customer/tickets/[\w.-]+", parts["text/plain"]).group(0)
    page = await api.http.get(link, headers={"Accept-Language": "en"})
    assert page.status_code == 200 and '<html lang="de">' in page.text


async def test_a_web_form_in_spanish_gets_a_spanish_reply(api: ApiEnv, workspace: str) -> None:
    await with_identity(api, workspace, mail_signature="El equipo de ACME")
    customer = f"lucia-{uuid.uuid4().hex[:8]}@example.com"
    answer = await api.http.post("/api/intake/form", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}, json={
        "workspace_id": workspace, "customer_email": customer, "customer_name": "Lucía",
        "message": "La tapa se rompió el primer día."})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert (await ticket_of(api, accepted["ticket_id"]))["customer_locale"] == "es"
    mail = await mail_to(api, customer)
    assert subject(mail) == f"[{accepted['reference']}] Hemos recibido su solicitud"
    assert parseaddr(mail["Reply-To"])[1] == "inbound@acme.example"
    parts = parts_of(mail)
    for part in parts.values():
        assert said("es", "Your ticket reference: %(reference)s", reference=accepted["reference"]) in part
        assert "El equipo de ACME" in part


async def test_a_mail_in_japanese_gets_a_japanese_reply(api: ApiEnv, workspace: str) -> None:
    customer = f"kenji-{uuid.uuid4().hex[:8]}@example.com"
    accepted = await inbound_mail(api, workspace, customer, language="ja")
    assert (await ticket_of(api, accepted["ticket_id"]))["customer_locale"] == "ja"
    mail = await mail_to(api, customer)
    text = parts_of(mail)["text/plain"]
    assert said("ja", "Your ticket reference: %(reference)s", reference=accepted["reference"]) in text
    # A workspace with no mail identity: the settings' sender, no Reply-To.
    assert mail["From"] == SENDER and mail["Reply-To"] is None

    # Without the field, the request's Content-Language header says it.
    other = f"kenji-{uuid.uuid4().hex[:8]}@example.com"
    accepted = await inbound_mail(api, workspace, other, headers={"Content-Language": "ja-JP"})
    assert (await ticket_of(api, accepted["ticket_id"]))["customer_locale"] == "ja"


async def test_no_language_of_ours_falls_back_to_the_workspace_default(api: ApiEnv, workspace: str) -> None:
    await with_identity(api, workspace, default_locale="hu")
    survey = await survey_with_locale(api, workspace)
    customer = f"fr-{uuid.uuid4().hex[:8]}@example.com"
    accepted = await deliver(api, survey, response_body(customer, locale="fr-FR"))
    assert (await ticket_of(api, accepted.json()["response_id"]))["customer_locale"] == "hu"
    form = await api.http.post("/api/intake/form", json={
        "workspace_id": workspace, "customer_email": f"x-{customer}", "message": "Hello?"})
    assert (await ticket_of(api, form.json()["ticket_id"]))["customer_locale"] == "hu"
    mail = await mail_to(api, f"x-{customer}")
    assert subject(mail).endswith(translations("hu").gettext("We received your request"))
    manual = await created(api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": customer, "segment": "retail", "comment": "by phone"}))
    assert manual["customer_locale"] == "hu"


async def test_the_customer_locale_cannot_be_changed(api: ApiEnv, workspace: str) -> None:
    ticket = await created(api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
        "customer_locale": "ja", "comment": "by phone"}))
    assert ticket["customer_locale"] == "ja"
    await refused(api.http.patch(f"/api/tickets/{ticket['id']}", json={"customer_locale": "de", "comment": "x"}),
                  422, "customer_locale")
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["customer_locale"] == "ja"


async def test_the_workspace_refuses_what_it_cannot_write_in(api: ApiEnv, workspace: str) -> None:
    patch = f"/api/workspaces/{workspace}"
    await refused(api.http.patch(patch, json={"default_locale": "fr"}), 422, "default_locale")
    await refused(api.http.patch(patch, json={"mail_sender_address": "not an address"}), 422)
    await refused(api.http.patch(patch, json={"time_zone": "Mars/Olympus"}), 422)
    await refused(api.http.patch(patch, json={"default_locale": None}), 422)
    shown = await with_identity(api, workspace, time_zone="Europe/Berlin")
    assert shown["mail_reply_to"] == "inbound@acme.example" and shown["mail_signature"] == SIGNATURE
    # Emptied, a mail field is none again: the settings' sender.
    cleared = await api.http.patch(patch, json={"mail_sender_name": "", "mail_sender_address": None})
    assert cleared.json()["mail_sender_name"] is None and cleared.json()["mail_sender_address"] is None


# --- tickets from before customer_locale: migration 0013, projections, reconcile ---------------


def _old_ticket(ticket_id: str, made: datetime) -> TicketState:
    return TicketState(
        id=ticket_id, reference=reference_for(ticket_id), source=Source.MANUAL, workspace_id="w",
        customer_email="pat@example.com", origin_segment="retail", reported_at=made, created_at=made,
        segment="retail", version=1, updated_at=made, escalation_clock_started_at=made,
    )


def test_migration_0013_gives_older_tickets_the_default_language_that_projections_keep(database_url: str) -> None:
    migrate(database_url, "0012")
    engine = make_engine(database_url)
    made = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            # Only the columns 0012 has (today's model has more).
            connection.execute(text("INSERT INTO workspaces (id, name, config_revision) VALUES ('w', 'Before 0013', 0)"))
            columns = {c["name"] for c in inspect(connection).get_columns("tickets")}
            assert "customer_locale" not in columns
            row = {**_old_ticket("old", made).model_dump(), "priority_rank": 2}
            connection.execute(insert(TicketRow.__table__).values(
                **{name: value for name, value in row.items() if name in columns}))
        migrate(database_url)
        store = TicketStore(engine)
        assert store.get("old").customer_locale == "en"
        with engine.connect() as connection:
            assert connection.execute(select(Workspace.default_locale, Workspace.time_zone)).one() == ("en", "UTC")

        # A projection from a workflow started before 0013 carries none: the backfilled one stays.
        later = _old_ticket("old", made).model_copy(update={"version": 2, "updated_at": made + timedelta(minutes=1),
                                                            "priority": Priority.HIGH})
        assert store.apply(TicketProjection(state=later, events=[])).written
        assert (store.get("old").priority, store.get("old").customer_locale) == (Priority.HIGH, "en")
        # reconcile.py: the read model's backfilled language is no divergence; a workflow's own is the truth.
        assert reconcile.compare("old", store.get("old"), [], later, []) is None
        fix = reconcile.compare("old", store.get("old"), [], later.model_copy(update={"customer_locale": "de"}), [])
        assert fix is not None and set(fix.changed_fields) == {"customer_locale"}

        downgrade(database_url, "0012")
        assert "customer_locale" not in {c["name"] for c in inspect(engine).get_columns("tickets")}
        migrate(database_url)
    finally:
        engine.dispose()
