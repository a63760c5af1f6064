"""The customer's second score (issue 16): confirming from the "Is your
request solved?" mail's link, the customer may say how likely they now are to
recommend us (0-10); it is kept on the ticket, logged, and a detractor who
answers 7 or more is recovered. Through the real API, the dev server, both
read models and a real SMTP server; the page in a real browser."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.api_fixtures import ApiEnv, deliver, ticket_of
from tests.test_customer_locale import survey_with_locale
from tests.test_notices import change, create, links_in, mail_about

pytestmark = pytest.mark.dev_server


async def detractor_ticket(api: ApiEnv, workspace: str) -> dict:
    """A survey response of score 2 (a detractor), resolved: its customer has the mail with the links."""
    import json

    survey = await survey_with_locale(api, workspace)
    customer = f"vera-{uuid.uuid4().hex[:8]}@example.com"
    body = json.dumps({"response_id": uuid.uuid4().hex, "submitted_at": "2026-11-20T10:00:00Z",
                       "answers": {"nps": 2, "why": "Late", "email": customer, "name": "Vera"}}).encode()
    accepted = await deliver(api, survey, body)
    assert accepted.status_code == 202, accepted.text
    ticket = await ticket_of(api, accepted.json()["response_id"])
    assert ticket["score"] == 2 and ticket["recovered"] is None
    await change(api, ticket, status="resolved", comment="Voucher sent")
    return ticket


async def test_a_detractor_who_scores_us_9_when_confirming_is_recovered(api: ApiEnv, workspace: str) -> None:
    ticket = await detractor_ticket(api, workspace)
    links = links_in(await mail_about(api, ticket["reference"], "Is your request solved?"))
    page = await api.http.get(links["confirm"])
    assert page.status_code == 200
    assert 'name="recovery_score"' in page.text and len(re.findall(r'name="recovery_score" value="\d+"', page.text)) == 11

    done = await api.http.post(links["confirm"], data={"recovery_score": "9", "message": "Thanks, all good now"})
    assert done.status_code == 200 and "is closed" in done.text
    closed = (await api.http.get(f"/api/tickets/{ticket['id']}")).json()
    assert (closed["status"], closed["recovery_score"], closed["recovered"]) == ("closed", 9, True)
    assert closed["recovery_scored_at"] is not None
    events = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert [(e["field"], e["new"], e["comment"]) for e in events[-2:]] == [
        ("status", "closed", "Thanks, all good now"), ("recovery_score", "9", "Thanks, all good now")]
    # Once per ticket: the link is spent.
    again = await api.http.post(links["confirm"], data={"recovery_score": "10"})
    assert again.status_code == 409
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["recovery_score"] == 9


async def test_a_score_is_optional_and_a_bad_one_changes_nothing(api: ApiEnv, workspace: str) -> None:
    ticket = await detractor_ticket(api, workspace)
    links = links_in(await mail_about(api, ticket["reference"], "Is your request solved?"))
    for bad in ("11", "-1", "ten"):
        refused = await api.http.post(links["confirm"], data={"recovery_score": bad})
        assert refused.status_code == 422 and "from 0 to 10" in refused.text
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "resolved"
    done = await api.http.post(links["confirm"])
    assert done.status_code == 200
    closed = (await api.http.get(f"/api/tickets/{ticket['id']}")).json()
    assert (closed["status"], closed["recovery_score"], closed["recovered"]) == ("closed", None, None)


async def test_a_detractor_who_stays_below_7_is_not_recovered(api: ApiEnv, workspace: str) -> None:
    ticket = await detractor_ticket(api, workspace)
    links = links_in(await mail_about(api, ticket["reference"], "Is your request solved?"))
    assert (await api.http.post(links["confirm"], data={"recovery_score": "6"})).status_code == 200
    closed = (await api.http.get(f"/api/tickets/{ticket['id']}")).json()
    assert (closed["recovery_score"], closed["recovered"]) == (6, False)


async def test_the_api_cannot_set_a_recovery_score(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    answer = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"recovery_score": 10, "comment": "x"})
    assert answer.status_code == 422 and "recovery_score" in answer.text


# --- the page in a browser ------------------------------------------------------------------


async def test_the_recovery_question_in_german_in_a_browser(browser, dashboard, dashboard_workspace) -> None:
    """A German customer opens the confirm link: the question in German, a
    click on 8 and on "Ja, …": the ticket is closed with the second score."""
    from datetime import UTC, datetime, timedelta

    from domain.notices import CustomerAction, sign_customer_link
    from tests.dashboard_fixtures import api_ticket, create_ticket, new_page, no_script_errors

    ticket = await create_ticket(dashboard, dashboard_workspace, customer_locale="de")
    resolved = await dashboard.http.patch(f"/api/tickets/{ticket['id']}",
                                          json={"status": "resolved", "comment": "Gutschein geschickt"})
    assert resolved.status_code == 200, resolved.text
    token = sign_customer_link(dashboard.settings.secret_key, ticket["id"], CustomerAction.CONFIRM,
                               datetime.now(UTC) + timedelta(days=1))
    page = await new_page(browser, None, locale="en-US")  # the ticket's language wins over the browser's
    try:
        await page.goto(dashboard.url(f"/customer/tickets/{token}"))
        question = page.locator("fieldset.recovery-score legend")
        assert "weiterempfehlen" in (await question.inner_text())
        await page.get_by_label("8", exact=True).check()
        await page.get_by_role("button", name="Ja, sie ist gelöst").click()
        await page.get_by_role("heading", name="Vielen Dank!").wait_for()
        no_script_errors(page)
    finally:
        await page.context.close()
    closed = await api_ticket(dashboard, ticket["id"])
    assert (closed["status"], closed["recovery_score"]) == ("closed", 8)
