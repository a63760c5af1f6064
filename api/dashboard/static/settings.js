/* cxloop settings: the forms of /dashboard/settings.
 *
 * Every change goes through the configuration API (/api/users, /api/tokens,
 * /api/segments, /api/surveys and their alert rules, /api/escalation-rules,
 * /api/reply-templates, /api/resolution-reasons, /api/workspaces)
 * with the session's cookie and CSRF token, exactly as any client would; a
 * refusal shows the API's own `detail`, in the reader's language. */
(function () {
  "use strict";

  // The dashboard's own pieces (dashboard.js runs first on every page).
  const { $, $$, readJson, translator, api, toast, busy } = window.cxloop;

  const t = translator(readJson("cx-settings-messages", {}));
  const segmentManagers = readJson("cx-segment-managers", {});

  // --- what the person sees -------------------------------------------------------------

  /* The error line of the form, or of the item the control belongs to. */
  function errorLine(control) {
    const form = control.closest("form");
    if (form) {
      const own = $$(".form-error", form).pop();
      if (own) return own;
    }
    const item = control.closest(".settings-item, .survey, .settings-section");
    return item ? $$(":scope > .form-error, :scope > .item-body > .form-error", item).pop() : null;
  }

  function showRefusal(control, refusal) {
    const text = t("refused", { reason: refusal.reason });
    const line = errorLine(control);
    if (line) {
      line.textContent = text;
      line.hidden = false;
      line.scrollIntoView({ block: "nearest" });
    } else {
      toast(text, "error");
    }
  }

  function clearError(control) {
    const line = errorLine(control);
    if (line) line.hidden = true;
  }

  function reloadSaved(text) {
    sessionStorage.setItem("cx-toast", text || t("saved"));
    window.location.reload();
  }

  function labelOf(control) {
    const label = control.labels && control.labels[0];
    return label ? label.textContent.trim() : control.name;
  }

  // --- bodies of the forms -------------------------------------------------------------------

  const list = (text) => text.split(",").map((part) => part.trim()).filter(Boolean);
  const number = (text) => (text === "" ? null : Number(text));

  /* Named controls as JSON: data-type bool, nullable or managers; an empty
   * optional control is left out. */
  function fields(form, skip) {
    const body = {};
    Array.from(form.elements).forEach((element) => {
      if (!element.name || element.type === "submit" || element.type === "button") return;
      if ((skip || []).includes(element.name)) return;
      const type = element.dataset.type;
      if (type === "bool") body[element.name] = element.checked;
      else if (type === "nullable") body[element.name] = element.value || null;
      else if (type === "managers") body[element.name] = element.value ? [{ username: element.value }] : [];
      else if (element.type === "checkbox") return;
      else if (element.value !== "" || element.required) body[element.name] = element.value;
    });
    return body;
  }

  function managersOf(form) {
    const managers = $$("[data-manager-row]", form)
      .filter((row) => !$("input[name=remove]", row).checked)
      .map((row) => ({
        username: row.dataset.username,
        available: $("input[name=available]", row).checked,
        max_open_tickets: number($("input[name=max_open_tickets]", row).value),
      }));
    if (form.elements.add.value) managers.push({ username: form.elements.add.value });
    return managers;
  }

  function surveyBody(form) {
    const mapping = {};
    const required = [];
    $$("[data-mapped-field]", form).forEach((row) => {
      const field = row.dataset.mappedField;
      const key = $(`input[name="map:${field}"]`, row).value.trim();
      if (key) mapping[field] = key;
      if ($(`input[name="required:${field}"]`, row).checked) required.push(field);
    });
    mapping.required = required;
    return {
      name: form.elements.name.value.trim(),
      adapter: form.elements.adapter.value,
      default_segment: form.elements.default_segment.value || null,
      field_mapping: mapping,
    };
  }

  function criterionOf(row) {
    const value = (name) => $(`[name=${name}]`, row).value.trim();
    const on = value("on");
    if (on === "score") return { on, min: number(value("min")), max: number(value("max")) };
    const criterion = { on, op: value("op") };
    if (on === "answer") criterion.key = value("key");
    if (criterion.op === "range") {
      criterion.min = number(value("min"));
      criterion.max = number(value("max"));
    } else if (criterion.op === "in" || criterion.op === "any") {
      criterion.values = list(value("value"));
    } else if (criterion.op !== "is_empty") {
      criterion.value = value("value");
    }
    return criterion;
  }

  function actionOf(row) {
    const value = (name) => $(`[name=${name}]`, row).value.trim();
    const type = value("type");
    if (type === "create_ticket") {
      return { type, priority: value("priority"), segment: value("segment") || null, owner: value("owner") || null };
    }
    if (type === "notify") return { type, recipients: list(value("recipients")), message: value("message") || null };
    return { type };
  }

  function alertRuleBody(form) {
    const rows = (which) => $$(`[data-rows=${which}] > [data-row]`, form);
    return {
      name: form.elements.name.value.trim(),
      criteria: rows("criteria").map(criterionOf),
      when_met: rows("when_met").map(actionOf),
      when_not_met: rows("when_not_met").map(actionOf),
    };
  }

  function escalationBody(form) {
    const body = fields(form, ["after_amount", "after_unit"]);
    const amount = form.elements.after_amount.value;
    body.after_seconds = amount === "" ? null : Math.round(Number(amount) * Number(form.elements.after_unit.value));
    return body;
  }

  /* The texts of the form's languages that are filled in ({"en": ...}; an
   * empty one is left out), and the new item's workspace. */
  function perLanguage(form, body) {
    const texts = {};
    $$("[data-language]", form).forEach((control) => {
      if (control.value.trim()) texts[control.dataset.language] = control.value;
    });
    if (form.dataset.workspace) body.workspace_id = form.dataset.workspace;
    return texts;
  }

  /* A reply template: its name and its bodies (at least one, which the API says). */
  function replyTemplateBody(form) {
    const body = { name: form.elements.name.value.trim() };
    body.bodies = perLanguage(form, body);
    return body;
  }

  /* A resolution reason: its labels, and a new one's code. */
  function resolutionReasonBody(form) {
    const body = {};
    body.labels = perLanguage(form, body);
    if (form.elements.code) body.code = form.elements.code.value.trim();
    return body;
  }

  /* PUT a segment's managers with `username` added or taken off. */
  async function setManager(segmentId, username, manages) {
    const managers = (segmentManagers[segmentId] || []).filter((m) => m.username !== username);
    if (manages) managers.push({ username });
    await api("PUT", `/api/segments/${encodeURIComponent(segmentId)}/managers`, managers);
  }

  async function saveUserSegments(form) {
    const username = form.dataset.username;
    for (const box of $$("input[name=segment]", form)) {
      if (box.checked !== box.defaultChecked) await setManager(box.value, username, box.checked);
    }
  }

  async function createUser(form) {
    const body = fields(form, ["segment"]);
    const user = await api("POST", "/api/users", body);
    for (const box of $$("input[name=segment]:checked", form)) await setManager(box.value, user.username, true);
  }

  async function createToken(form) {
    const made = await api("POST", "/api/tokens", { name: form.elements.name.value.trim(), user_id: form.elements.user_id.value });
    const box = $(".token-once", form);
    $("[data-new-token]", box).value = made.token;
    box.hidden = false;
    $("[data-new-token]", box).select();
  }

  // What each form sends, and where; true: the page is reloaded to show it.
  const SENDERS = {
    "fields": async (form) => { await api(form.dataset.method, form.dataset.url, fields(form), form); return true; },
    "managers": async (form) => { await api("PUT", form.dataset.url, managersOf(form), form); return true; },
    "survey": async (form) => { await api("PATCH", form.dataset.url, surveyBody(form), form); return true; },
    "alert-rule": async (form) => {
      await api(form.dataset.method, form.dataset.url, alertRuleBody(form), form);
      return true;
    },
    "escalation": async (form) => { await api(form.dataset.method, form.dataset.url, escalationBody(form), form); return true; },
    "user-segments": async (form) => { await saveUserSegments(form); return true; },
    "user-create": async (form) => { await createUser(form); return true; },
    "token": async (form) => { await createToken(form); return false; },
    "reply-template": async (form) => {
      await api(form.dataset.method, form.dataset.url, replyTemplateBody(form), form);
      return true;
    },
    "resolution-reason": async (form) => {
      await api(form.dataset.method, form.dataset.url, resolutionReasonBody(form), form);
      return true;
    },
  };

  function initForms() {
    $$("form[data-settings-form]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const missing = $$("[required]", form).find((element) => !element.value.trim());
        // What the browser can tell at once (a number out of range, an email
        // that is not one), in the browser's words.
        const invalid = missing ? null : $$("input", form).find((element) => !element.checkValidity());
        if (missing || invalid) {
          const line = errorLine(form);
          line.textContent = missing
            ? t("required", { field: labelOf(missing) })
            : labelOf(invalid) + ": " + invalid.validationMessage;
          line.hidden = false;
          (missing || invalid).focus();
          return;
        }
        clearError(form);
        busy(form, true);
        try {
          const reload = await SENDERS[form.dataset.body](form);
          if (form.dataset.done) {
            toast(t(form.dataset.done, { name: form.dataset.name || "" }));
            form.reset();
          } else if (reload) {
            reloadSaved();
          }
        } catch (refusal) {
          showRefusal(form, refusal);
        } finally {
          busy(form, false);
        }
      });
    });
    document.addEventListener("input", (event) => {
      if (event.target.form) clearError(event.target.form);
    });
  }

  // --- one control, one change -------------------------------------------------------------

  function initInstantChanges() {
    $$("[data-patch]").forEach((control) => {
      const before = () => (control.type === "checkbox" ? !control.checked : control.dataset.was);
      control.dataset.was = control.value;
      control.addEventListener("change", async () => {
        const value = control.type === "checkbox" ? control.checked : control.value;
        clearError(control);
        try {
          await api("PATCH", control.dataset.patch, { [control.dataset.field]: value });
          control.dataset.was = control.value;
          toast(t("saved"));
        } catch (refusal) {
          if (control.type === "checkbox") control.checked = before();
          else control.value = control.dataset.was;
          showRefusal(control, refusal);
        }
      });
    });
    $$("[data-patch-button]").forEach((button) => {
      button.addEventListener("click", async () => {
        if (button.dataset.confirm && !window.confirm(t(button.dataset.confirm, { name: button.dataset.name || "" }))) return;
        try {
          await api("PATCH", button.dataset.patchButton, JSON.parse(button.dataset.value));
          reloadSaved();
        } catch (refusal) {
          showRefusal(button, refusal);
        }
      });
    });
    $$("[data-delete-button]").forEach((button) => {
      button.addEventListener("click", async () => {
        if (!window.confirm(t(button.dataset.confirm || "confirm_delete"))) return;
        try {
          await api("DELETE", button.dataset.deleteButton);
          reloadSaved();
        } catch (refusal) {
          showRefusal(button, refusal);
        }
      });
    });
  }

  // --- alert rules: their rows, their order ---------------------------------------------------

  /* Show the fields a criterion's or an action's kind takes. */
  function refreshRow(row) {
    if (row.dataset.row === "criterion") {
      const on = $("[name=on]", row).value;
      const op = $("[name=op]", row);
      Array.from(op.options).forEach((option) => {
        option.hidden = option.disabled = !option.dataset.for.split(" ").includes(on);
      });
      if (op.selectedOptions[0] && op.selectedOptions[0].disabled) {
        op.value = Array.from(op.options).find((option) => !option.disabled)?.value || "";
      }
      $$("[data-for]", row).filter((el) => el.classList.contains("field")).forEach((field) => {
        const forKind = field.dataset.for.split(" ").includes(on);
        const forOp = !field.dataset.op || on === "score" || field.dataset.op.split(" ").includes(op.value);
        field.hidden = !(forKind && forOp);
      });
    } else {
      const type = $("[name=type]", row).value;
      $$(".field[data-for]", row).forEach((field) => { field.hidden = field.dataset.for !== type; });
    }
  }

  function initRuleRows() {
    $$("[data-row]").forEach(refreshRow);
    document.addEventListener("change", (event) => {
      const row = event.target.closest("[data-row]");
      if (row && ["on", "op", "type"].includes(event.target.name)) refreshRow(row);
    });
    document.addEventListener("click", (event) => {
      const adder = event.target.closest("[data-add-row]");
      if (adder) {
        const template = document.getElementById(adder.dataset.addRow + "-row-template");
        const rows = adder.previousElementSibling;
        const row = template.content.firstElementChild.cloneNode(true);
        // Fresh ids, so that each label names its own control.
        $$("[id]", row).forEach((element) => {
          const label = $(`label[for="${element.id}"]`, row);
          element.id = element.id + "-" + Math.random().toString(36).slice(2, 8);
          if (label) label.htmlFor = element.id;
        });
        rows.append(row);
        refreshRow(row);
        const first = $("select, input", row);
        if (first) first.focus();
        return;
      }
      const remover = event.target.closest("[data-remove-row]");
      if (remover) remover.closest("[data-row]").remove();
    });
  }

  function initRuleOrder() {
    $$("[data-move]").forEach((button) => {
      button.addEventListener("click", async () => {
        const item = button.closest("[data-rule-url]");
        const rules = $$(":scope > [data-rule-url]", item.parentElement);
        const from = rules.indexOf(item);
        const to = button.dataset.move === "up" ? from - 1 : from + 1;
        rules.splice(to, 0, rules.splice(from, 1)[0]);
        try {
          // Each rule at its place in the new order.
          for (const [position, rule] of rules.entries()) {
            if (Number(rule.dataset.position) !== position) {
              await api("PATCH", rule.dataset.ruleUrl, { position });
            }
          }
          reloadSaved();
        } catch (refusal) {
          showRefusal(button, refusal);
        }
      });
    });
  }

  // --- surveys: the webhook's secret and a test response --------------------------------------

  async function copy(input) {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (error) {
      // Without the clipboard API (a page served over plain HTTP): the old way.
      input.select();
      document.execCommand("copy");
    }
    toast(t("copied"));
  }

  function initWebhooks() {
    $$("[data-copy]").forEach((button) => {
      button.addEventListener("click", () => copy($("input", button.closest(".copy-field"))));
    });
    $$("[data-rotate]").forEach((button) => {
      button.addEventListener("click", async () => {
        if (!window.confirm(t("confirm_rotate"))) return;
        try {
          const survey = await api("POST", button.dataset.rotate);
          $("[data-secret]", button.closest(".copy-field")).value = survey.webhook_secret;
          toast(t("new_secret"));
        } catch (refusal) {
          showRefusal(button, refusal);
        }
      });
    });
    $$("form[data-test-url]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const result = $(".test-result", form);
        result.hidden = false;
        result.className = "test-result";
        result.textContent = t("sending");
        busy(form, true);
        try {
          const score = form.elements.score.value;
          const answer = await api("POST", form.dataset.testUrl, score === "" ? {} : { score: Number(score) });
          showTestResult(result, answer);
        } catch (refusal) {
          result.classList.add("refused");
          result.textContent = t("refused", { reason: refusal.reason });
        } finally {
          busy(form, false);
        }
      });
    });
  }

  function showTestResult(element, answer) {
    const status = answer.status_code;
    element.replaceChildren();
    if (!answer.accepted) {
      element.classList.add("refused");
      element.textContent = t("test_refused", { status, reason: answer.detail || "" });
    } else if (answer.ticket_id) {
      element.classList.add("accepted");
      element.append(t("test_ticket", { status, reference: answer.reference }) + " ");
      const link = document.createElement("a");
      link.href = "/dashboard/tickets/" + encodeURIComponent(answer.ticket_id);
      link.textContent = t("open_ticket");
      element.append(link);
    } else if (answer.reasons && answer.reasons.length) {
      element.classList.add("accepted");
      element.textContent = t("test_no_ticket", { status, reasons: answer.reasons.join("; ") });
    } else {
      element.textContent = t("test_pending", { status });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    initForms();
    initInstantChanges();
    initRuleRows();
    initRuleOrder();
    initWebhooks();
  });
})();
