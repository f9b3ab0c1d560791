// The review page (/diffs/{id}/): diff layout and folds, checks beside Approve, refine
// suggestions, tests and test cases, and the whole review state kept live from the
// project's events, so every open browser shows the same thing.
// Plain browser JavaScript, no build step; helpers come from vibegrapher.js.
(function () {
  "use strict";
  const { config, api, connect } = window.Vibegrapher;
  const $ = (id) => document.getElementById(id);
  const base = `/api/diffs/${config.diffId}`;
  const projectUrl = `/projects/${config.projectId}/`;
  const STATUS_LABELS = {
    evaluator_approved: "Evaluator Approved",
    human_approved: "Human Approved",
    human_rejected: "Human Rejected",
    committed: "Committed",
  };
  const ELSEWHERE = {
    human_approved: "Approved in another window.",
    human_rejected: "Rejected in another window: a new round has started.",
    committed: "Committed in another window.",
  };
  // As reviews/checks.py: regressions lead.
  const ORDER = ["regressed", "fixed", "passed", "failed", "error", "timeout", "running", "queued"];
  // How a result counts (reviews/checks.py check_label): its before/after outcome, or its status.
  function checkLabel(state, outcome) {
    if (outcome === "regressed" || outcome === "fixed") return outcome;
    if (outcome === "error" && (state === "passed" || state === "failed")) return "error";
    return state;
  }
  const seconds = (value) => `${Number(value).toFixed(2)} s`;
  const fail = (error) => { $("review-error").textContent = error.message; };

  // --- Diff layout: unified or split, remembered per user on the server -----------
  function setLayout(layout) {
    const view = $("diff-view");
    if (!view) return;
    view.classList.toggle("layout-split", layout === "split");
    view.classList.toggle("layout-unified", layout !== "split");
    $("layout-unified").setAttribute("aria-pressed", String(layout !== "split"));
    $("layout-split").setAttribute("aria-pressed", String(layout === "split"));
  }
  function chooseLayout(layout) {
    setLayout(layout);
    const body = new URLSearchParams({ layout });
    fetch("/diff-layout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value },
      body,
    }).catch(() => {}); // the page still switches; only the memory is lost
  }
  $("layout-unified").addEventListener("click", () => chooseLayout("unified"));
  $("layout-split").addEventListener("click", () => chooseLayout("split"));

  // "Show N more lines": unfold the same unchanged run in both layouts.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.expand");
    if (!button) return;
    const fold = button.dataset.fold;
    document.querySelectorAll(`tbody[data-fold="${fold}"]`).forEach((body) => {
      body.hidden = body.classList.contains("fold-toggle");
    });
  });

  // --- State: status, buttons, message, committed ----------------------------------
  let status = config.status;
  let knownMessage = config.commitMessage;
  let ownAction = null; // the status this window's own click is about to cause

  const MERGE_REASONS = {
    evaluator_approved: "Commit is enabled once you approve.",
    human_approved: "Approved: Commit applies the diff to the project.",
  };

  function applyStatus(next) {
    status = next;
    const badge = $("diff-status");
    badge.textContent = STATUS_LABELS[next] || next;
    badge.className = `badge status-${next}`;
    const closed = next === "committed" || next === "human_rejected";
    $("approve").disabled = next !== "evaluator_approved";
    $("commit").disabled = next !== "human_approved";
    $("reject").disabled = closed;
    $("commit-message").readOnly = closed;
    document.querySelectorAll("#review .editable, #tests .editable").forEach((element) => {
      if (element.tagName === "BUTTON" && closed) element.disabled = true;
      if (element.tagName !== "BUTTON") element.readOnly = closed;
    });
    if (!closed) setTestsRunning(testsRunning);
    document.body.classList.toggle("review-closed", closed);
    // A closed review is read-only: its actions go, and a disabled one says why.
    $("review-actions").hidden = closed;
    $("merge-reason").textContent = MERGE_REASONS[next] || "";
  }

  function applyDiff(diff) {
    applyStatus(diff.status);
    // The message follows the server unless the person has edited it here.
    if ($("commit-message").value === knownMessage) $("commit-message").value = diff.commit_message;
    knownMessage = diff.commit_message;
    if (diff.committed_sha) {
      $("committed").hidden = false;
      const link = $("committed-sha");
      link.href = `${projectUrl}#commit-${diff.committed_sha}`;
      link.querySelector("code").textContent = diff.committed_sha.slice(0, 12);
    }
  }

  function announce(text) {
    const banner = $("elsewhere");
    banner.textContent = text;
    banner.hidden = false;
  }

  // --- Checks beside Approve ----------------------------------------------------------
  function results() {
    // Only the project's current test cases count: not a result of a deleted one.
    return [...$("test-results").children]
      .filter((li) => config.testNames.includes(li.dataset.name))
      .filter((li) => li.dataset.status)
      .map((li) => checkLabel(li.dataset.status, li.dataset.outcome));
  }
  function checksSummary() {
    const total = config.testCount;
    if (!total) return "No tests";
    const counts = new Map();
    for (const each of results()) counts.set(each, (counts.get(each) || 0) + 1);
    const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
    const parts = [...counts].sort((a, b) => rank(a[0]) - rank(b[0])).map(([name, n]) => `${n} ${name}`);
    const notRun = total - results().length;
    if (notRun > 0) parts.push(`${notRun} not run`);
    return `${total} test${total === 1 ? "" : "s"}: ${parts.join(", ")}`;
  }
  function updateChecks() {
    const summary = checksSummary();
    $("checks-summary").textContent = summary;
    const all = results();
    const fine = (s) => s === "passed" || s === "fixed";
    const good = config.testCount > 0 && all.length === config.testCount && all.every(fine);
    $("checks").classList.toggle("checks-ok", good);
    $("checks").classList.toggle("checks-bad", all.some((s) => !fine(s) && s !== "queued" && s !== "running"));
    $("checks").classList.toggle("checks-pending", !good && config.testCount > 0);
  }
  function approvalWarning() {
    if (!config.testCount) return null;
    const all = results();
    const failing = all.filter((s) => s !== "passed" && s !== "fixed").length;
    const notRun = config.testCount - all.length;
    if (!failing && !notRun) return null;
    return `${checksSummary()}. Approve anyway?`;
  }

  // --- Review buttons ------------------------------------------------------------------
  $("approve").addEventListener("click", () => {
    const warning = approvalWarning();
    if (warning && !window.confirm(warning)) return;
    ownAction = "human_approved";
    api("POST", `${base}/review`, { approved: true }).then(applyDiff, (error) => {
      ownAction = null;
      fail(error);
    });
  });
  $("reject").addEventListener("click", () => {
    ownAction = "human_rejected";
    api("POST", `${base}/review`, { approved: false, feedback: $("feedback").value })
      .then(() => { location.href = projectUrl; }, (error) => { ownAction = null; fail(error); });
  });
  $("commit").addEventListener("click", () => {
    ownAction = "committed";
    api("POST", `${base}/commit`, { commit_message: $("commit-message").value })
      .then(() => { location.href = projectUrl; }, (error) => { ownAction = null; fail(error); });
  });

  // Refine never overwrites: the suggestion waits beside the field for "Use".
  $("refine").addEventListener("click", () => {
    const button = $("refine");
    button.disabled = true;
    // As the conversation labels its messages (agents_app.all_agents.REFINER_NAME).
    button.textContent = "Commit message refiner writing…";
    button.setAttribute("aria-busy", "true");
    api("POST", `${base}/refine-message`, { hint: $("hint").value })
      .then((data) => {
        $("suggested-message").textContent = data.commit_message;
        $("suggestion").hidden = false;
      }, fail)
      .finally(() => {
        button.textContent = "Refine message";
        button.removeAttribute("aria-busy");
        button.disabled = status === "committed" || status === "human_rejected";
      });
  });
  $("use-suggestion").addEventListener("click", () => {
    $("commit-message").value = $("suggested-message").textContent;
    $("suggestion").hidden = true;
  });
  $("dismiss-suggestion").addEventListener("click", () => { $("suggestion").hidden = true; });

  // --- Tests ---------------------------------------------------------------------------------
  let testsRunning = $("tests-state").textContent === "running…";
  function setTestsRunning(running) {
    if (running) $("tests-state").textContent = "running…";
    else if (testsRunning) $("tests-state").textContent = "run just now";
    testsRunning = running;
    const closed = status === "committed" || status === "human_rejected";
    $("run-tests").disabled = closed || running || config.testCount === 0;
    $("run-quick-tests").disabled = closed || running || config.quickTestCount === 0;
  }

  // One line per test: name, outcome and status badges, duration, the base run's
  // status, and the outputs folded away. A regression moves to the top of the list.
  function showTestResult(name, state, output, duration, limit, outcome, base) {
    let item = [...$("test-results").children].find((li) => li.dataset.name === name);
    if (!item) {
      item = document.createElement("li");
      item.className = "test";
      item.dataset.name = name;
      item.id = `result-${$("test-results").children.length + 1}`;
      $("test-results").append(item);
    }
    item.dataset.status = state;
    item.dataset.outcome = outcome || "";
    item.replaceChildren();
    const title = document.createElement("strong");
    title.textContent = name;
    item.append(title, " ");
    if (outcome) {
      const mark = document.createElement("span");
      mark.className = `badge outcome outcome-${outcome}`;
      mark.textContent = outcome;
      item.append(mark, " ");
    }
    const badge = document.createElement("span");
    badge.className = `badge status-${state}`;
    badge.textContent = limit ? `${state}: ${limit}` : state;
    item.append(badge);
    if (duration !== undefined && duration !== null) {
      const time = document.createElement("span");
      time.className = "muted";
      time.textContent = ` ${seconds(duration)}`;
      item.append(time);
    }
    if (base) {
      const before = document.createElement("span");
      before.className = "muted before";
      before.textContent = ` before: ${base.limit ? `${base.status}: ${base.limit}` : base.status}`;
      item.append(before);
    }
    const folded = (label, text, className) => {
      const details = document.createElement("details");
      if (className) details.className = className;
      const summary = document.createElement("summary");
      summary.textContent = label;
      const pre = document.createElement("pre");
      pre.textContent = text;
      details.append(summary, pre);
      item.append(details);
    };
    if (output) folded("output", output);
    if (base && base.output) folded(`output before (base ${(base.commit || "").slice(0, 8)})`, base.output, "base-output");
    if (outcome === "regressed") leadWithRegressions();
    updateChecks();
  }
  function leadWithRegressions() {
    const list = $("test-results");
    const items = [...list.children];
    const regressed = items.filter((li) => li.dataset.outcome === "regressed");
    list.replaceChildren(...regressed, ...items.filter((li) => li.dataset.outcome !== "regressed"));
  }
  // Results rendered by the server carry their status in the badge.
  for (const li of $("test-results").children) {
    const badge = li.querySelector(".badge[class*=status-]");
    li.dataset.status = [...badge.classList].find((c) => c.startsWith("status-")).slice(7);
  }
  updateChecks();

  let pendingTests = new Set();
  function runTests(quickOnly) {
    $("tests-error").textContent = "";
    api("POST", `${base}/test`, { quick_only: quickOnly }).then((data) => {
      $("test-results").replaceChildren();
      pendingTests = new Set(data.tests.map((test) => test.name));
      for (const test of data.tests) showTestResult(test.name, "queued");
      setTestsRunning(true);
    }, (error) => { $("tests-error").textContent = error.message; });
  }
  $("run-tests").addEventListener("click", () => runTests(false));
  $("run-quick-tests").addEventListener("click", () => runTests(true));

  // On (re)connect: the whole stored state, which may have changed while away.
  async function catchUp() {
    const diff = await api("GET", base);
    applyDiff(diff);
    for (const result of diff.test_results || []) {
      pendingTests.delete(result.name);
      showTestResult(result.name, result.status, result.output, result.duration, result.limit,
        result.outcome, result.base);
    }
    setTestsRunning(diff.tests_running);
  }

  connect((event) => {
    if (event.diff_id !== config.diffId) return;
    if (event.type === "diff_status") {
      if (event.status !== ownAction && ELSEWHERE[event.status]) announce(ELSEWHERE[event.status]);
      ownAction = null;
      applyStatus(event.status);
      // The message and SHA come with the stored row.
      api("GET", base).then(applyDiff, () => {});
    } else if (event.type === "test_status") {
      // Queued: waiting for one of the server's sandboxes; running: has one.
      if (pendingTests.has(event.test_name)) showTestResult(event.test_name, event.status);
    } else if (event.type === "test_completed") {
      pendingTests.delete(event.test_name);
      const base = event.base_status ? { status: event.base_status } : null;
      showTestResult(event.test_name, event.status, event.output, event.duration, event.limit,
        event.outcome, base);
      if (pendingTests.size === 0) setTestsRunning(false);
    }
  }, () => { catchUp().catch(() => {}); });

  applyStatus(status); // a committed or rejected diff opens read-only
})();
