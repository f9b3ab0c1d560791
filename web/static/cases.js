// Behaviour cases (issue 34), on two pages:
// - the project page (web/templates/web/_cases.html): the project's cases, each with its
//   latest result on the current code (HEAD); add, edit, delete, and "Run on the current
//   code", whose result arrives as a `case_result` event (side "head");
// - the review page (web/templates/web/_behaviour_table.html): each case before (base) and
//   after (patched), regressions first, the two answers side by side and each side's
//   transcript a click away; "Run behaviour cases", followed live from `case_result`
//   events; the checks box beside Approve leads with the behaviour regressions.
// `window.vibegrapherCases.saveTrialAsCase(trialId)` makes a case from a trial ("Save this
// as a case" in the Try it panel). Through /api/projects/{id}/cases, /api/cases/{id},
// /api/diffs/{id}/cases and /api/trials/{id}. Plain browser JavaScript, no build step;
// loaded with `defer`, so after vibegrapher.js (its `config`, and the
// `vibegrapher:event` each socket event is also dispatched as).
(function () {
  "use strict";
  if (!window.Vibegrapher) return;
  const { config } = window.Vibegrapher;
  const $ = (id) => document.getElementById(id);
  const csrfField = document.querySelector("[name=csrfmiddlewaretoken]");
  const csrf = csrfField ? csrfField.value : "";

  // --- Helpers -------------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // The answer and its JSON (field errors on a 400), never thrown: the caller shows them.
  async function send(method, url, body) {
    try {
      const response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
      return { ok: response.ok, status: response.status, data };
    } catch (error) {
      return { ok: false, status: 0, data: { detail: `The server could not be reached (${error.message}): try again.` } };
    }
  }

  // A 400's messages as one line ("name: …; expectations: …").
  function errorText(data, fallback) {
    if (!data || typeof data !== "object") return fallback;
    if (data.detail) return String(data.detail);
    const parts = Object.entries(data).map(([field, messages]) => `${field}: ${[].concat(messages).join(" ")}`);
    return parts.join("; ") || fallback;
  }

  function pretty(value) {
    if (value === undefined || value === null) return "";
    if (typeof value === "string") {
      try { return JSON.stringify(JSON.parse(value), null, 2); } catch (_) { return value; }
    }
    return JSON.stringify(value, null, 2);
  }

  const short = (sha) => (sha || "").slice(0, 8);
  const usd = (cost) => (cost ? `$${Number(cost).toFixed(4)}` : "");

  function statusBadge(status, suffix) {
    return el("span", `badge status-${status}`, suffix ? `${status} ${suffix}` : status);
  }

  // --- A trial's spans as a simple transcript (GET /api/trials/{id}) -----------------------
  function spanLine(span) {
    const data = span.data || {};
    const item = el("li", `bc-span bc-span-${span.type}`);
    const head = el("div", "bc-span-head");
    item.append(head);
    if (span.type === "agent") {
      head.append(el("span", "bc-span-kind", "Agent"), " ", el("strong", "", span.name));
    } else if (span.type === "response" || span.type === "generation") {
      const said = [];
      for (const out of data.output || []) {
        if (!out || typeof out !== "object") continue;
        if (out.type === "message" && out.text) said.push(out.text);
        else if (out.role === "assistant" && typeof out.content === "string" && out.content) said.push(out.content);
        else if (out.type === "function_call") said.push(`→ calls ${out.name}(${out.arguments || ""})`);
      }
      if (!said.length && !data.error) return null;
      head.append(el("span", "bc-span-kind", "Model"), " ", el("span", "muted", span.name));
      if (said.length) item.append(el("pre", "bc-pre", said.join("\n")));
    } else if (span.type === "function") {
      head.append(el("span", "bc-span-kind", "Tool"), " ", el("strong", "", span.name));
      if (data.input !== undefined && data.input !== null && data.input !== "") item.append(el("pre", "bc-pre", `arguments: ${pretty(data.input)}`));
      if (data.output !== undefined && data.output !== null) item.append(el("pre", "bc-pre", `result: ${pretty(data.output)}`));
    } else if (span.type === "handoff") {
      head.append(el("span", "bc-span-kind", "Handoff"), " ", el("strong", "", span.name));
    } else if (span.type === "guardrail") {
      head.append(el("span", "bc-span-kind", "Guardrail"), " ", el("strong", "", span.name), " ",
        statusBadge(data.triggered ? "failed" : "passed", data.triggered ? "(tripped)" : ""));
    } else if (data.error) {
      head.append(el("span", "bc-span-kind", span.type), " ", el("strong", "", span.name));
    } else {
      return null;
    }
    if (data.error) {
      const error = typeof data.error === "string" ? data.error : `${data.error.message || "error"} ${data.error.data ? pretty(data.error.data) : ""}`;
      item.append(el("pre", "bc-pre error", error));
      if (data.hint) item.append(el("p", "muted", data.hint));
    }
    return item;
  }

  // Toggles the transcript of `trialId` into `box` (fetched on the first open).
  async function toggleTranscript(button, box, trialId) {
    const open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", String(!open));
    box.hidden = open;
    if (open || box.dataset.loaded === trialId) return;
    box.replaceChildren(el("p", "muted", "Loading the transcript…"));
    const { ok, data } = await send("GET", `/api/trials/${trialId}`);
    if (!ok) {
      box.replaceChildren(el("p", "error", errorText(data, "The transcript could not be read: try again.")));
      return;
    }
    box.dataset.loaded = trialId;
    const meta = [`trial ${data.status}`, data.last_agent ? `last agent ${data.last_agent}` : "",
      data.usage ? `${data.usage.requests} model request${data.usage.requests === 1 ? "" : "s"}` : "",
      usd(data.cost_usd), data.duration_ms ? `${(data.duration_ms / 1000).toFixed(1)} s` : ""].filter(Boolean);
    const list = el("ol", "bc-transcript-list");
    list.append(...(data.spans || []).map(spanLine).filter(Boolean));
    const parts = [el("p", "muted", meta.join(" · ")), el("p", "bc-said-input", `Input: ${data.input}`)];
    if (list.children.length) parts.push(list);
    else parts.push(el("p", "muted", "No agent, tool or handoff was recorded."));
    if (data.error) parts.push(el("pre", "bc-pre error", data.error));
    box.replaceChildren(...parts);
  }

  function transcriptButton(trialId, label) {
    const wrap = el("div", "bc-transcript-wrap");
    const button = el("button", "secondary bc-transcript-button", label || "Transcript");
    button.type = "button";
    button.setAttribute("aria-expanded", "false");
    const box = el("div", "bc-transcript");
    box.hidden = true;
    button.addEventListener("click", () => toggleTranscript(button, box, trialId));
    wrap.append(button, box);
    return wrap;
  }

  // A result's why: its error, the judge's reason, the checks that failed.
  function resultWhy(result, { allChecks = false } = {}) {
    const parts = [];
    if (!result) return parts;
    if (result.error) parts.push(el("p", "bc-error error", result.error));
    if (result.judge_passed !== null && result.judge_passed !== undefined && result.judge_reason) {
      const judge = el("p", `bc-judge ${result.judge_passed ? "bc-judge-pass" : "bc-judge-fail"}`);
      judge.append(el("strong", "", result.judge_passed ? "Judge: pass. " : "Judge: fail. "), result.judge_reason);
      parts.push(judge);
    }
    const checks = (result.checks || []).filter((c) => c.kind !== "rubric" && (allChecks || !c.passed));
    if (checks.length) {
      const list = el("ul", "bc-checks");
      for (const check of checks) {
        const item = el("li", check.passed ? "bc-check-passed" : "bc-check-failed");
        item.append(el("span", "bc-mark", check.passed ? "✓" : "✗"), ` ${check.expected}`);
        if (check.detail) item.append(el("span", "muted", ` — ${check.detail}`));
        list.append(item);
      }
      parts.push(list);
    }
    return parts;
  }

  // --- Project page: the cases panel ---------------------------------------------------------
  const KINDS = [
    { kind: "output_contains", label: "answer contains", fields: [["text", "text"]] },
    { kind: "output_not_contains", label: "answer does not contain", fields: [["text", "text"]] },
    { kind: "output_matches", label: "answer matches pattern", fields: [["pattern", "pattern (Python re)"]] },
    { kind: "output_json_schema", label: "answer is JSON of schema", fields: [["schema", "JSON Schema"]] },
    { kind: "last_agent", label: "last agent is", fields: [["agent", "agent name"]] },
    { kind: "tool_called", label: "tool was called", fields: [["tool", "tool name"], ["arguments", "arguments pattern (optional)"]] },
    { kind: "tool_not_called", label: "tool was not called", fields: [["tool", "tool name"]] },
    { kind: "handoff_path", label: "agents ran in order", fields: [["agents", "agent names, in order, comma-separated"]] },
  ];
  const OPTIONAL = new Set(["arguments"]);
  const kindOf = (kind) => KINDS.find((k) => k.kind === kind) || KINDS[0];

  function projectPanel() {
    const list = $("bc-list");
    const form = $("bc-form");
    const rows = $("bc-expectations");
    let editing = null; // the id of the case the form edits; null: adding one
    let sentRows = []; // the expectation rows last sent, in order (the server numbers them)
    const cases = new Map(); // id -> the case as the API gave it
    const running = new Set(); // case ids run on HEAD, their result not in yet

    // An expectation row: its kind, then that kind's fields.
    function fieldInput(name, placeholder, value) {
      const input = name === "schema" ? el("textarea") : el("input");
      if (name === "schema") input.rows = 3;
      input.className = `bc-field bc-field-${name}`;
      input.dataset.field = name;
      input.placeholder = placeholder;
      input.setAttribute("aria-label", placeholder);
      if (value !== undefined && value !== null) {
        if (name === "schema") input.value = typeof value === "string" ? value : JSON.stringify(value, null, 2);
        else if (name === "agents") input.value = [].concat(value).join(", ");
        else input.value = value;
      }
      return input;
    }
    function fillRow(row, item) {
      const spec = kindOf(item.kind);
      row.querySelectorAll(".bc-field").forEach((input) => input.remove());
      const remove = row.querySelector(".bc-remove");
      for (const [name, placeholder] of spec.fields) remove.before(fieldInput(name, placeholder, item[name]));
    }
    function addRow(item) {
      const row = el("li", "bc-expectation");
      const select = el("select", "bc-kind");
      select.setAttribute("aria-label", "What is expected");
      for (const spec of KINDS) {
        const option = el("option", "", spec.label);
        option.value = spec.kind;
        select.append(option);
      }
      select.value = kindOf(item.kind).kind;
      const remove = el("button", "bc-remove secondary", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", "Remove this expectation");
      row.append(select, remove);
      fillRow(row, { ...item, kind: select.value });
      rows.append(row);
      return row;
    }
    rows.addEventListener("change", (event) => {
      if (!event.target.classList.contains("bc-kind")) return;
      const row = event.target.closest(".bc-expectation");
      // What was typed stays where the new kind has the same field (text, tool).
      const kept = { kind: event.target.value };
      row.querySelectorAll(".bc-field").forEach((input) => { kept[input.dataset.field] = input.value; });
      fillRow(row, kept);
      row.classList.remove("bc-invalid");
    });
    rows.addEventListener("click", (event) => {
      if (event.target.classList.contains("bc-remove")) event.target.closest(".bc-expectation").remove();
    });
    $("bc-add-expectation").addEventListener("click", () => {
      addRow({ kind: "output_contains" }).querySelector(".bc-field").focus();
    });

    // The rows as the API takes them; a row the browser can tell is wrong is marked and
    // named (the server checks the rest and names the row the same way).
    function readExpectations() {
      const items = [];
      const problems = [];
      sentRows = [];
      [...rows.children].forEach((row, index) => {
        row.classList.remove("bc-invalid");
        // A row left empty (the one a new form starts with) is not an expectation.
        if ([...row.querySelectorAll(".bc-field")].every((input) => !input.value.trim())) return;
        const item = { kind: row.querySelector(".bc-kind").value };
        for (const input of row.querySelectorAll(".bc-field")) {
          const name = input.dataset.field;
          const value = input.value.trim();
          if (!value && OPTIONAL.has(name)) continue;
          if (name === "schema") {
            try { item.schema = JSON.parse(value); } catch (error) {
              problems.push(`expectation ${index + 1}: the schema is not JSON (${error.message}).`);
              row.classList.add("bc-invalid");
            }
          } else if (name === "agents") {
            item.agents = value.split(/\s*(?:,|→|->)\s*/).filter(Boolean);
          } else {
            // Text is sent as typed (an answer may need its spaces); names are trimmed.
            item[name] = name === "text" || name === "pattern" || name === "arguments" ? input.value : value;
          }
        }
        items.push(item);
        sentRows.push(row);
      });
      return { items, problems };
    }

    function showFieldErrors(errors) {
      form.querySelectorAll("span.field-error").forEach((span) => {
        const found = errors[span.dataset.field];
        span.textContent = found ? [].concat(found).join(" ") : "";
      });
      // Anything not beside a field of this form goes under the buttons.
      const known = new Set([...form.querySelectorAll("span.field-error")].map((s) => s.dataset.field));
      const other = Object.entries(errors).filter(([field]) => !known.has(field))
        .map(([field, messages]) => (field === "non_field_errors" ? "" : `${field}: `) + [].concat(messages).join(" "));
      if (other.length) $("bc-error-detail").textContent = [$("bc-error-detail").textContent, ...other].filter(Boolean).join(" ");
      // "expectation 2 (…) needs `tool`" (the second one sent): that row is marked.
      const said = [].concat(errors.expectations || []).join(" ");
      for (const match of said.matchAll(/expectation (\d+)/g)) {
        const row = sentRows[Number(match[1]) - 1];
        if (row) row.classList.add("bc-invalid");
      }
    }

    function resetForm() {
      editing = null;
      form.reset();
      rows.replaceChildren();
      addRow({ kind: "output_contains" });
      showFieldErrors({});
      rows.querySelectorAll(".bc-invalid").forEach((row) => row.classList.remove("bc-invalid"));
      $("bc-form-title").textContent = "Add a behaviour case";
      $("bc-save").textContent = "Add case";
      $("bc-cancel").hidden = true;
    }

    function edit(caseId) {
      const found = cases.get(caseId);
      if (!found) return;
      editing = caseId;
      $("bc-name").value = found.name;
      $("bc-input").value = found.input;
      $("bc-entry").value = found.entry || "";
      $("bc-rubric").value = found.rubric || "";
      $("bc-in-loop").checked = found.in_loop;
      rows.replaceChildren();
      for (const item of found.expectations || []) addRow(item);
      showFieldErrors({});
      $("bc-form-title").textContent = `Edit ${found.name}`;
      $("bc-save").textContent = "Save case";
      $("bc-cancel").hidden = false;
      $("bc-editor").open = true;
      $("bc-editor").scrollIntoView({ block: "nearest" });
      $("bc-name").focus();
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { items, problems } = readExpectations();
      showFieldErrors(problems.length ? { expectations: problems } : {});
      if (problems.length) return;
      const body = {
        name: $("bc-name").value,
        input: $("bc-input").value,
        entry: $("bc-entry").value.trim(),
        expectations: items,
        rubric: $("bc-rubric").value,
        in_loop: $("bc-in-loop").checked,
      };
      $("bc-save").disabled = true;
      const { ok, status, data } = editing
        ? await send("PATCH", `/api/cases/${editing}`, body)
        : await send("POST", `/api/projects/${config.projectId}/cases`, body);
      $("bc-save").disabled = false;
      // 409: the project already has a case of that name (said beside the name).
      if (!ok) { showFieldErrors(status === 409 && data.detail ? { name: data.detail } : data); return; }
      cases.set(data.id, data);
      render();
      const saved = editing ? "Saved" : "Added";
      resetForm();
      $("bc-editor").open = false;
      setState(`${saved} ${data.name}.`);
    });
    $("bc-cancel").addEventListener("click", () => { resetForm(); $("bc-editor").open = false; });

    function setState(text) { $("bc-state").textContent = text; }

    function caseItem(found) {
      const item = el("li", "bc-case");
      item.dataset.id = found.id;
      item.dataset.name = found.name;
      const head = el("div", "row bc-case-head");
      head.append(el("strong", "bc-name", found.name));
      if (found.in_loop) head.append(el("span", "badge bc-in-loop", "in the loop"));
      const result = found.latest_result;
      let badge;
      if (running.has(found.id)) badge = el("span", "badge status-running bc-result", "running on the current code…");
      else if (result) badge = el("span", `badge status-${result.status} bc-result`, `${result.status} on ${short(result.commit) || "the current code"}`);
      else badge = el("span", "badge status-queued bc-result", "not run yet");
      const actions = el("span", "bc-actions");
      head.append(badge, actions);
      const run = el("button", "secondary bc-run", "Run on the current code");
      run.type = "button";
      run.disabled = running.has(found.id);
      const editButton = el("button", "secondary bc-edit", "Edit");
      editButton.type = "button";
      const remove = el("button", "danger bc-delete", "Delete");
      remove.type = "button";
      actions.append(run, editButton, remove);
      item.append(head, el("p", "muted bc-input", `Input: ${found.input}`));
      const expectations = (found.expectations || []).map((e) => describe(e));
      if (found.rubric) expectations.push(`rubric: ${found.rubric}`);
      item.append(el("p", "muted bc-expects", `Expects: ${expectations.join("; ")}`));
      if (result && !running.has(found.id)) {
        const why = el("div", "bc-why");
        why.append(...resultWhy(result));
        if (result.final_output !== null && result.final_output !== undefined) {
          const answer = el("details", "bc-answer");
          answer.append(el("summary", "", "answer"), el("pre", "bc-pre", result.final_output));
          why.append(answer);
        }
        if (result.trial_id) why.append(transcriptButton(result.trial_id));
        item.append(why);
      }
      item.append(el("p", "error bc-run-error"));
      return item;
    }

    function describe(item) {
      const spec = kindOf(item.kind);
      const values = spec.fields.filter(([name]) => item[name] !== undefined)
        .map(([name]) => (name === "agents" ? [].concat(item.agents).join(" → ") : name === "schema" ? "{…}" : JSON.stringify(item[name])));
      return `${spec.label} ${values.join(" with arguments ")}`.trim();
    }

    function render() {
      const ordered = [...cases.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
      list.replaceChildren(...ordered.map(caseItem));
      $("bc-count").textContent = `(${ordered.length})`;
      if (!ordered.length) {
        list.replaceChildren(el("li", "muted bc-none", "No behaviour cases yet: add one below, or save a trial as a case from Try it."));
      }
    }

    async function load() {
      let page = `/api/projects/${config.projectId}/cases`;
      const found = [];
      while (page) {
        const { ok, data } = await send("GET", page);
        if (!ok) { setState(errorText(data, "The behaviour cases could not be read: reload the page.")); return; }
        found.push(...data.results);
        page = data.next;
      }
      cases.clear();
      for (const each of found) cases.set(each.id, each);
      render();
    }

    async function refreshCase(caseId) {
      const { ok, status, data } = await send("GET", `/api/cases/${caseId}`);
      if (ok) cases.set(caseId, data);
      else if (status === 404) cases.delete(caseId);
      render();
    }

    list.addEventListener("click", async (event) => {
      const item = event.target.closest(".bc-case");
      if (!item) return;
      const caseId = item.dataset.id;
      if (event.target.classList.contains("bc-edit")) {
        edit(caseId);
      } else if (event.target.classList.contains("bc-delete")) {
        if (!window.confirm(`Delete the behaviour case ${item.dataset.name}?`)) return;
        const { ok, data } = await send("DELETE", `/api/cases/${caseId}`);
        if (!ok) { item.querySelector(".bc-run-error").textContent = errorText(data, "Could not delete it: try again."); return; }
        cases.delete(caseId);
        if (editing === caseId) resetForm();
        render();
        setState(`Deleted ${item.dataset.name}.`);
      } else if (event.target.classList.contains("bc-run")) {
        running.add(caseId);
        render();
        const { ok, status, data } = await send("POST", `/api/cases/${caseId}/run`);
        // 409: it is running already; its result is on the way all the same.
        if (!ok && status !== 409) {
          running.delete(caseId);
          render();
          const again = list.querySelector(`.bc-case[data-id="${caseId}"] .bc-run-error`);
          if (again) again.textContent = errorText(data, "Could not run it: try again.");
        }
      }
    });

    document.addEventListener("vibegrapher:event", (event) => {
      const data = event.detail;
      if (!data || data.type !== "case_result" || data.side !== "head") return;
      running.delete(data.case_id);
      refreshCase(data.case_id);
    });

    if (location.hash === "#behaviour-cases") $("behaviour-cases").scrollIntoView({ block: "start" });
    resetForm();
    load();
    return { load, edit, cases };
  }

  // --- Review page: the behaviour table --------------------------------------------------------
  // Regressions lead, as the tests' results do (reviews/checks.py); then what needs a look.
  const OUTCOME_ORDER = ["regressed", "error", "unchanged-fail", "fixed", "unchanged-pass", null];
  // How an outcome counts in the checks box, in the order it lists them.
  const CHECK_LABELS = { regressed: "regressed", fixed: "fixed", "unchanged-pass": "passed", "unchanged-fail": "failed", error: "error" };
  const CHECK_ORDER = ["regressed", "fixed", "passed", "failed", "error", "not run"];
  const CLOSED = new Set(["committed", "human_rejected"]);

  function reviewTable() {
    const table = $("behaviour-table");
    let status = config.status;
    let rowsShown = [];
    const pending = new Set(); // case ids whose patched result is not in yet
    const opened = new Set(); // case ids whose details are open (kept across re-renders)
    let asked = 0; // the newest table read asked for; an older answer is dropped
    let finishedEarly = null; // while "Run" waits for its answer: the cases whose result came

    function sideCell(result, side, caseId) {
      const cell = el("td", `bc-side bc-${side}`);
      if (result) cell.append(statusBadge(result.status));
      else if (pending.has(caseId)) cell.append(el("span", "badge status-running", "running…"));
      else cell.append(el("span", "muted", "not run"));
      return cell;
    }

    function sideDetails(result, title) {
      const box = el("div", "bc-side-detail");
      box.append(el("h4", "", title));
      if (!result) { box.append(el("p", "muted", "Not run.")); return box; }
      box.append(statusBadge(result.status));
      if (result.cost_usd) box.append(" ", el("span", "muted", usd(result.cost_usd)));
      box.append(el("pre", "bc-pre bc-output", result.final_output === null || result.final_output === undefined ? "(no answer)" : result.final_output));
      box.append(...resultWhy(result, { allChecks: true }));
      if (result.trial_id) box.append(transcriptButton(result.trial_id));
      return box;
    }

    function rowBody(row) {
      const body = el("tbody", `bc-row outcome-${row.outcome || "none"}`);
      body.dataset.caseId = row.case_id;
      body.dataset.name = row.name;
      body.dataset.outcome = row.outcome || "";
      const main = el("tr", "bc-main");
      const name = el("td", "bc-name");
      name.append(el("strong", "", row.name));
      if (row.in_loop) name.append(" ", el("span", "badge bc-in-loop", "in the loop"));
      const outcome = el("td", "bc-outcome");
      if (row.outcome) outcome.append(el("span", `badge outcome outcome-${row.outcome}`, row.outcome));
      else if (pending.has(row.case_id)) outcome.append(el("span", "badge status-running", "running…"));
      const why = el("td", "bc-why");
      // The after side says why; a fix's reason is its before side's failure.
      const telling = row.patched && row.patched.status !== "passed" ? row.patched : row.base && row.base.status !== "passed" ? row.base : row.patched;
      why.append(...resultWhy(telling));
      const toggle = el("td", "bc-toggle");
      const button = el("button", "secondary bc-compare", "Compare");
      button.type = "button";
      button.setAttribute("aria-expanded", String(opened.has(row.case_id)));
      button.disabled = !row.base && !row.patched;
      toggle.append(button);
      main.append(name, sideCell(row.base, "base", row.case_id), sideCell(row.patched, "patched", row.case_id), outcome, why, toggle);
      const detail = el("tr", "bc-detail");
      detail.hidden = !opened.has(row.case_id);
      const cell = el("td");
      cell.colSpan = 6;
      const sides = el("div", "bc-sides");
      sides.append(
        sideDetails(row.base, row.base && row.base.commit ? `Before (base ${short(row.base.commit)})` : "Before (base)"),
        sideDetails(row.patched, "After (patched)"),
      );
      cell.append(sides);
      detail.append(cell);
      body.append(main, detail);
      return body;
    }

    function ordered(rows) {
      const rank = (row) => OUTCOME_ORDER.indexOf(OUTCOME_ORDER.includes(row.outcome) ? row.outcome : null);
      return [...rows].sort((a, b) => rank(a) - rank(b));
    }

    function render(rows) {
      rowsShown = rows;
      table.querySelectorAll("tbody").forEach((body) => body.remove());
      table.append(...ordered(rows).map(rowBody));
      table.hidden = rows.length === 0;
      $("behaviour-empty").hidden = rows.length !== 0;
      setRunnable();
      updateChecks(rows);
    }

    // The checks box beside Approve: behaviour first, regressions named.
    function updateChecks(rows) {
      const checks = $("checks");
      if (!checks) return;
      let line = $("checks-behaviour");
      if (!rows.length) {
        if (line) line.remove();
        checks.classList.remove("behaviour-bad");
        return;
      }
      if (!line) {
        line = el("a", "checks-behaviour");
        line.id = "checks-behaviour";
        line.href = "#behaviour";
        checks.prepend(line, el("span", "checks-behaviour-sep", " · "));
      }
      const counts = new Map();
      for (const row of rows) {
        const label = pending.has(row.case_id) && !row.outcome ? "running" : CHECK_LABELS[row.outcome] || "not run";
        counts.set(label, (counts.get(label) || 0) + 1);
      }
      const rank = (label) => (CHECK_ORDER.includes(label) ? CHECK_ORDER.indexOf(label) : CHECK_ORDER.length);
      const regressed = rows.filter((row) => row.outcome === "regressed").map((row) => row.name);
      const parts = [...counts].sort((a, b) => rank(a[0]) - rank(b[0]))
        .map(([label, n]) => (label === "regressed" ? `${n} regressed (${regressed.join(", ")})` : `${n} ${label}`));
      line.textContent = `${rows.length} behaviour case${rows.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
      checks.classList.toggle("behaviour-bad", regressed.length > 0);
    }

    function setRunnable() {
      $("run-behaviour").disabled = CLOSED.has(status) || pending.size > 0 || rowsShown.length === 0;
      if (pending.size) $("behaviour-state").textContent = "running…";
    }

    async function load() {
      const mine = ++asked;
      const { ok, data } = await send("GET", `/api/diffs/${config.diffId}/cases`);
      if (mine !== asked) return;
      if (!ok) { $("behaviour-error").textContent = errorText(data, "The behaviour table could not be read: reload the page."); return; }
      // A case running again shows as running until its new result comes, not its last one.
      render(data.map((row) => (pending.has(row.case_id) ? { ...row, outcome: null, patched: null } : row)));
    }
    let queued = null;
    function loadSoon() {
      clearTimeout(queued);
      queued = setTimeout(load, 150);
    }

    table.addEventListener("click", (event) => {
      const button = event.target.closest(".bc-compare");
      if (!button) return;
      const body = button.closest(".bc-row");
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      body.querySelector(".bc-detail").hidden = !open;
      if (open) opened.add(body.dataset.caseId); else opened.delete(body.dataset.caseId);
    });

    $("run-behaviour").addEventListener("click", async () => {
      $("behaviour-error").textContent = "";
      $("run-behaviour").disabled = true;
      // A quick run's results can come before this answer does: those are not waited for.
      finishedEarly = new Set();
      const { ok, data } = await send("POST", `/api/diffs/${config.diffId}/cases/run`);
      const early = finishedEarly;
      finishedEarly = null;
      if (!ok) {
        $("behaviour-error").textContent = errorText(data, "The behaviour cases could not be started: try again.");
        setRunnable();
        return;
      }
      for (const each of data.cases) if (!early.has(each.id)) pending.add(each.id);
      $("behaviour-state").textContent = pending.size ? "running…" : "run just now";
      // Until their new results come, the rows say they are running.
      render(rowsShown.map((row) => (pending.has(row.case_id) ? { ...row, outcome: null, patched: null } : row)));
      loadSoon();
    });

    document.addEventListener("vibegrapher:event", (event) => {
      const data = event.detail;
      if (!data || data.diff_id !== config.diffId) return;
      if (data.type === "diff_status") {
        status = data.status;
        setRunnable();
      } else if (data.type === "case_result") {
        if (data.side === "patched" && finishedEarly) finishedEarly.add(data.case_id);
        if (data.side === "patched" && pending.delete(data.case_id) && pending.size === 0) {
          $("behaviour-state").textContent = "run just now";
        }
        loadSoon();
      }
    });

    // With a behaviour regression, Approve asks first (before review.js's own click
    // handler, which asks about the tests).
    document.addEventListener("click", (event) => {
      if (!event.target.closest || !event.target.closest("#approve")) return;
      const regressed = rowsShown.filter((row) => row.outcome === "regressed").map((row) => row.name);
      if (!regressed.length) return;
      const question = `Behaviour regressed: ${regressed.join(", ")}. Approve anyway?`;
      if (!window.confirm(question)) {
        event.preventDefault();
        event.stopPropagation();
      }
    }, true);

    load();
    return { load };
  }

  const panel = $("bc-list") ? projectPanel() : null;
  const review = $("behaviour-table") && config.diffId ? reviewTable() : null;

  // "Save this as a case" from a trial: asks for a name (again, with the reason, if the
  // server refuses it), makes the case from the trial (its input, entry, and what it did
  // as the first expectations), then shows it. Resolves to the new case, or null if the
  // person cancelled. `name`: skip the question.
  async function saveTrialAsCase(trialId, name) {
    let question = "Name the new behaviour case (its input and what this trial answered become the case, to edit):";
    let answer = name;
    for (;;) {
      if (answer === undefined || answer === null) answer = window.prompt(question, "");
      if (answer === null) return null;
      const { ok, status, data } = await send("POST", `/api/projects/${config.projectId}/cases`, { from_trial: trialId, name: answer });
      if (ok) {
        if (panel) {
          await panel.load();
          panel.edit(data.id);
        } else if (review) {
          await review.load();
        }
        return data;
      }
      const nameTaken = status === 409 ? data.detail : data && data.name;
      if (!nameTaken || name !== undefined) {
        window.alert(errorText(data, "The case could not be saved: try again."));
        return null;
      }
      question = `${[].concat(nameTaken).join(" ")} Another name:`;
      answer = undefined;
    }
  }

  window.vibegrapherCases = { saveTrialAsCase, reload: () => (panel ? panel.load() : review ? review.load() : null) };
})();
