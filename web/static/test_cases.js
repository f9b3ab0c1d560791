// The project's test cases (web/templates/web/_test_cases.html), on the project page and
// the review page: add, edit, mark quick, delete, errors beside their fields, and run
// them on the current code (HEAD). Through /api/projects/{id}/tests and /api/tests/{id}.
// Plain browser JavaScript, no build step; `config` comes from vibegrapher.js.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  if (!$("test-case-form")) return;
  const { config } = window.Vibegrapher;
  // A reload keeps no place to go back to (vibegrapher.js sets scroll restoration to
  // manual), and a browser does not go to the fragment on a reload: the list is shown here.
  if (location.hash === "#test-cases") {
    $("test-cases").open = true;
    $("test-cases").scrollIntoView({ block: "start" });
  }

  // --- Add, edit, mark quick, delete ------------------------------------------------------
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const form = $("test-case-form");
  let editing = null; // the id of the test case the form edits; null: adding one

  // Back at the list after the reload, open, not at the conversation's end.
  function reloadAtTests() {
    history.replaceState(null, "", "#test-cases");
    location.reload();
  }

  function showFieldErrors(errors) {
    form.querySelectorAll(".field-error").forEach((span) => {
      const found = errors[span.dataset.field];
      span.textContent = found ? [].concat(found).join(" ") : "";
    });
  }
  // The code field is a CodeMirror editor (static/vendor/codemirror) writing through to
  // the textarea, which stays the form's value (and the field, without the script).
  const codeArea = $("tc-code");
  let codeEditor = null;
  if (window.VibegrapherEditor) {
    const holder = document.createElement("div");
    holder.className = "code-editor";
    holder.id = "tc-code-editor";
    codeArea.after(holder);
    codeArea.hidden = true;
    codeEditor = window.VibegrapherEditor.pythonEditor(holder, codeArea.value, (text) => { codeArea.value = text; }, "Test code");
  }
  function setCode(text) {
    codeArea.value = text;
    if (codeEditor) codeEditor.dispatch({ changes: { from: 0, to: codeEditor.state.doc.length, insert: text } });
  }

  function resetForm() {
    editing = null;
    form.reset();
    setCode("");
    showFieldErrors({});
    $("test-case-form-title").textContent = "Add a test case";
    $("tc-save").textContent = "Add test case";
    $("tc-cancel").hidden = true;
  }
  async function send(method, url, body) {
    const response = await window.Vibegrapher.fetchRetrying(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: $("tc-name").value, test_code: $("tc-code").value, quick_test: $("tc-quick").checked };
    const { ok, status, data } = editing
      ? await send("PATCH", `/api/tests/${editing}`, body)
      : await send("POST", `/api/projects/${config.projectId}/tests`, body);
    // 409: the name is taken (the one unique field), so the answer goes beside it.
    if (!ok) { showFieldErrors(status === 409 ? { name: data.detail } : data); return; }
    // The list, the counts and the run buttons are the server's: show them afresh.
    reloadAtTests();
  });
  $("tc-cancel").addEventListener("click", resetForm);
  $("test-case-list").addEventListener("click", async (event) => {
    const item = event.target.closest(".test-case");
    if (!item) return;
    if (event.target.classList.contains("tc-edit")) {
      editing = item.dataset.id;
      $("tc-name").value = item.dataset.name;
      setCode(item.querySelector(".tc-source").value);
      $("tc-quick").checked = item.dataset.quick === "true";
      $("test-case-form-title").textContent = `Edit ${item.dataset.name}`;
      $("tc-save").textContent = "Save test case";
      $("tc-cancel").hidden = false;
      showFieldErrors({});
      $("tc-name").focus();
    } else if (event.target.classList.contains("tc-delete")) {
      if (!window.confirm(`Delete the test case ${item.dataset.name}?`)) return;
      const { ok, data } = await send("DELETE", `/api/tests/${item.dataset.id}`);
      if (!ok) { showFieldErrors({ detail: data.detail || "Could not delete." }); return; }
      reloadAtTests();
    }
  });

  // --- Test cases on the current code (HEAD), not the diff: is the test itself right? ---
  function showHeadResult(item, result) {
    const box = item.querySelector(".tc-head-result");
    box.replaceChildren();
    const badge = document.createElement("span");
    badge.className = `badge status-${result.status}`;
    badge.textContent = `${result.status}${result.limit ? `: ${result.limit}` : ""} on current code`;
    const time = document.createElement("span");
    time.className = "muted";
    time.textContent = ` ${result.duration.toFixed(2)} s`;
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "output";
    const pre = document.createElement("pre");
    pre.textContent = result.output;
    details.append(summary, pre);
    box.append(badge, time, details);
  }

  async function runOnHead(testId) {
    const items = [...document.querySelectorAll(".test-case")].filter((li) => !testId || li.dataset.id === testId);
    items.forEach((li) => {
      const box = li.querySelector(".tc-head-result");
      box.replaceChildren();
      const badge = document.createElement("span");
      badge.className = "badge status-running";
      badge.textContent = "running on current code…";
      box.append(badge);
    });
    const buttons = [...document.querySelectorAll(".tc-run, #tc-run-head")];
    buttons.forEach((b) => { b.disabled = true; });
    const { ok, data } = await send("POST", `/api/projects/${config.projectId}/tests/run`, testId ? { test_id: testId } : {});
    buttons.forEach((b) => { b.disabled = false; });
    if (!ok) {
      items.forEach((li) => li.querySelector(".tc-head-result").replaceChildren());
      if ($("tc-head-state")) $("tc-head-state").textContent = data.detail || "Could not run the tests.";
      return;
    }
    const passed = data.results.filter((r) => r.status === "passed").length;
    if ($("tc-head-state")) {
      $("tc-head-state").textContent = `On ${data.commit.slice(0, 8)}: ${passed} of ${data.results.length} passed.`;
    }
    for (const result of data.results) {
      const item = document.querySelector(`.test-case[data-id="${result.test_id}"]`);
      if (item) showHeadResult(item, result);
    }
  }

  if ($("tc-run-head")) $("tc-run-head").addEventListener("click", () => runOnHead(null));
  $("test-case-list").addEventListener("click", (event) => {
    const item = event.target.closest(".test-case");
    if (item && event.target.classList.contains("tc-run")) runOnHead(item.dataset.id);
  });

})();
