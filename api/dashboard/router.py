"""The dashboard's pages: tickets as a list, a live feed and a kanban board,
the ticket editor with the conversation with the customer, a survey
response, and the settings.

Pages only read (the TicketStore's queries, store.configuration,
store.conversation and store.intake); every change is made by the page's
script through the same HTTP API that clients use (PATCH /api/tickets/{id},
POST /api/tickets, POST /api/tickets/{id}/replies, the configuration
endpoints), so the dashboard has no code path of its own for a change and
refuses exactly what the API refuses.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from api.dashboard import feed, i18n
from api.dashboard.filters import DashboardQuery
from api.auth.caller import PageCallerDep, check_csrf, page_caller
from api.dashboard.i18n import N_
from api.dashboard.pages import Reader, render, render_fragment, safe_next
from api.deps import Services, ServicesDep
from api.intake.router import reachable_response
from domain.alerts import is_detractor
from domain.commands import REPLIED_COMMENT, REPLY_STATUSES
from domain.reply_templates import LANGUAGES as REPLY_LANGUAGES, PLACEHOLDERS as REPLY_PLACEHOLDERS
from domain.reply_templates import render as render_reply_template
from domain.ticket import TRANSITIONS, EventKind, TicketState, TicketStatus, can_transition
from store import accounts, configuration, directory, intake
from store.configuration import reply_templates as store_reply_templates
from store.customers import CustomerHistory, customer_history
from store.configuration import ConfigurationError
from store.conversation import thread, who_spoke_last
from store.tickets import InvalidCursor, TicketPage

# Every page needs a signed-in reader; without one, the sign-in page.
router = APIRouter(include_in_schema=False, dependencies=[Depends(page_caller)])

PAGE_SIZE = 25
KANBAN_COLUMN_SIZE = 50
# The board's columns for the work in hand; the others (finished, not real)
# are folded unless the status filter asks for them, so that a screen holds
# the board without scrolling sideways.
KANBAN_WORKING = frozenset(
    {
        TicketStatus.NEW,
        TicketStatus.OPEN,
        TicketStatus.ANSWERED,
        TicketStatus.ESCALATED,
        TicketStatus.POSTPONED,
        TicketStatus.RESOLVED,
    }
)
COOKIE_MAX_AGE = 365 * 24 * 3600
VIEWS = ("list", "feed", "kanban")


@dataclass
class Workspace:
    """The chosen workspace and what its pages offer to pick from."""

    id: str
    choices: list[tuple[str, str]]
    # segment name -> its managers' usernames
    segments: dict[str, list[str]]

    @property
    def owners(self) -> list[str]:
        return sorted({owner for managers in self.segments.values() for owner in managers})


async def _workspace(request: Request, services: Services) -> Workspace:
    workspaces = await asyncio.to_thread(configuration.list_workspaces, services.engine)
    reader = Reader.of(request)
    if reader.user is not None and not reader.user.is_admin:
        # Others see the workspaces where they have a segment.
        workspaces = [w for w in workspaces if w.id in reader.user.workspaces]
    choices = [(w.id, w.name) for w in workspaces]
    known = {w_id for w_id, _ in choices}
    wanted = request.query_params.get("workspace") or request.cookies.get(i18n.WORKSPACE_COOKIE)
    if wanted not in known:
        wanted = choices[0][0] if choices else "default"
    segments: dict[str, list[str]] = {}
    if wanted in known:
        for segment in await asyncio.to_thread(configuration.list_segments, services.engine, wanted):
            segments[segment.name] = [m.username for m in segment.managers]
    return Workspace(id=wanted, choices=choices, segments=segments)


def _remember_workspace(response: Response, workspace: Workspace) -> Response:
    if workspace.choices:
        response.set_cookie(i18n.WORKSPACE_COOKIE, workspace.id, max_age=COOKIE_MAX_AGE, samesite="lax")
    return response


async def _tickets_view(
    request: Request, services: Services, view: str
) -> tuple[Reader, Workspace, DashboardQuery, dict]:
    reader = Reader.of(request)
    workspace = await _workspace(request, services)
    query = DashboardQuery.parse(request.query_params, workspace.id, reader.today())
    # The counts ignore the status filter: each is a tab to switch to.
    counts = await asyncio.to_thread(
        services.tickets.counts, query.ticket_filters(reader, with_status=False)
    )
    context = {
        "view": view,
        "workspace": workspace,
        "query": query,
        "counts": counts,
        "export_url": f"/api/tickets/export.xlsx?{query.api_query(reader)}",
    }
    return reader, workspace, query, context


# --- the ticket views ------------------------------------------------------------------


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/dashboard")
async def dashboard(request: Request) -> RedirectResponse:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/dashboard/tickets{query}", status_code=307)


@router.get("/dashboard/tickets", response_class=HTMLResponse)
async def ticket_list(request: Request, services: ServicesDep) -> Response:
    reader, workspace, query, context = await _tickets_view(request, services, "list")
    filters, error = query.ticket_filters(reader), None
    try:
        page = await asyncio.to_thread(
            services.tickets.list, filters, query.sort, query.cursor or None, PAGE_SIZE
        )
    except InvalidCursor:
        # A cursor from another sort order, or mangled: start again at the top.
        query, error = replace(query, cursor="", page=1), "invalid_cursor"
        context["query"] = query
        page = await asyncio.to_thread(services.tickets.list, filters, query.sort, None, PAGE_SIZE)
    last_words = await asyncio.to_thread(who_spoke_last, services.engine, [t.id for t in page.items])
    reasons = await asyncio.to_thread(_resolution_reasons, services, workspace.id, reader)
    response = render(
        request, reader, "list.html", page=page, list_error=error, last_words=last_words,
        reason_labels={reason.code: reason.label for reason in reasons}, **context
    )
    return _remember_workspace(response, workspace)


@router.get("/dashboard/feed", response_class=HTMLResponse)
async def ticket_feed(request: Request, services: ServicesDep) -> Response:
    reader, workspace, query, context = await _tickets_view(request, services, "feed")
    items = await asyncio.to_thread(feed.latest, services.engine, query.ticket_filters(reader))
    newest = items[0].event.at if items else datetime.now(UTC)
    stream_url = f"/dashboard/feed/stream?{query.query_string()}&{urlencode({'since': newest.isoformat()})}"
    names = await asyncio.to_thread(directory.names_for_log, services.engine, [item.event for item in items])
    response = render(request, reader, "feed.html", items=items, names=names, stream_url=stream_url, **context)
    return _remember_workspace(response, workspace)


@router.get("/dashboard/feed/stream")
async def ticket_feed_stream(
    request: Request,
    services: ServicesDep,
    since: datetime | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: each new log line as `event: ticket-event` with
    `data: {"key", "html"}` (the feed item, rendered for the reader), and
    after each batch of them the counts by status above the views as
    `event: counts` with `data: {"<status>" | "total": "<count, formatted>"}`
    (a new ticket, a change of status: the counts change with the lines)."""
    reader = Reader.of(request)
    workspace = await _workspace(request, services)
    query = DashboardQuery.parse(request.query_params, workspace.id, reader.today())
    filters = query.ticket_filters(reader)
    # Like the page's counts, they ignore the status filter: each is a tab.
    count_filters = query.ticket_filters(reader, with_status=False)
    start = since or datetime.now(UTC)
    if last_event_id:  # a reconnecting EventSource resumes where it was
        try:
            start = datetime.fromisoformat(last_event_id)
        except ValueError:
            pass
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)

    async def stream() -> AsyncIterator[str]:
        watermark = feed.Watermark(start)
        # Lines exactly at `start` were shown with the page already; the
        # client drops any line it has, so the overlap costs nothing.
        yield "retry: 2000\n\n"
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + feed.STREAM_SECONDS
        quiet_since = loop.time()
        while loop.time() < ends_at:
            if await request.is_disconnected():
                return
            items = watermark.take(
                await asyncio.to_thread(feed.since, services.engine, filters, watermark.poll_from)
            )
            names = await asyncio.to_thread(
                directory.names_for_log, services.engine, [item.event for item in items]
            ) if items else {}
            for item in items:
                html = render_fragment(reader, "_feed_item.html", item=item, names=names, fresh=True)
                data = json.dumps({"key": item.key, "html": html})
                yield f"id: {watermark.newest.isoformat()}\nevent: ticket-event\ndata: {data}\n\n"
            if items:
                quiet_since = loop.time()
                counts = await asyncio.to_thread(services.tickets.counts, count_filters)
                data = json.dumps({status: reader.formats.number(count) for status, count in counts.items()})
                yield f"event: counts\ndata: {data}\n\n"
            elif loop.time() - quiet_since > feed.KEEPALIVE_SECONDS:
                quiet_since = loop.time()
                yield ": keep-alive\n\n"
            await asyncio.sleep(feed.POLL_SECONDS)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/dashboard/kanban", response_class=HTMLResponse)
async def ticket_kanban(request: Request, services: ServicesDep) -> Response:
    reader, workspace, query, context = await _tickets_view(request, services, "kanban")
    base = query.ticket_filters(reader, with_status=False)
    columns = []
    for status in TicketStatus:
        if query.status and status.value not in query.status:
            page = TicketPage(items=[])
        else:
            column_filters = base.model_copy(update={"status": [status]})
            page = await asyncio.to_thread(
                services.tickets.list, column_filters, query.sort, None, KANBAN_COLUMN_SIZE
            )
        folded = status not in KANBAN_WORKING and status.value not in query.status
        columns.append((status, page.items, context["counts"][status.value], folded))
    moves = {
        ticket.id: [
            s.value for s in TicketStatus if can_transition(ticket.status, s, ticket.status_before_delete)
        ]
        for _, items, _, _ in columns
        for ticket in items
    }
    # The lifecycle, for the page's script to offer a moved card its next
    # moves (a deleted ticket's only move, its restore, is on its card).
    transitions = {
        status.value: [s.value for s in TicketStatus if s in TRANSITIONS[status]]
        for status in TicketStatus
        if status is not TicketStatus.DELETED
    }
    last_words = await asyncio.to_thread(who_spoke_last, services.engine, list(moves))
    response = render(
        request, reader, "kanban.html", columns=columns, moves=moves, transitions=transitions,
        last_words=last_words, **context
    )
    return _remember_workspace(response, workspace)


# --- one ticket, one response --------------------------------------------------------


@router.get("/dashboard/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket_page(ticket_id: str, request: Request, services: ServicesDep) -> Response:
    reader = Reader.of(request)
    ticket = None
    if ticket_id.isprintable() and len(ticket_id) <= 200:
        ticket = await asyncio.to_thread(services.tickets.get, ticket_id)
    if ticket is None or reader.user is None or not reader.user.reaches(ticket):
        return render(request, reader, "not_found.html", status_code=404, what="ticket")
    events = await asyncio.to_thread(services.tickets.events, ticket.id)
    segments: dict[str, list[str]] = {}
    try:
        for segment in await asyncio.to_thread(
            configuration.list_segments, services.engine, ticket.workspace_id
        ):
            segments[segment.name] = [m.username for m in segment.managers]
    except ConfigurationError:
        pass
    if ticket.segment not in segments:  # a segment renamed or removed since
        segments[ticket.segment] = [ticket.owner] if ticket.owner else []
    comments = _comments(events)
    # The log names rules and people by id: the page names them by name.
    names = await asyncio.to_thread(directory.names_for_log, services.engine, events)
    allowed = [s.value for s in TicketStatus if can_transition(ticket.status, s, ticket.status_before_delete)]
    history = await asyncio.to_thread(
        customer_history, services.engine, ticket.customer_email, reader.user, HISTORY_SIZE
    )
    messages = await asyncio.to_thread(thread, services.engine, ticket, events)
    no_reply = _why_no_reply(ticket)
    reasons = await asyncio.to_thread(_resolution_reasons, services, ticket.workspace_id, reader)
    try:
        reason_required = (
            await asyncio.to_thread(configuration.get_workspace, services.engine, ticket.workspace_id)
        ).resolution_reason_required
    except ConfigurationError:
        reason_required = False
    return render(
        request,
        reader,
        "ticket.html",
        ticket=ticket,
        messages=messages,
        no_reply=no_reply,
        reply_statuses=[] if no_reply else _reply_statuses(allowed),
        reply_templates=[] if no_reply else [
            asdict(choice) for choice in await asyncio.to_thread(_reply_templates_for, services, ticket, reader)
        ],
        language_names={code: i18n.locale_name(code) for code in REPLY_LANGUAGES},
        history=history,
        detractors_this_year=_detractors_this_year(history, reader),
        is_detractor=is_detractor,
        events=events,
        comments=comments,
        names=names,
        segments=segments,
        allowed_statuses=allowed,
        default_snooze=_default_snooze(reader),
        back=_back_link(request, ticket),
        # The reasons a resolving change may name (the active ones), and
        # the ticket's own reason by its label (a retired one too).
        resolution_reasons=[reason for reason in reasons if not reason.retired],
        resolution_reason_required=reason_required,
        resolution_reason_label=next(
            (reason.label for reason in reasons if reason.code == ticket.resolution_reason), ticket.resolution_reason
        ),
    )


# The ticket page lists this many of the customer's tickets and responses.
HISTORY_SIZE = 20


def _detractors_this_year(history: CustomerHistory, reader: Reader) -> int:
    """The customer's detractor responses received this calendar year (in
    the reader's time zone) that the reader may see."""
    year = reader.today().year
    return sum(
        1 for response in history.responses
        if is_detractor(response.score) and response.received_at.astimezone(reader.formats.zone).year == year
    )


# Log lines whose words are not the team's internal comments: the
# conversation with the customer shows the replies and the customer's mails.
NOT_COMMENTS = frozenset({"rules_replaced", "directory_replaced", "rejected", EventKind.REPLIED.value,
                          EventKind.CUSTOMER_REPLIED.value})


def _comments(events: list) -> list:
    """The people's words on the ticket: one entry per change, however many
    fields it changed (each field is its own log line with the same comment).
    A reply's status change without an internal note says only that it was a
    reply, which the conversation shows."""
    comments, seen = [], set()
    for event in events:
        if not event.comment or event.kind.value in NOT_COMMENTS or event.comment == REPLIED_COMMENT:
            continue
        key = (event.at, event.actor, event.comment)
        if key not in seen:
            seen.add(key)
            comments.append(event)
    return comments


# Why the customer cannot be replied to (the API refuses it with 409 or 422).
NO_REPLY = {
    TicketStatus.CLOSED: N_("This ticket is closed: the customer can no longer be answered here."),
    TicketStatus.SPAM: N_("This ticket is marked as spam: it takes no reply."),
    TicketStatus.DELETED: N_("This ticket is deleted: it takes no reply."),
}


def _why_no_reply(ticket: TicketState) -> str | None:
    """The reason the reply form is not offered (untranslated), or None."""
    if ticket.status in NO_REPLY:
        return NO_REPLY[ticket.status]
    if "@" not in ticket.customer_email:
        return N_("The customer has no mail address to reply to.")
    return None


def _reply_statuses(allowed: list[str]) -> list[str]:
    """What a reply may leave the ticket as, in the lifecycle's order: the
    reply's statuses the ticket can move to, then "keep" (its status as it
    is; the choice for a ticket that cannot become answered, e.g. resolved)."""
    return [s.value for s in TicketStatus if s in REPLY_STATUSES and s.value in allowed] + ["keep"]


@dataclass(frozen=True)
class ReplyTemplateChoice:
    """A reply template as the picker offers it: its text for this ticket,
    and the language that text is in (the customer's, unless it has none)."""

    id: str
    name: str
    # The language the text is in, and the customer's: they differ when the
    # template has no text in the customer's language.
    language: str
    wanted: str
    text: str


def _reply_templates_for(services: Services, ticket: TicketState, reader: Reader) -> list[ReplyTemplateChoice]:
    """The workspace's reply templates, each filled in for the ticket (the
    customer's name, the reference, the reader's own name, the workspace's
    name) in the customer's language, else the workspace's, else English."""
    try:
        templates = store_reply_templates.list_reply_templates(services.engine, ticket.workspace_id)
        workspace = configuration.get_workspace(services.engine, ticket.workspace_id)
    except ConfigurationError:  # a workspace removed since
        return []
    username = reader.user.username if reader.user else ""
    agent_name = directory.names_for(services.engine, [username]).get(username, username)
    language = ticket.customer_locale or workspace.default_locale
    choices = []
    for template in templates:
        chosen, text = render_reply_template(
            template.bodies, language, customer_name=ticket.customer_name, reference=ticket.reference,
            agent_name=agent_name, workspace_name=workspace.name, workspace_language=workspace.default_locale,
        )
        choices.append(ReplyTemplateChoice(
            id=template.id, name=template.name, language=chosen, wanted=language, text=text
        ))
    return choices


@dataclass(frozen=True)
class ResolutionReasonChoice:
    """A workspace's resolution reason as the pages show it: its label in
    the reader's language, else English, else its code."""

    id: str
    code: str
    label: str
    labels: dict[str, str]
    position: int
    retired: bool


def _resolution_reasons(services: Services, workspace_id: str, reader: Reader) -> list[ResolutionReasonChoice]:
    """The workspace's resolution reasons in their order, retired ones too."""
    try:
        rows = configuration.list_resolution_reasons(services.engine, workspace_id)
    except ConfigurationError:  # a workspace removed since, or none yet
        return []
    return [
        ResolutionReasonChoice(
            id=row.id, code=row.code, label=row.labels.get(reader.locale) or row.labels.get("en") or row.code,
            labels=dict(row.labels), position=row.position, retired=row.retired,
        )
        for row in rows
    ]


def _default_snooze(reader: Reader) -> datetime:
    tomorrow = datetime.now(UTC).astimezone(reader.formats.zone) + timedelta(days=1)
    return tomorrow.replace(hour=9, minute=0, second=0, microsecond=0)


def _back_link(request: Request, ticket: TicketState) -> str:
    """Back to the view the editor was opened from, when it was one of ours."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path in (
        "/dashboard/tickets",
        "/dashboard/feed",
        "/dashboard/kanban",
    ):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return f"/dashboard/tickets?workspace={ticket.workspace_id}"


@router.get("/dashboard/responses/{response_id}", response_class=HTMLResponse)
async def response_page(
    response_id: str, request: Request, services: ServicesDep, caller: PageCallerDep, partial: bool = False
) -> Response:
    reader = Reader.of(request)
    stored = await reachable_response(services, caller.principal, response_id)
    if stored is None:
        if partial:
            return HTMLResponse(render_fragment(reader, "_not_found.html", what="response"), status_code=404)
        return render(request, reader, "not_found.html", status_code=404, what="response")
    survey_name = None  # a survey deleted since: its id is all there is
    try:
        survey_name = (await asyncio.to_thread(configuration.get_survey, services.engine, stored.survey_id)).name
    except ConfigurationError:
        pass
    if partial:
        return HTMLResponse(render_fragment(reader, "_response.html", stored=stored, survey_name=survey_name))
    return render(request, reader, "response.html", stored=stored, survey_name=survey_name)


# --- settings --------------------------------------------------------------------------


@router.get("/dashboard/settings", response_class=HTMLResponse)
async def settings_page(request: Request, services: ServicesDep) -> Response:
    """Users, API tokens, segments and their managers, surveys with their
    webhook and alert rules, escalation rules, the customers' mail: read here, changed by the
    page's script (settings.js) through the configuration API."""
    reader = Reader.of(request)
    if reader.user is None or not reader.user.is_admin:
        return render(request, reader, "forbidden.html", status_code=403, view="settings")
    workspace = await _workspace(request, services)
    engine = services.engine
    segments, surveys, rules = [], [], []
    known = workspace.id in {w_id for w_id, _ in workspace.choices}
    if known:
        segments = await asyncio.to_thread(configuration.list_segments, engine, workspace.id)
        surveys = await asyncio.to_thread(configuration.list_surveys, engine, workspace.id)
        rules = await asyncio.to_thread(configuration.list_escalation_rules, engine, workspace.id)
    reply_templates = await asyncio.to_thread(store_reply_templates.list_reply_templates, engine, workspace.id) if known else []
    resolution_reasons = await asyncio.to_thread(_resolution_reasons, services, workspace.id, reader) if known else []
    # Its customers' language and time zone, and its mail identity.
    mail_settings = await asyncio.to_thread(configuration.get_workspace, engine, workspace.id) if known else None
    alert_rules: dict[str, list[Any]] = {}
    question_keys: dict[str, list[str]] = {}
    for survey in surveys:
        alert_rules[survey.id] = await asyncio.to_thread(intake.list_alert_rules, engine, survey.id)
        question_keys[survey.id] = await asyncio.to_thread(configuration.question_keys, engine, survey.id)
    users = await asyncio.to_thread(configuration.list_users, engine)
    tokens = await asyncio.to_thread(accounts.list_tokens, engine)
    usernames = {user.id: user.username for user in users}
    response = render(
        request,
        reader,
        "settings.html",
        view="settings",
        workspace=workspace,
        workspace_known=known,
        segments=segments,
        surveys=surveys,
        alert_rules=alert_rules,
        question_keys=question_keys,
        mapped_fields=configuration.MAPPED_FIELDS,
        escalation_rules=rules,
        people=users,
        # Who may be picked (a manager, an assignee, an owner): the active users.
        users=[u.username for u in users if u.deactivated_at is None],
        managed={
            user.username: [s.name for s in segments if user.username in {m.username for m in s.managers}]
            for user in users
        },
        # Each segment's managers as PUT /api/segments/{id}/managers takes them:
        # a user's segments are saved by changing those lists.
        segment_managers={s.id: [vars(m) for m in s.managers] for s in segments},
        tokens=[(token, usernames.get(token.user_id, token.user_id)) for token in tokens],
        survey_names={s.id: s.name for s in surveys},
        webhook_base=services.settings.public_url.rstrip("/") + "/api/webhooks/surveys/",
        mail_settings=mail_settings,
        reply_templates=reply_templates,
        resolution_reasons=resolution_reasons,
        reply_languages=[(code, i18n.locale_name(code)) for code in REPLY_LANGUAGES],
        reply_placeholders=", ".join(f"{{{name}}}" for name in REPLY_PLACEHOLDERS),
        default_sender=services.settings.mail_from,
    )
    return _remember_workspace(response, workspace)


# --- preferences -----------------------------------------------------------------------


@router.post("/dashboard/preferences")
async def preferences(
    caller: PageCallerDep,
    locale: Annotated[str, Form()] = "",
    tz: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/dashboard",
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """The language and time-zone selectors: kept in cookies for a year."""
    check_csrf(caller, csrf_token)
    response = RedirectResponse(safe_next(next), status_code=303)
    if locale in i18n.LOCALES:
        response.set_cookie(i18n.LOCALE_COOKIE, locale, max_age=COOKIE_MAX_AGE, samesite="lax")
    if tz and i18n.choose_time_zone(tz) == tz:
        response.set_cookie(i18n.TIME_ZONE_COOKIE, tz, max_age=COOKIE_MAX_AGE, samesite="lax")
    return response
