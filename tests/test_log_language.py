"""The ticket's log read by a person, in their language: statuses, fields and
the system's comments translated, rules and users named by name, on the
ticket's page, in the feed, in refusals and in the mails to users. The log
itself keeps its machine cause. Real HTTP (the ASGI app), the dev server, a
real SMTP server, on both databases."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from store.models import UserRole
from tests.api_fixtures import ApiEnv, deliver, eventually, name_in, unique, user_id_for

GERMAN = {"Accept-Language": "de"}


async def events_of(api: ApiEnv, ticket_id: str) -> list[dict]:
    return (await api.http.get(f"/api/tickets/{ticket_id}/events")).json()


async def page_of(api: ApiEnv, path: str, language: str = "de") -> str:
    page = await api.http.get(path, headers={"Accept-Language": language})
    assert page.status_code == 200, page.text
    return page.text


async def speaks_german(api: ApiEnv, username: str) -> None:
    user_id = user_id_for(api.engine, username, UserRole.MANAGER)
    answer = await api.http.patch(f"/api/users/{user_id}", json={"locale": "de"})
    assert answer.status_code == 200, answer.text


async def mail_about(api: ApiEnv, reference: str, to: str, subject_part: str) -> object:
    def found():
        return [m for m in api.mailbox.to(to) if reference in m["Subject"] and subject_part in m["Subject"]]
    mails = await eventually(lambda: asyncio.sleep(0, result=found()), f"a mail about {reference} to {to}")
    assert len(mails) == 1, [m["Subject"] for m in mails]
    return mails[0]


def text_of(mail) -> str:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


async def test_an_escalation_by_rule_reads_in_german_by_the_rules_name(api: ApiEnv, workspace: str) -> None:
    ann = name_in(workspace, "ann")
    await speaks_german(api, ann)
    rule = await api.http.post("/api/escalation-rules", json={
        "workspace_id": workspace, "name": "Antwort überfällig", "segment": "retail", "after_seconds": 1,
        "assignee": ann})
    assert rule.status_code == 201, rule.text
    rule = rule.json()

    async def ticket_with_the_new_rule() -> dict:
        # A roll-out sends the rule to running tickets; a new one reads it at its start.
        created = await api.http.post("/api/tickets", json={
            "workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
            "comment": "Phoned in"})
        assert created.status_code == 201, created.text
        return created.json()

    ticket = await ticket_with_the_new_rule()
    assert ticket["owner"] == ann  # retail's only manager

    async def escalated() -> list[dict]:
        return [e for e in await events_of(api, ticket["id"]) if e["kind"] == "escalated_by_rule"]

    lines = await eventually(escalated, "the rule's escalation")
    # The log keeps its machine cause.
    assert lines[0]["actor"] == f"rule:{rule['id']}"
    assert lines[0]["comment"].startswith("Escalated automatically by rule 'Antwort überfällig'")

    html = await page_of(api, f"/dashboard/tickets/{ticket['id']}")
    assert "Eskalationsregel „Antwort überfällig“" in html
    assert ("Automatisch eskaliert durch die Regel „Antwort überfällig“: nicht innerhalb von 1 Sekunde"
            in html)
    assert "Status: Neu → Eskaliert" in html
    for english in (f"rule:{rule['id']}", "Escalated automatically", "escalation clock"):
        assert english not in html, english

    # The assignee's mail: in her language, the rule by its name.
    mail = await mail_about(api, ticket["reference"], "ann@example.com", "an Sie eskaliert")
    body = text_of(mail)
    assert "Automatisch eskaliert durch die Regel „Antwort überfällig“" in body
    assert "rule:" not in body and "Escalated" not in body
    assert "Kunde: pat@example.com" in body and " - " not in body


async def test_a_snooze_ending_reads_in_the_feed_in_german(api: ApiEnv, workspace: str) -> None:
    created = await api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": "snooze@example.com", "segment": "b2b",
        "comment": "Phoned in"})
    ticket = created.json()
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    snoozed = await api.http.patch(f"/api/tickets/{ticket['id']}", json={
        "status": "postponed", "snooze_until": until, "comment": "Back on Monday"})
    assert snoozed.status_code == 200, snoozed.text

    async def woke() -> list[dict]:
        return [e for e in await events_of(api, ticket["id"]) if e["kind"] == "woke_up"]

    line = (await eventually(woke, "the snooze's end"))[0]
    assert (line["actor"], line["comment"]) == ("system:snooze", "Snooze ended: the ticket is open again.")
    page = await page_of(api, f"/dashboard/feed?workspace={workspace}")
    feed = "".join(re.findall(r'<li class="feed-item.*?</li>', page, re.DOTALL))
    assert "Zurückstellung beendet: das Ticket ist wieder offen." in feed
    assert "Zurückstellungs-Timer" in feed and "Status: Zurückgestellt → Offen" in feed
    # A person's comment is theirs: shown as written.
    assert "Back on Monday" in feed
    for english in ("Snooze ended", "system:snooze", "postponed"):
        assert english not in feed, english


async def test_a_refusal_names_statuses_in_the_readers_language(api: ApiEnv, workspace: str) -> None:
    created = await api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": "pat@example.com", "segment": "b2b", "comment": "Phoned in"})
    ticket = created.json()
    refused = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed", "comment": "done"},
                                   headers=GERMAN)
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "von Neu zu Geschlossen" in detail and "Offen" in detail, detail
    assert "new" not in detail and "closed" not in detail, detail
    # English readers read the list's words too.
    english = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed", "comment": "done"})
    assert "from New to Closed" in english.json()["detail"]


async def test_a_ticket_made_by_an_alert_rule_names_the_rule(api: ApiEnv, workspace: str) -> None:
    ann = name_in(workspace, "ann")
    await speaks_german(api, ann)
    survey = await api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": "NPS", "default_segment": "retail",
        "field_mapping": {"score": "nps", "customer_email": "email"}})
    assert survey.status_code == 201, survey.text
    survey = survey.json()
    body = json.dumps({"response_id": uuid.uuid4().hex, "submitted_at": datetime.now(UTC).isoformat(),
                       "answers": {"nps": 2, "email": "detractor@example.com"}}).encode()
    accepted = await deliver(api, survey, body)
    assert accepted.status_code == 202, accepted.text

    async def the_ticket() -> list[dict]:
        listed = await api.http.get("/api/tickets", params={"workspace": workspace})
        return listed.json()["items"]

    ticket = (await eventually(the_ticket, "the detractor's ticket"))[0]
    created = (await events_of(api, ticket["id"]))[0]
    assert created["actor"].startswith("alert-rule:") and created["actor"].endswith("-detractor")

    html = await page_of(api, f"/dashboard/tickets/{ticket['id']}")
    assert "Alarmregel „Detractors (score 0-6)“" in html
    assert "Von der Aktionsalarmregel „Detractors (score 0-6)“ angelegt: Bewertung 2 in 0-6." in html
    assert "alert-rule:" not in html

    mail = await mail_about(api, ticket["reference"], "ann@example.com", "Ihnen zugewiesen")
    body = text_of(mail)
    assert "Alarmregel „Detractors (score 0-6)“ hat Ihnen das Ticket" in body
    assert "Kommentar: Von der Aktionsalarmregel „Detractors (score 0-6)“ angelegt: Bewertung 2 in 0-6." in body
    assert "alert-rule:" not in body and "Created by" not in body


async def test_an_alert_rules_notification_reaches_a_user_in_their_language(api: ApiEnv, workspace: str) -> None:
    lead = unique("lead")  # a user of their own: an address is not unique among users
    await speaks_german(api, lead)
    survey = await api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": "NPS", "default_segment": "retail",
        "field_mapping": {"score": "nps", "customer_email": "email"}})
    survey = survey.json()
    rule = await api.http.post(f"/api/surveys/{survey['id']}/alert-rules", json={
        "name": "Jeder Detraktor", "criteria": [{"on": "score", "min": 0, "max": 6}],
        "when_met": [{"type": "notify", "recipients": [lead]}]})
    assert rule.status_code == 201, rule.text
    response_id = uuid.uuid4().hex
    body = json.dumps({"response_id": response_id, "submitted_at": datetime.now(UTC).isoformat(),
                       "answers": {"nps": 1, "email": "quiet@example.com"}}).encode()
    accepted = await deliver(api, survey, body)
    assert accepted.status_code == 202, accepted.text
    mails = await eventually(lambda: asyncio.sleep(0, result=api.mailbox.to(f"{lead}@example.com")), "the notice")
    body = text_of(mails[0])
    assert "Eine Umfrageantwort braucht Aufmerksamkeit (Regel: Jeder Detraktor)." in body
    assert "Bewertung: 1" in body and "Kunde: quiet@example.com" in body
    # What the response did not say (no comment) is left out, not shown as "-".
    assert "Kommentar:" not in body and " - " not in body and "Customer" not in body
    assert f"Antwort {response_id}" in mails[0]["Subject"]


async def test_an_unknown_segment_of_a_response_reads_in_german(api: ApiEnv, workspace: str) -> None:
    survey = await api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": "NPS", "default_segment": "retail",
        "field_mapping": {"score": "nps", "customer_email": "email", "segment": "hidden:segment"}})
    survey = survey.json()
    body = json.dumps({"response_id": uuid.uuid4().hex, "submitted_at": datetime.now(UTC).isoformat(),
                       "answers": {"nps": 0, "email": "wholesale@example.com"},
                       "hidden": {"segment": "Wholesale"}}).encode()
    accepted = await deliver(api, survey, body)
    assert accepted.status_code == 202, accepted.text

    async def the_ticket() -> list[dict]:
        return (await api.http.get("/api/tickets", params={"workspace": workspace})).json()["items"]

    ticket = (await eventually(the_ticket, "the response's ticket"))[0]
    assert (await events_of(api, ticket["id"]))[0]["comment"].endswith(
        "The response named segment 'Wholesale', which this workspace does not have: the ticket went to 'retail'.")
    html = await page_of(api, f"/dashboard/tickets/{ticket['id']}")
    assert ("Von der Aktionsalarmregel „Detractors (score 0-6)“ angelegt: Bewertung 0 in 0-6. Die Antwort nannte "
            "das Segment „Wholesale“, das es in diesem Arbeitsbereich nicht gibt: das Ticket kam nach „retail“."
            in html)
    assert "named segment" not in html


def test_the_replys_and_the_follow_ups_system_comments_are_worded_in_the_readers_language() -> None:
    """A reply that changes the status without a note, and a mail answering
    a closed ticket: their comments are the system's, translated like the others."""
    from datetime import UTC, datetime

    from api.dashboard.i18n import translations
    from domain.commands import REPLIED_COMMENT
    from domain.ticket import EventKind, TicketEvent
    from domain.wording import Phrase, comment_phrase

    at = datetime(2026, 12, 1, tzinfo=UTC)
    replied = TicketEvent(seq=3, at=at, actor="ann", kind=EventKind.CHANGED, field="status", old="new",
                          new="answered", comment=REPLIED_COMMENT)
    follow_up = TicketEvent(seq=1, at=at, actor="intake:email", kind=EventKind.CREATED, field="status",
                            new="new", comment="Created from a email. It answers CX-ABCDEFGH, which is closed.")
    for event, german in ((replied, "Dem Kunden geantwortet."),
                          (follow_up, "Aus einer E-Mail erstellt. Sie antwortet auf CX-ABCDEFGH, das geschlossen ist.")):
        phrase = comment_phrase(event, {})
        assert isinstance(phrase, Phrase)
        assert translations("de").gettext(phrase.message).format(**phrase.params) == german
