/* cxloop dashboard: the little script the server-rendered pages need.
 *
 * Every change goes through the same HTTP API that clients use
 * (PATCH /api/tickets/{id}, POST /api/tickets, POST /api/tickets/{id}/replies;
 * the settings page's forms are settings.js's),
 * with the signed-in session's cookie and its CSRF token. No framework, no build. */
(function () {
  "use strict";

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));

  function readJson(id, fallback) {
    const element = document.getElementById(id);
    if (!element) return fallback;
    try { return JSON.parse(element.textContent); } catch (error) { return fallback; }
  }

  /* A page's messages as a function: t("moved", {status: "Open"}) is
   * "Moved to %(status)s." with the status in it. */
  function translator(messages) {
    return function t(key, values) {
      let text = messages[key] || key;
      Object.entries(values || {}).forEach(([name, value]) => {
        text = text.split("%(" + name + ")s").join(String(value));
      });
      return text;
    };
  }

  // Every page's messages, and those of the page's own forms (cx-page-messages).
  const t = translator(Object.assign(readJson("cx-messages", {}), readJson("cx-page-messages", {})));
  const context = readJson("cx-context", {});

  // --- the session, sent with every change ------------------------------------------

  // The session's CSRF token: every change sent with the session cookie
  // carries it, so that another site cannot make this browser change tickets.
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // --- talking to the API ------------------------------------------------------------

  class Refusal extends Error {
    constructor(status, reason) { super(reason); this.status = status; this.reason = reason; }
  }

  /* A detail in words is shown as it is; FastAPI's 422 lists the fields: say
   * it in one line, each field named by the label of `form`'s control for it
   * when there is one (`name`, or data-api-field for a control that is
   * converted), else by its path in the body. */
  function describe(detail, form) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((item) => {
        const path = (item.loc || []).filter((part) => part !== "body");
        const field = [...path].reverse().find((part) => typeof part === "string" && !/^\d+$/.test(part));
        const control = form && field && $(`[data-api-field="${field}"], [name="${field}"]`, form);
        const label = control && control.labels && control.labels[0];
        const where = label ? label.textContent.trim() : path.join(".");
        const problem = String(item.msg || "").replace(/^Value error, /, "");
        return (where ? where + ": " : "") + problem;
      }).join("; ");
    }
    return JSON.stringify(detail);
  }

  /* `form`: the form the body comes from, whose labels name the fields of a
   * refusal; `extraHeaders`: more request headers (an Idempotency-Key). */
  async function api(method, url, body, form, extraHeaders) {
    const headers = Object.assign({ "Accept": "application/json" }, extraHeaders);
    if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new Refusal(0, t("failed"));
    }
    if (response.status === 204) return null;
    let payload = null;
    try { payload = await response.json(); } catch (error) { payload = null; }
    if (!response.ok) {
      throw new Refusal(response.status, payload && payload.detail ? describe(payload.detail, form) : t("failed"));
    }
    return payload;
  }

  // --- small pieces ------------------------------------------------------------------

  let toastTimer = null;
  function toast(text, kind) {
    const element = document.getElementById("toast");
    if (!element) return;
    element.textContent = text;
    element.dataset.kind = kind || "info";
    element.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { element.hidden = true; }, kind === "error" ? 8000 : 3500);
  }

  function showError(form, text) {
    const element = $(".form-error", form);
    if (!element) { toast(text, "error"); return; }
    element.textContent = text;
    element.hidden = !text;
  }

  function busy(form, on) {
    $$("button[type=submit]", form).forEach((button) => {
      button.disabled = on;
      button.setAttribute("aria-busy", on ? "true" : "false");
    });
  }

  // What settings.js, loaded after this script on the settings page, uses too.
  window.cxloop = Object.freeze({ $, $$, readJson, translator, api, toast, busy });

  /* A wall-clock time in an IANA zone ("2025-11-24T09:00" in Europe/Berlin)
   * as an instant: guess it is UTC, see what the zone's clock shows then, and
   * correct by the difference (twice, for a guess that crosses a DST change). */
  function zonedToIso(local, zone) {
    const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || "");
    if (!match) return null;
    const wanted = Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5]);
    const format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone || "UTC", hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    const wallClock = (instant) => {
      const parts = Object.fromEntries(format.formatToParts(new Date(instant)).map((p) => [p.type, p.value]));
      return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    };
    let instant = wanted;
    for (let i = 0; i < 2; i++) instant += wanted - wallClock(instant);
    return new Date(instant).toISOString();
  }

  // --- quick reasons and owners ------------------------------------------------------

  function initQuickReasons(root) {
    $$("[data-quick-reason]", root).forEach((chip) => {
      chip.addEventListener("click", () => {
        const textarea = $("textarea[name=comment]", chip.closest("form"));
        const reason = chip.dataset.quickReason;
        textarea.value = textarea.value.trim() ? textarea.value.trim() + " " + reason : reason;
        textarea.focus();
      });
    });
  }

  /* The owner is one of the selected segment's managers: refresh the choice
   * when the segment changes; a segment with one manager pre-selects them. */
  function refreshOwners(segmentSelect, keep) {
    const ownerSelect = document.getElementById(segmentSelect.dataset.ownerSelect);
    if (!ownerSelect) return;
    const managers = [...((context.segments || {})[segmentSelect.value] || [])];
    const current = keep !== undefined ? keep : ownerSelect.value;
    // A ticket's owner who does not (or no longer) manage its segment (one an
    // escalation rule handed it to) stays its owner there: offer them too.
    const holder = ownerSelect.dataset.holder;
    const holderHere = holder && segmentSelect.value === ownerSelect.dataset.holderSegment && !managers.includes(holder);
    ownerSelect.replaceChildren();
    const none = new Option(t("unassigned"), "");
    ownerSelect.add(none);
    managers.forEach((manager) => ownerSelect.add(new Option(manager, manager)));
    if (holderHere) ownerSelect.add(new Option(t("not_a_manager", { owner: holder }), holder));
    if (managers.includes(current)) ownerSelect.value = current;
    else if (holderHere) ownerSelect.value = holder;
    else if (managers.length === 1) ownerSelect.value = managers[0];
    else ownerSelect.value = "";
  }

  function initOwnerSelects(root) {
    $$("select[data-owner-select]", root).forEach((select) => {
      select.addEventListener("change", () => refreshOwners(select));
    });
  }

  // --- dialogs -----------------------------------------------------------------------

  function initDialogs() {
    $$("[data-open-dialog]").forEach((button) => {
      button.addEventListener("click", () => {
        const dialog = document.getElementById(button.dataset.openDialog);
        if (dialog) openDialog(dialog);
      });
    });
    // An error is about what was typed: it goes once the person types again.
    document.addEventListener("input", (event) => {
      const error = event.target.form && $(".form-error", event.target.form);
      if (error) error.hidden = true;
    });
    document.addEventListener("click", (event) => {
      const closer = event.target.closest("[data-close-dialog]");
      if (closer) closer.closest("dialog").close("cancel");
    });
  }

  function openDialog(dialog) {
    $$(".form-error", dialog).forEach((element) => { element.hidden = true; });
    dialog.showModal();
    const first = $("input:not([type=hidden]), select, textarea", dialog);
    if (first) first.focus();
  }

  // --- the ticket editor -------------------------------------------------------------

  function initTicketEditor() {
    const form = document.getElementById("ticket-form");
    if (!form) return;
    const original = JSON.parse(form.dataset.original);
    const status = form.elements.status;
    const snoozeField = $(".snooze-field", form);
    const toggleSnooze = () => { snoozeField.hidden = status.value !== "postponed"; };
    status.addEventListener("change", toggleSnooze);
    toggleSnooze();
    const resolutionReason = initResolutionField(form, original.status);
    // The fields the person changed. Only those are sent: a field the page
    // filled in by itself (the owner offered for a new segment) is left to
    // the ticket's own rules, and one the page could not show as it is is
    // never overwritten by what the page shows instead.
    const touched = new Set();
    form.addEventListener("change", (event) => { if (event.target.name) touched.add(event.target.name); });

    /* What the person changed, as the PATCH body's fields. */
    function changes() {
      const change = {};
      ["status", "priority", "segment"].forEach((name) => {
        if (touched.has(name) && form.elements[name].value !== original[name]) change[name] = form.elements[name].value;
      });
      const owner = form.elements.owner.value;
      if (touched.has("owner") && owner !== original.owner) change.owner = owner || null;
      const snooze = form.elements.snooze_until;
      const snoozeChanged = touched.has("snooze_until") && snooze.value !== snooze.defaultValue;
      if (status.value === "postponed" && (change.status === "postponed" || snoozeChanged)) {
        const until = zonedToIso(snooze.value, context.time_zone);
        if (!until) return null;
        change.snooze_until = until;
      }
      const reason = resolutionReason();
      if (reason && change.status === "resolved") change.resolution_reason = reason;
      return change;
    }

    /* After a change that took the ticket out of the reader's reach, what
     * happened, in words (the ticket's page would only say it does not exist). */
    function farewell(ticket) {
      if (ticket.segment !== original.segment) return t("moved_out_of_reach", { segment: ticket.segment });
      if (ticket.owner) return t("handed_over", { owner: ticket.owner });
      return t("unassigned_out_of_reach");
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const comment = form.elements.comment.value.trim();
      if (!comment) {
        showError(form, t("comment_required"));
        form.elements.comment.focus();
        return;
      }
      const change = changes();
      if (change === null) { showError(form, t("snooze_required")); return; }
      showError(form, "");
      busy(form, true);
      try {
        const url = "/api/tickets/" + encodeURIComponent(form.dataset.ticketId);
        if (Object.keys(change).length) {
          const ticket = await api("PATCH", url, Object.assign(change, { comment }));
          // Still the reader's? The API answers a ticket out of reach as unknown.
          const gone = await api("GET", url).then(() => false, (refusal) => refusal.status === 404);
          if (gone) {
            sessionStorage.setItem("cx-toast", farewell(ticket));
            window.location.assign(form.dataset.back);
            return;
          }
        } else {
          await api("POST", url + "/comments", { comment });
        }
        sessionStorage.setItem("cx-toast", t("saved"));
        // The comment just written is in the internal tab: open it there.
        reloadOnTab("internal");
      } catch (refusal) {
        showError(form, t("refused", { reason: refusal.reason }));
        busy(form, false);
      }
    });
  }

  /* The resolution reason's select (_resolution_field.html), shown while the
   * form's status says Resolved and the ticket is not resolved already
   * (`from`); answers a function giving the chosen code to send, or null.
   * Whether one is required is the API's to say: its refusal is the form's
   * error, in the reader's language. */
  function initResolutionField(form, from) {
    const field = $("[data-resolution-field]", form);
    const status = form.elements.status;
    const resolving = () => status.value === "resolved" && from !== "resolved";
    if (field) {
      const toggle = () => { field.hidden = !resolving(); };
      status.addEventListener("change", toggle);
      toggle();
    }
    return () => (field && resolving() && form.elements.resolution_reason.value) || null;
  }

  /* Reload the page showing the tab named `tab` (see initTabs). */
  function reloadOnTab(tab) {
    history.replaceState(null, "", "#" + tab);
    window.location.reload();
  }

  // --- the ticket's tabs: the conversation, and internal comments & log ----------------

  /* ARIA tabs: one selected tab shows its panel; arrows, Home and End move
   * between tabs (and select them); the URL's #<tab> keeps the choice
   * across a reload. */
  function initTabs() {
    $$("[role=tablist]").forEach((list) => {
      const tabs = $$("[role=tab]", list);
      const select = (tab, focus) => {
        tabs.forEach((other) => {
          const on = other === tab;
          other.setAttribute("aria-selected", on ? "true" : "false");
          other.tabIndex = on ? 0 : -1;
          document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
        });
        if (focus) tab.focus();
      };
      list.addEventListener("click", (event) => {
        const tab = event.target.closest("[role=tab]");
        if (!tab) return;
        select(tab, true);
        history.replaceState(null, "", "#" + tab.dataset.tab);
      });
      list.addEventListener("keydown", (event) => {
        const index = tabs.indexOf(document.activeElement);
        if (index < 0) return;
        const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
        if (next === undefined) return;
        event.preventDefault();
        const tab = tabs[(next + tabs.length) % tabs.length];
        select(tab, true);
        history.replaceState(null, "", "#" + tab.dataset.tab);
      });
      const wanted = tabs.find((tab) => "#" + tab.dataset.tab === window.location.hash);
      if (wanted) select(wanted, false);
    });
  }

  // --- the reply to the customer -------------------------------------------------------

  /* A key for one request that survives its retries (crypto.randomUUID needs
   * a secure context; getRandomValues does not). */
  function newRequestKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  /* The reply form: a template fills the text in (the page rendered each
   * template for this ticket, in the customer's language), which stays
   * editable; sending is POST /api/tickets/{id}/replies with one
   * Idempotency-Key per reply, so a second click or a retry after a lost
   * answer sends it once; the page then reloads on the conversation,
   * the new reply marked. */
  function initReplyForm() {
    const form = document.getElementById("reply-form");
    if (!form) return;
    const templates = Object.fromEntries(readJson("cx-reply-templates", []).map((tpl) => [tpl.id, tpl]));
    const body = form.elements.body;
    const picker = form.elements.template_id;
    const hint = $(".template-hint", form);
    let filled = "";  // the text the last template put in
    let chosen = picker ? picker.value : "";
    let requestKey = null;

    if (picker) {
      picker.addEventListener("change", () => {
        const template = templates[picker.value];
        const typed = body.value.trim();
        if (template && typed && typed !== filled.trim() && !window.confirm(t("replace_reply"))) {
          picker.value = chosen;
          return;
        }
        chosen = picker.value;
        const option = picker.selectedOptions[0];
        hint.textContent = (option && option.dataset.hint) || "";
        hint.hidden = !hint.textContent;
        if (!template) return;
        body.value = filled = template.text;
        body.dispatchEvent(new Event("input", { bubbles: true }));
        body.focus();
        body.setSelectionRange(0, 0);
      });
    }
    const resolutionReason = initResolutionField(form, "");
    // Another text is another reply: it gets a key of its own.
    form.addEventListener("input", () => { requestKey = null; });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = body.value.trim();
      if (!text) {
        showError(form, t("reply_required"));
        body.focus();
        return;
      }
      const status = form.elements.status.value;
      const note = form.elements.comment.value.trim();
      const reply = {
        body: text,
        status: status === "keep" ? null : status,
        template_id: (picker && picker.value) || null,
        comment: note || null,
      };
      if (resolutionReason()) reply.resolution_reason = resolutionReason();
      requestKey = requestKey || newRequestKey();
      showError(form, "");
      busy(form, true);
      try {
        const url = "/api/tickets/" + encodeURIComponent(form.dataset.ticketId) + "/replies";
        const answer = await api("POST", url, reply, form, { "Idempotency-Key": requestKey });
        sessionStorage.setItem("cx-toast", t("reply_sent"));
        sessionStorage.setItem("cx-new-message", String(answer.message.seq));
        reloadOnTab("conversation");
      } catch (refusal) {
        showError(form, t("reply_refused", { reason: refusal.reason }));
        busy(form, false);
      }
    });
  }

  /* After a reply was sent: the conversation shows it, marked for a moment. */
  function showNewMessage() {
    // Newest last, like any conversation: the view starts at the end.
    const conversation = $(".conversation");
    if (conversation) conversation.scrollTop = conversation.scrollHeight;
    const seq = sessionStorage.getItem("cx-new-message");
    if (seq === null) return;
    sessionStorage.removeItem("cx-new-message");
    const message = document.getElementById("message-" + seq);
    if (!message) return;
    message.classList.add("fresh");
    message.scrollIntoView({ block: "nearest" });
    message.focus({ preventScroll: true });
    setTimeout(() => message.classList.remove("fresh"), 4000);
  }

  // --- new ticket --------------------------------------------------------------------

  /* The new-ticket dialog offers the segments where the reader may open a
   * ticket (the page rendered only those) and, for an agent, no choice of
   * owner: their ticket is theirs. A refusal is said for a person: a field the
   * API finds invalid (FastAPI's 422 lists them) gets the form's own message
   * under that field; any other refusal shows the API's detail, which it
   * words in the reader's language. */
  function initNewTicket() {
    const form = document.getElementById("new-ticket-form");
    if (!form) return;
    const fieldErrors = JSON.parse(form.dataset.fieldErrors || "{}");
    const fixedOwner = form.elements.owner && form.elements.owner.hasAttribute("data-fixed-owner");
    if (!fixedOwner) refreshOwners(form.elements.segment);

    const fieldError = (name) => $(`[data-error-for="${name}"]`, form);
    function clearFieldErrors() {
      $$("[data-error-for]", form).forEach((element) => { element.hidden = true; element.textContent = ""; });
      $$("[aria-invalid]", form).forEach((element) => element.removeAttribute("aria-invalid"));
    }
    /* Each named field's message under it; answers whether any was shown. */
    function showFieldErrors(names) {
      let first = null;
      names.forEach((name) => {
        const element = fieldError(name);
        const control = form.elements[name];
        if (!element || !control) return;
        element.textContent = fieldErrors[name];
        element.hidden = false;
        control.setAttribute("aria-invalid", "true");
        if (!first) first = control;
      });
      if (first) first.focus();
      return first !== null;
    }
    form.addEventListener("input", (event) => {
      const name = event.target.name;
      if (name && fieldError(name)) { fieldError(name).hidden = true; event.target.removeAttribute("aria-invalid"); }
    });
    form.closest("dialog").addEventListener("close", clearFieldErrors);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!form.elements.segment.value) return;  // no segment to open a ticket in
      const value = (name) => form.elements[name].value.trim();
      clearFieldErrors();
      showError(form, "");
      const missing = [];
      if (!value("customer_email") || !form.elements.customer_email.checkValidity()) missing.push("customer_email");
      if (!value("comment")) missing.push("comment");
      if (showFieldErrors(missing)) return;
      const body = {
        workspace_id: form.dataset.workspace,
        customer_email: value("customer_email"),
        segment: value("segment"),
        priority: value("priority"),
        status: value("status"),
        comment: value("comment"),
      };
      if (value("customer_name")) body.customer_name = value("customer_name");
      if (value("customer_comment")) body.customer_comment = value("customer_comment");
      if (!fixedOwner && value("owner")) body.owner = value("owner");
      busy(form, true);
      const notOpened = (reason) => (form.dataset.notOpened || "%(reason)s").split("%(reason)s").join(reason);
      let response = null;
      let payload = null;
      try {
        response = await fetch("/api/tickets", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Accept": "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify(body),
        });
        payload = await response.json();
      } catch (error) {
        payload = null;
      }
      if (response && response.ok && payload && payload.id) {
        window.location.assign("/dashboard/tickets/" + encodeURIComponent(payload.id));
        return;
      }
      busy(form, false);
      const detail = payload && payload.detail;
      if (Array.isArray(detail)) {
        // Pydantic's words name types and constraints: each field gets ours.
        const fields = detail.map((item) => (item.loc || []).filter((part) => part !== "body")[0] || "");
        const known = [...new Set(fields)].filter((name) => name in fieldErrors && fieldError(name));
        if (!showFieldErrors(known)) showError(form, notOpened(fieldErrors[""]));
      } else if (typeof detail === "string" && detail) {
        showError(form, notOpened(detail));
      } else {
        showError(form, notOpened(t("failed")));
      }
    });
  }

  // --- kanban ------------------------------------------------------------------------

  function initKanban() {
    const board = document.getElementById("kanban");
    if (!board) return;
    const dialog = document.getElementById("move-dialog");
    const form = document.getElementById("move-form");
    let pending = null;  // {card, from, to}
    let dragged = null;
    // The lifecycle's table (domain/ticket.py), from the page.
    const transitions = readJson("cx-transitions", {});

    const columnOf = (status) => $(`.kanban-column[data-status="${status}"]`, board);
    const labelOf = (status) => $(".column-label", columnOf(status)).textContent;

    /* The statuses a card's ticket can be moved to: a deleted ticket only
     * back to the status it had (its card says which). */
    function movesOf(card) {
      if (card.dataset.status === "deleted") return card.dataset.restores ? [card.dataset.restores] : [];
      return transitions[card.dataset.status] || [];
    }

    initFoldedColumns(board);

    /* The column's count and the status's count above the views. */
    function adjustCount(status, delta) {
      [$("[data-count]", columnOf(status)), $(`.count-chip[data-status="${status}"] .count-value`)].forEach((count) => {
        if (!count) return;
        const number = parseInt(count.textContent.replace(/\D/g, ""), 10) || 0;
        count.textContent = String(Math.max(0, number + delta));
      });
    }

    function place(card, status) {
      $("ol.cards", columnOf(status)).prepend(card);
    }

    function ask(card, to) {
      const from = card.dataset.status;
      if (!to || to === from || !movesOf(card).includes(to)) return;
      pending = { card, from, to };
      // Shown in the target column at once; snaps back if refused or cancelled.
      place(card, to);
      card.classList.add("moving");
      form.reset();
      $("#move-summary").textContent = $(".ticket-link", card).textContent + ": " + labelOf(from) + " → " + labelOf(to);
      const snooze = $(".snooze-field", form);
      snooze.hidden = to !== "postponed";
      if (to === "postponed") {
        const tomorrow = new Date(Date.now() + 24 * 3600 * 1000);
        form.elements.snooze_until.value = tomorrow.toISOString().slice(0, 10) + "T09:00";
      }
      openDialog(dialog);
      form.elements.comment.focus();
    }

    function snapBack() {
      if (!pending) return;
      const { card, from } = pending;
      const list = $("ol.cards", columnOf(from));
      list.prepend(card);
      card.classList.remove("moving");
      pending = null;
      const select = $(".move-select", card);
      if (select) select.value = "";
    }

    dialog.addEventListener("close", () => {
      if (pending && dialog.returnValue !== "moved") snapBack();
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!pending) return;
      const comment = form.elements.comment.value.trim();
      if (!comment) { showError(form, t("comment_required")); form.elements.comment.focus(); return; }
      const body = { status: pending.to, comment };
      if (pending.to === "postponed") {
        const until = zonedToIso(form.elements.snooze_until.value, context.time_zone);
        if (!until) { showError(form, t("snooze_required")); return; }
        body.snooze_until = until;
      }
      busy(form, true);
      const move = pending;
      try {
        const ticket = await api("PATCH", "/api/tickets/" + encodeURIComponent(move.card.dataset.ticketId), body);
        if (ticket.status === "deleted") move.card.dataset.restores = move.from;
        move.card.dataset.status = ticket.status;
        move.card.classList.remove("moving");
        adjustCount(move.from, -1);
        adjustCount(ticket.status, +1);
        if (ticket.status !== move.to) place(move.card, ticket.status);
        rebuildMoveOptions(move.card);
        pending = null;
        dialog.close("moved");
        toast(t("moved", { status: labelOf(ticket.status) }));
        const link = $(".ticket-link", move.card);
        if (link) link.focus();
      } catch (refusal) {
        dialog.close("refused");  // snaps back
        toast(t("refused", { reason: refusal.reason }), "error");
        const select = $(".move-select", move.card);
        if (select) select.focus();
      } finally {
        busy(form, false);
      }
    });

    /* "Move to" offers the moves from the card's status, in the board's order. */
    function rebuildMoveOptions(card) {
      const select = $(".move-select", card);
      if (!select) return;
      const moves = movesOf(card);
      const targets = $$(".kanban-column", board).map((column) => column.dataset.status).filter((s) => moves.includes(s));
      select.replaceChildren(new Option(select.options[0].text, ""), ...targets.map((s) => new Option(labelOf(s), s)));
      card.dataset.moves = moves.join(" ");
      select.value = "";
    }

    // Mouse: HTML drag and drop.
    board.addEventListener("dragstart", (event) => {
      const card = event.target.closest(".card");
      if (!card) return;
      dragged = card;
      card.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.dataset.ticketId);
      // Only the statuses the ticket can take accept it; the others look closed.
      const allowed = movesOf(card);
      $$(".kanban-column", board).forEach((column) => {
        const open = allowed.includes(column.dataset.status);
        column.classList.toggle("drop-allowed", open);
        column.classList.toggle("drop-refused", !open);
      });
    });
    board.addEventListener("dragend", () => {
      if (dragged) dragged.classList.remove("dragging");
      dragged = null;
      $$(".kanban-column", board).forEach((column) => column.classList.remove("drop-allowed", "drop-refused", "drop-over"));
    });
    const accepts = (column) => column && dragged && movesOf(dragged).includes(column.dataset.status);
    board.addEventListener("dragover", (event) => {
      const column = event.target.closest(".kanban-column");
      if (!accepts(column)) return;  // not prevented: the browser shows it refuses the drop
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      $$(".kanban-column.drop-over", board).forEach((c) => { if (c !== column) c.classList.remove("drop-over"); });
      column.classList.add("drop-over");
    });
    board.addEventListener("drop", (event) => {
      const column = event.target.closest(".kanban-column");
      if (!accepts(column)) return;
      event.preventDefault();
      const card = dragged;
      column.classList.remove("drop-over");
      ask(card, column.dataset.status);
    });

    // Keyboard (and touch): "Move to" on each card.
    board.addEventListener("click", (event) => {
      const button = event.target.closest(".move-button");
      if (!button) return;
      const card = button.closest(".card");
      ask(card, $(".move-select", card).value);
    });
  }

  /* The folded columns (closed, spam, deleted) open and close on their
   * title; the board remembers which the person keeps open. */
  function initFoldedColumns(board) {
    const key = "cx-kanban-unfolded";
    let unfolded = [];
    try { unfolded = JSON.parse(localStorage.getItem(key) || "[]"); } catch (error) { unfolded = []; }
    const setFolded = (column, folded) => {
      column.classList.toggle("folded", folded);
      $(".column-toggle", column).setAttribute("aria-expanded", folded ? "false" : "true");
    };
    $$(".kanban-column.foldable", board).forEach((column) => {
      if (unfolded.includes(column.dataset.status)) setFolded(column, false);
      $(".column-toggle", column).addEventListener("click", () => {
        const fold = !column.classList.contains("folded");
        setFolded(column, fold);
        unfolded = unfolded.filter((status) => status !== column.dataset.status);
        if (!fold) unfolded.push(column.dataset.status);
        try { localStorage.setItem(key, JSON.stringify(unfolded)); } catch (error) { /* private mode */ }
      });
    });
  }

  // --- the live feed -----------------------------------------------------------------

  function initFeed() {
    const list = document.getElementById("feed");
    if (!list || !window.EventSource) return;
    const indicator = document.getElementById("live-indicator");
    const setState = (state) => {
      indicator.dataset.state = state;
      indicator.textContent = state === "live" ? t("live") : t("reconnecting");
    };
    const source = new EventSource(list.dataset.stream);
    source.addEventListener("open", () => setState("live"));
    source.addEventListener("error", () => setState("reconnecting"));
    source.addEventListener("ticket-event", (event) => {
      const item = JSON.parse(event.data);
      if (document.getElementById("event-" + item.key)) return;
      const template = document.createElement("template");
      template.innerHTML = item.html.trim();
      const element = template.content.firstElementChild;
      // Newest first: before the first item that is older.
      const at = element.dataset.at;
      const after = $$(".feed-item", list).find((other) => other.dataset.at <= at);
      list.insertBefore(element, after || null);
      const empty = document.getElementById("feed-empty");
      if (empty) empty.hidden = true;
      setTimeout(() => element.classList.remove("fresh"), 4000);
    });
    // The counts by status above the views, recounted with each batch of lines.
    source.addEventListener("counts", (event) => {
      Object.entries(JSON.parse(event.data)).forEach(([status, count]) => {
        const value = $(`.count-chip[data-status="${status}"] .count-value`);
        if (value) value.textContent = count;
      });
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // --- the customer's response, in a dialog -------------------------------------------

  function initResponseLinks() {
    const dialog = document.getElementById("response-dialog");
    if (!dialog) return;
    document.addEventListener("click", async (event) => {
      const link = event.target.closest("a.response-link");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      const body = document.getElementById("response-dialog-body");
      try {
        const response = await fetch(link.getAttribute("href") + "?partial=1", { credentials: "same-origin" });
        body.innerHTML = await response.text();
      } catch (error) {
        body.textContent = t("failed");
      }
      dialog.showModal();
      $("[data-close-dialog]", dialog).focus();
    });
  }

  // -------------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    initDialogs();
    initQuickReasons(document);
    initOwnerSelects(document);
    initTicketEditor();
    initTabs();
    initReplyForm();
    showNewMessage();
    initNewTicket();
    initKanban();
    initFeed();
    initResponseLinks();
    const carried = sessionStorage.getItem("cx-toast");
    if (carried) { sessionStorage.removeItem("cx-toast"); toast(carried); }
  });
})();
