// Live parts of the review UI: the project WebSocket, the prompt box, review buttons.
// Plain browser JavaScript, no build step.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("vg-config").textContent);
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const $ = (id) => document.getElementById(id);

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = data.detail || Object.entries(data).map(([k, v]) => `${k}: ${v}`).join("; ");
      throw new Error(detail || `HTTP ${response.status}`);
    }
    return data;
  }

  function connect(onEvent, onOpen) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/projects/${config.projectId}/`);
    socket.onopen = onOpen;
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      onEvent(event);
      // For the page's other scripts (graph.js): one socket per page.
      document.dispatchEvent(new CustomEvent("vibegrapher:event", { detail: event }));
    };
    socket.onclose = (event) => {
      const reason = CLOSE_REASONS[event.code];
      // The server refused or stopped this socket on purpose: trying again would
      // only be refused again, so the person is told instead.
      if (reason) showSocketClosed(reason);
      else setTimeout(() => connect(onEvent, onOpen), 2000);
    };
  }

  const CLOSE_REASONS = {
    4401: "Live updates stopped: you are logged out (or your password changed). Log in again.",
    4403: "Live updates stopped: this project is not yours.",
    4404: "Live updates stopped: this project no longer exists.",
    4429: "Live updates stopped: too many connections or messages. Close other tabs and reload the page.",
  };

  function showSocketClosed(text) {
    let banner = $("socket-closed");
    if (!banner) {
      banner = document.createElement("p");
      banner.id = "socket-closed";
      banner.className = "flash error";
      banner.setAttribute("role", "alert");
      document.querySelector("main").prepend(banner);
    }
    banner.textContent = text;
  }

  // --- Project page -------------------------------------------------------------
  function projectPage() {
    const list = $("messages");
    const seen = new Set([...list.querySelectorAll("[data-id]")].map((li) => li.dataset.id));
    let lastId = config.lastMessageId;

    function addMessage(m) {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      lastId = m.id;
      const li = document.createElement("li");
      li.className = `message ${m.agent}`;
      li.dataset.id = m.id;
      const meta = document.createElement("div");
      meta.className = "meta";
      const who = document.createElement("strong");
      who.textContent = { user: "User", vibecoder: "Vibecoder", evaluator: "Evaluator" }[m.agent] || m.agent;
      meta.append(who);
      if (m.iteration) meta.append(` · round ${m.iteration}`);
      if (m.token_usage) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = `${m.token_usage.total_tokens} tokens`;
        meta.append(" ", badge);
        const total = $("token-total");
        total.dataset.total = Number(total.dataset.total) + m.token_usage.total_tokens;
        total.textContent = `${total.dataset.total} tokens`;
      }
      const content = document.createElement("pre");
      content.className = "content";
      content.textContent = m.content;
      li.append(meta, content);
      if (m.patch_preview) {
        const details = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = "Patch";
        const pre = document.createElement("pre");
        pre.textContent = m.patch_preview;
        details.append(summary, pre);
        li.append(details);
      }
      list.append(li);
    }

    function showPending(diffId) {
      $("pending-link").href = `/diffs/${diffId}/`;
      $("pending").hidden = false;
    }

    // On every (re)connect: what happened while the socket was closed.
    async function catchUp() {
      const session = `/api/sessions/${config.sessionId}`;
      const after = lastId ? `?after=${lastId}` : "";
      (await api("GET", `${session}/messages${after}`)).forEach(addMessage);
      const state = await api("GET", session);
      $("working").hidden = state.run_state !== "running";
      const pending = await api("GET", `${session}/diffs/pending`);
      if (pending.length) showPending(pending[0].id);
    }

    connect((event) => {
      if (event.session_id && event.session_id !== config.sessionId) return;
      if (event.type === "conversation_message") {
        addMessage({ ...event, id: event.message_id });
        $("working").hidden = false;
      } else if (event.type === "run_finished") {
        $("working").hidden = true;
        const outcome = $("run-outcome");
        outcome.hidden = !event.error;
        outcome.textContent = event.final_feedback ? `${event.error}: ${event.final_feedback}` : event.error || "";
      } else if (event.type === "diff_created") {
        showPending(event.diff_id);
      } else if (event.type === "code_changed") {
        location.reload();
      }
    }, () => catchUp().catch(() => {}));

    $("prompt-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      $("prompt-error").textContent = "";
      try {
        await api("POST", `/api/sessions/${config.sessionId}/messages`, { prompt: $("prompt").value });
        $("prompt").value = "";
        $("working").hidden = false;
        $("run-outcome").hidden = true;
        $("pending").hidden = true;
      } catch (error) {
        $("prompt-error").textContent = error.message;
      }
    });
  }

  // --- Review page -----------------------------------------------------------------
  function reviewPage() {
    const base = `/api/diffs/${config.diffId}`;
    const projectUrl = `/projects/${config.projectId}/`;
    const fail = (error) => { $("review-error").textContent = error.message; };

    $("approve").addEventListener("click", () =>
      api("POST", `${base}/review`, { approved: true }).then(() => location.reload(), fail));
    $("reject").addEventListener("click", () =>
      api("POST", `${base}/review`, { approved: false, feedback: $("feedback").value })
        .then(() => { location.href = projectUrl; }, fail));
    $("refine").addEventListener("click", () =>
      api("POST", `${base}/refine-message`, { hint: $("hint").value })
        .then((data) => { $("commit-message").value = data.commit_message; }, fail));
    $("commit").addEventListener("click", () =>
      api("POST", `${base}/commit`, { commit_message: $("commit-message").value })
        .then(() => { location.href = projectUrl; }, fail));
    const setTestsRunning = (running) => {
      if (running || $("tests-state").textContent === "running…") {
        $("tests-state").textContent = running ? "running…" : "finished";
      }
      $("run-tests").disabled = running || config.testCount === 0;
      $("run-quick-tests").disabled = running || config.quickTestCount === 0;
    };

    // One line per test: name, status badge, duration, and its output folded away.
    function showTestResult(name, status, output, duration, limit) {
      let item = [...$("test-results").children].find((li) => li.dataset.name === name);
      if (!item) {
        item = document.createElement("li");
        item.className = "test";
        item.dataset.name = name;
        $("test-results").append(item);
      }
      item.replaceChildren();
      const title = document.createElement("strong");
      title.textContent = name;
      const badge = document.createElement("span");
      badge.className = `badge status-${status}`;
      badge.textContent = limit ? `${status}: ${limit}` : status;
      item.append(title, " ", badge);
      if (duration !== undefined) {
        const time = document.createElement("span");
        time.className = "muted";
        time.textContent = ` ${duration} s`;
        item.append(time);
      }
      if (output) {
        const details = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = "output";
        const pre = document.createElement("pre");
        pre.textContent = output;
        details.append(summary, pre);
        item.append(details);
      }
    }

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

    // On (re)connect, show what is stored: results finished while we were away.
    async function catchUp() {
      const diff = await api("GET", base);
      for (const result of diff.test_results || []) {
        pendingTests.delete(result.name);
        showTestResult(result.name, result.status, result.output, result.duration, result.limit);
      }
      setTestsRunning(diff.tests_running);
    }

    connect((event) => {
      if (event.type === "diff_status" && event.diff_id === config.diffId) {
        $("diff-status").textContent = event.status.replace("_", " ");
      } else if (event.type === "test_status" && event.diff_id === config.diffId) {
        // Queued: waiting for one of the server's sandboxes; running: has one.
        if (pendingTests.has(event.test_name)) showTestResult(event.test_name, event.status);
      } else if (event.type === "test_completed" && event.diff_id === config.diffId) {
        pendingTests.delete(event.test_name);
        showTestResult(event.test_name, event.status, event.output, event.duration, event.limit);
        if (pendingTests.size === 0) setTestsRunning(false);
      }
    }, () => { catchUp().catch(() => {}); });
  }

  if (config.diffId) reviewPage(); else projectPage();
})();
