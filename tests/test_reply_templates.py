"""Reply templates (issue 15): /api/reply-templates, per workspace, admins
write and everyone signed in reads; bodies per language whose placeholders
are checked when saved; and domain/reply_templates.render, which fills them
for a ticket in the customer's language.

Over real HTTP through the app on SQLite and PostgreSQL (tests/api_fixtures.py)."""

from __future__ import annotations

import uuid

import pytest

from domain.reply_templates import LANGUAGES, body_errors, render
from tests.api_fixtures import ApiEnv, cast_of, created, refused

BODIES = {
    "en": "Dear {customer_name}, about {reference}: done. {agent_name}, {workspace_name}",
    "de": "Hallo {customer_name}, zu {reference}: erledigt. {agent_name}, {workspace_name}",
    "es": "Hola {customer_name}, sobre {reference}: hecho. {agent_name}, {workspace_name}",
    "ja": "{customer_name} 様、{reference} の件は対応しました。{agent_name}（{workspace_name}）",
    "hu": "Kedves {customer_name}! A(z) {reference} ügyét megoldottuk. {agent_name}, {workspace_name}",
}


def body(workspace: str, **fields) -> dict:
    return {"workspace_id": workspace, "name": f"Done {uuid.uuid4().hex[:6]}", "bodies": BODIES, **fields}


async def test_crud_and_who_may_write(api: ApiEnv, workspace: str) -> None:
    cast = await cast_of(api, workspace)
    agent, manager = api.headers_for(cast.agent), api.headers_for(cast.manager)
    made = await created(api.http.post("/api/reply-templates", json=body(workspace)))
    assert made["bodies"] == BODIES and made["workspace_id"] == workspace
    url = f"/api/reply-templates/{made['id']}"

    # Everyone signed in reads; only admins write.
    for headers in (agent, manager):
        listed = await api.http.get("/api/reply-templates", params={"workspace": workspace}, headers=headers)
        assert [t["id"] for t in listed.json()] == [made["id"]]
        assert (await api.http.get(url, headers=headers)).json()["name"] == made["name"]
        await refused(api.http.post("/api/reply-templates", json=body(workspace), headers=headers), 403)
        await refused(api.http.patch(url, json={"name": "x"}, headers=headers), 403)
        await refused(api.http.delete(url, headers=headers), 403)

    patched = (await api.http.patch(url, json={"bodies": {"en": "Hi {customer_name}"}})).json()
    assert patched["bodies"] == {"en": "Hi {customer_name}"} and patched["name"] == made["name"]
    replaced = await api.http.put(url, json={"name": "Renamed", "bodies": {"de": "Hallo {agent_name}"}})
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["name"], replaced.json()["bodies"]) == ("Renamed", {"de": "Hallo {agent_name}"})
    await refused(api.http.patch(url, json={"workspace_id": "other"}), 422, "workspace_id")

    # A name is unique in its workspace.
    await refused(api.http.post("/api/reply-templates", json=body(workspace, name="Renamed")), 409, "Renamed")
    assert (await api.http.delete(url)).status_code == 204
    await refused(api.http.get(url), 404)
    await refused(api.http.delete(url), 404)
    assert (await api.http.get("/api/reply-templates", params={"workspace": workspace})).json() == []
    await refused(api.http.get("/api/reply-templates", params={"workspace": "no-such-ws"}), 404)
    await refused(api.http.post("/api/reply-templates", json=body("no-such-ws")), 422, "no-such-ws")


@pytest.mark.parametrize("wrong, named", [
    ("Hello {customer}", "{customer}"),
    ("Hello {customer_name", "malformed brace"),
    ("Hello } there", "malformed brace"),
    ("Hello {reference!r}", "{reference}"),
    ("Hello {}", "{}"),
])
async def test_a_body_that_cannot_be_filled_is_refused_naming_why(api: ApiEnv, workspace: str,
                                                                   wrong: str, named: str) -> None:
    answer = await api.http.post("/api/reply-templates", json=body(workspace, bodies={"en": "fine", "de": wrong}))
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert named in error["msg"] and error["loc"][-1] == "de", error


async def test_bodies_are_one_per_known_language_and_at_least_one(api: ApiEnv, workspace: str) -> None:
    for bodies in ({}, {"fr": "Bonjour"}, {"en": ""}, {"en": "x" * 20_001}):
        await refused(api.http.post("/api/reply-templates", json=body(workspace, bodies=bodies)), 422)
    # A literal brace is written twice.
    made = await created(api.http.post("/api/reply-templates", json=body(workspace, bodies={"en": "{{ok}} {reference}"})))
    assert render(made["bodies"], "en", customer_name=None, reference="CX-1", agent_name="A",
                  workspace_name="W") == ("en", "{ok} CX-1")


def test_render_fills_each_language_and_falls_back() -> None:
    values = {"customer_name": "Kim", "reference": "CX-7", "agent_name": "Ann", "workspace_name": "Acme"}
    for language in LANGUAGES:
        chosen, text = render(BODIES, language, **values)
        assert chosen == language and "Kim" in text and "CX-7" in text and "Ann" in text and "Acme" in text
        assert "{" not in text
    # No body in the customer's language: the workspace's, else English, else any.
    assert render({"en": "Hi {customer_name}", "de": "Hallo"}, "ja", workspace_language="de", **values) == ("de", "Hallo")
    assert render({"en": "Hi {customer_name}", "de": "Hallo"}, "ja", **values) == ("en", "Hi Kim")
    assert render({"hu": "Szia"}, "ja", workspace_language="de", **values) == ("hu", "Szia")
    # A customer without a name: greeted without one, never "None".
    assert render({"en": "Hi {customer_name}!"}, "en", **{**values, "customer_name": None}) == ("en", "Hi !")
    assert body_errors("Hi {customer_name}, {{literal}}") == []
