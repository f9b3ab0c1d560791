// Live parts of the review UI: the project WebSocket, the prompt box, review buttons.
// Plain browser JavaScript, no build step.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("vg-config").textContent);
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const $ = (id) => document.getElementById(id);

  // A 503 with Retry-After (a server restarting for a deploy, a busy lane) is asked
  // again once, after the time it names (at most 10 s), before anyone sees an error:
  // by then another server, or this one's next process, answers.
  async function fetchRetrying(url, options) {
    const response = await fetch(url, options);
    const after = response.status === 503 && response.headers.get("Retry-After");
    if (!after) return response;
    const seconds = Math.min(Math.max(Number(after) || 1, 0), 10);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return fetch(url, options);
  }

  async function api(method, url, body) {
    const response = await fetchRetrying(url, {
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

  // An event too long for one WebSocket message comes as a `large_event` that names
  // where the whole event is: fetched here, or null when it cannot be (expired).
  async function wholeEvent(event) {
    if (event.type !== "large_event") return event;
    if (!event.body_url) return null;
    const response = await fetchRetrying(event.body_url, { credentials: "same-origin" });
    return response.ok ? response.json() : null;
  }

  // The server closes with 1012 when it restarts (a deploy): the page reconnects at
  // once (to whichever server answers; a little spread, so that every page of a
  // server does not come back in the same instant) and catches up (`onOpen`). Any
  // other unexpected close is retried, waiting longer each time, up to 15 s.
  const CLOSE_SERVICE_RESTART = 1012;
  let reconnectDelay = 1000;

  function connect(onEvent, onOpen) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/projects/${config.projectId}/`);
    socket.onopen = () => {
      reconnectDelay = 1000;
      document.body.classList.remove("reconnecting");
      onOpen();
    };
    // Events are applied one after the other, in the order they came: one behind a
    // `large_event` waits until the fetched event is applied (fetches start at once).
    let applied = Promise.resolve();
    socket.onmessage = (message) => {
      const fetched = wholeEvent(JSON.parse(message.data)).catch(() => null);
      applied = applied.then(() => fetched).then((event) => {
        // A lost event: re-read the stored state, as after a reconnect.
        if (event === null) return onOpen();
        onEvent(event);
        // For the page's other scripts (graph.js): one socket per page.
        document.dispatchEvent(new CustomEvent("vibegrapher:event", { detail: event }));
      }).catch((error) => console.error("vibegrapher: an event could not be applied", error));
    };
    socket.onclose = (event) => {
      const reason = CLOSE_REASONS[event.code];
      // The server refused or stopped this socket on purpose: trying again would
      // only be refused again, so the person is told instead.
      if (reason) {
        showSocketClosed(reason);
        return;
      }
      document.body.classList.add("reconnecting");
      const restart = event.code === CLOSE_SERVICE_RESTART;
      const delay = restart ? 200 + Math.random() * 800 : reconnectDelay;
      if (!restart) reconnectDelay = Math.min(reconnectDelay * 2, 15000);
      setTimeout(() => connect(onEvent, onOpen), delay);
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
    // Live text of responses being written (`message_delta`), by message id.
    const liveItems = new Map();
    // As the server labels stored messages; the status line names the VibeCoder.
    const AGENTS = { user: "User", vibecoder: "VibeCoder", evaluator: "Evaluator", refiner: "Commit message refiner", system: "Checks" };
    // How a run ended (`run_outcome` of the message that started it).
    const OUTCOMES = {
      diff: "diff ready for review", text: "answered", max_iterations: "no approved patch within the rounds",
      refused_by_tests: "patch refused by tests", patch_refused: "patch refused (not applied)",
      cancelled: "stopped", failed: "failed", interrupted: "interrupted (server restart)", running: "running",
    };

    // A run's diff once reviewed (as web/pages.py DIFF_RUN_LABELS).
    const DIFF_LABELS = { human_approved: "diff approved", human_rejected: "diff rejected", committed: "diff committed" };

    function setRunOutcome(li, outcome, diffId) {
      const label = li && li.querySelector(".run-outcome-label");
      if (!label) return;
      label.textContent = OUTCOMES[outcome] || "";
      label.className = `run-outcome-label outcome-${outcome || "none"}`;
      if (diffId) label.dataset.diffId = diffId;
    }

    // Why a run failed stays under its own separator, whatever later runs do.
    function setRunError(li, text) {
      if (!li || !text) return;
      let error = li.querySelector(":scope > .run-error");
      if (!error) {
        error = document.createElement("p");
        error.className = "run-error";
        li.querySelector(".run-head").after(error);
      }
      error.textContent = text;
    }

    const lastRun = () => [...list.querySelectorAll(":scope > .message.user:not(.event)")].pop();

    function diffLink(diffId, text) {
      const a = document.createElement("a");
      a.href = `/diffs/${diffId}/`;
      a.textContent = text;
      return a;
    }

    function messageItem(m) {
      const li = document.createElement("li");
      const isEvent = m.role === "event";
      li.className = `message ${m.agent}${isEvent ? " event" : ""}${m.role === "check" ? " check" : ""}`;
      li.dataset.id = m.id;
      li.id = `message-${m.id}`;
      if (m.created_at) li.dataset.created = m.created_at;
      if (m.role === "user") {
        // Each person's message starts a run: its separator says how the run ended.
        const head = document.createElement("div");
        head.className = "run-head";
        const label = document.createElement("span");
        label.className = "run-outcome-label";
        head.append("Run · ", label);
        li.append(head);
        setRunOutcome(li, m.run_outcome);
        setRunError(li, m.run_error);
      }
      const meta = document.createElement("div");
      meta.className = "meta";
      const who = document.createElement("strong");
      who.textContent = isEvent ? "You" : AGENTS[m.agent] || m.agent;
      meta.append(who);
      // Rounds count patches and their reviews: a text answer has none.
      if (m.iteration && (m.patch_preview || m.agent === "evaluator" || m.kind === "patch" || m.role === "check")) {
        meta.append(` · round ${m.iteration}`);
      }
      if (m.role === "check") meta.append(" ", refusedBadge());
      if (m.stopped) {
        li.classList.add("stopped");
        meta.append(" ", stoppedBadge());
      }
      if (m.agent === "refiner" && m.diff_id) meta.append(" · ", diffLink(m.diff_id, "its diff"));
      li.append(meta);
      return li;
    }

    // The person's latest message: the run under way adds up beside it.
    let lastRequestId = [...list.querySelectorAll(".message.user[data-id]")].map((li) => li.dataset.id).pop() || null;

    // "13,627 tokens · $0.0123", as the server writes it (web/templatetags).
    function usd(cost) {
      return cost > 0 && cost < 0.0001 ? "<$0.0001" : `$${cost.toFixed(4)}`;
    }
    function usageText(tokens, cost, unpriced) {
      const text = `${tokens.toLocaleString("en-US")} tokens`;
      if (cost === null || cost === undefined || cost === "") return text;
      return `${text} · ${usd(Number(cost))}${unpriced ? " + unpriced tokens" : ""}`;
    }
    function addUsage(badge, tokens, cost, prefix) {
      badge.dataset.total = Number(badge.dataset.total) + tokens;
      if (cost === null) badge.dataset.unpriced = Number(badge.dataset.unpriced || 0) + tokens;
      else badge.dataset.cost = Number(badge.dataset.cost || 0) + cost;
      badge.hidden = false;
      badge.textContent = prefix + usageText(Number(badge.dataset.total), badge.dataset.cost, Number(badge.dataset.unpriced || 0));
    }

    // Messages stay in the order they were stored, whatever order their events came in
    // (a rejection is stored before the run it starts, and announced after).
    function insertInOrder(li) {
      const at = Date.parse(li.dataset.created || "");
      if (!Number.isNaN(at)) {
        const later = [...list.children].find((other) => Date.parse(other.dataset.created || "") > at);
        if (later) return later.before(li);
      }
      list.append(li);
    }

    function reasoningBox(text, open) {
      const details = document.createElement("details");
      details.className = "reasoning";
      details.open = open;
      const summary = document.createElement("summary");
      summary.textContent = "Reasoning";
      const pre = document.createElement("pre");
      pre.className = "content reasoning";
      pre.textContent = text;
      details.append(summary, pre);
      return details;
    }

    // A patch refused before review (role "check"): as web/templates/web/_refusal.html.
    function refusedBadge() {
      const badge = document.createElement("span");
      badge.className = "badge status-failed";
      badge.textContent = "patch refused";
      return badge;
    }
    // A response cut off by its run's end: what was written until then (as message.html).
    function stoppedBadge() {
      const badge = document.createElement("span");
      badge.className = "badge stopped-badge";
      badge.title = "Its run ended while it was being written: this is what was written until then.";
      badge.textContent = "stopped";
      return badge;
    }
    function refusalTests(refusal) {
      if (!refusal.tests || !refusal.tests.length) return [];
      const ul = document.createElement("ul");
      ul.className = "refused-tests";
      for (const t of refusal.tests) {
        const li = document.createElement("li");
        li.className = "refused-test";
        const name = document.createElement("strong");
        name.textContent = t.name;
        const before = document.createElement("span");
        before.className = "muted";
        before.textContent = `before: ${t.base_status || "not run"}`;
        const after = document.createElement("span");
        after.className = `badge status-${t.status}`;
        after.textContent = t.limit ? `${t.status}: ${t.limit}` : t.status;
        const withPatch = document.createElement("span");
        withPatch.className = "muted";
        withPatch.textContent = "with the patch";
        const details = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = "output";
        const pre = document.createElement("pre");
        pre.textContent = t.output;
        details.append(summary, pre);
        li.append(name, " ", before, " → ", after, " ", withPatch, details);
        ul.append(li);
      }
      return [ul];
    }

    function addMessage(m) {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      $("example-prompts").hidden = true;  // only for an empty conversation
      lastId = m.id;
      const li = messageItem(m);
      if (m.token_usage) {
        const badge = document.createElement("span");
        badge.className = "badge";
        const cost = m.token_usage.cost_usd ?? m.cost_usd ?? null;
        badge.textContent = usageText(m.token_usage.total_tokens, cost, 0);
        li.querySelector(".meta").append(" ", badge);
        addUsage($("token-total"), m.token_usage.total_tokens, cost, "");
        // The project's line counts this conversation too (as after a reload).
        addUsage($("project-usage-total"), m.token_usage.total_tokens, cost, "");
        const run = lastRequestId && document.getElementById(`run-${lastRequestId}`);
        if (run) addUsage(run, m.token_usage.total_tokens, cost, "this run: ");
      } else if (m.agent === "user" && m.role !== "event") {
        // The run this message starts: its tokens and cost add up beside it.
        lastRequestId = m.id;
        const run = document.createElement("span");
        run.className = "badge run-usage";
        run.id = `run-${m.id}`;
        Object.assign(run.dataset, { total: "0", cost: "", unpriced: "0" });
        run.hidden = true;
        li.querySelector(".meta").append(" ", run);
      }
      if (m.reasoning_summary) li.append(reasoningBox(m.reasoning_summary, false));
      const content = document.createElement("pre");
      content.className = "content";
      content.textContent = m.content;
      li.append(content);
      if (m.refusal) li.append(...refusalTests(m.refusal));
      if (m.role === "event" && m.diff_id) {
        const link = diffLink(m.diff_id, "Open the review");
        link.className = "event-link";
        li.append(link);
      }
      if (m.patch_preview) {
        const details = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = "Patch";
        const pre = document.createElement("pre");
        pre.className = "patch";
        appendPatchText(pre, m.patch_preview);
        details.append(summary, pre);
        li.append(details);
      }
      // The stored message replaces the live text written under the same id.
      const live = liveItems.get(m.id);
      liveItems.delete(m.id);
      if (live) live.replaceWith(li); else insertInOrder(li);
    }

    // --- Live text of the response being written ---

    function liveItem(d) {
      let li = liveItems.get(d.message_id);
      if (!li) {
        li = messageItem({ ...d, id: d.message_id });
        li.classList.add("live");
        li.setAttribute("aria-busy", "true");
        liveItems.set(d.message_id, li);
        list.append(li);
      }
      return li;
    }

    // A patch as it is written: one span per line, coloured by its +/- mark like the
    // review's diff; only the line being written is redrawn as text arrives.
    function patchLineClass(line) {
      if (line.startsWith("+++") || line.startsWith("---")) return "patch-line file";
      if (line.startsWith("@@")) return "patch-line hunk";
      if (line.startsWith("+")) return "patch-line add";
      if (line.startsWith("-")) return "patch-line del";
      return "patch-line";
    }
    function appendPatchText(pre, text) {
      let last = pre.lastElementChild;
      const pieces = text.split("\n");
      pieces.forEach((piece, index) => {
        if (index > 0 || !last) {
          if (last) last.textContent += "\n";
          last = document.createElement("span");
          pre.append(last);
        }
        last.textContent += piece;
        last.className = patchLineClass(last.textContent);
      });
    }
    function colourPatch(pre) {
      const text = pre.textContent;
      pre.textContent = "";
      appendPatchText(pre, text);
    }
    list.querySelectorAll("pre.patch").forEach(colourPatch);

    const roundOf = (n) => (config.maxRounds ? `, round ${n} of ${config.maxRounds}` : `, round ${n}`);

    function addDelta(d) {
      if (seen.has(d.message_id)) return;  // already stored and shown whole
      const li = liveItem(d);
      if (d.restart) li.querySelectorAll("pre, details").forEach((el) => el.remove());
      if (d.kind === "reasoning") {
        // Muted and collapsible, open while it is written.
        let box = li.lastElementChild;
        if (!box || !box.matches("details.reasoning")) {
          box = reasoningBox("", true);
          li.append(box);
        }
        box.querySelector("pre").textContent += d.delta;
      } else {
        const cls = d.kind === "patch" ? "content patch" : "content";
        let pre = li.lastElementChild;
        if (!pre || pre.tagName !== "PRE" || pre.className !== cls) {
          pre = document.createElement("pre");
          pre.className = cls;
          li.append(pre);
        }
        if (d.kind === "patch") appendPatchText(pre, d.delta);
        else pre.textContent += d.delta;
      }
      const who = d.agent === "vibecoder" ? "VibeCoder" : AGENTS[d.agent] || d.agent;
      // Rounds count patches: a text answer has none.
      const round = d.iteration && (d.kind === "patch" || d.agent === "evaluator") ? roundOf(d.iteration) : "";
      const doing = d.agent === "evaluator" ? "reviewing" : { text: "writing", reasoning: "thinking", patch: "writing a patch" }[d.kind];
      setStatus(`${who} ${doing}${round}`);
    }

    // The patch's quick tests, before the Evaluator: "Tests 2/5" names the one going.
    function showQuickTest(t) {
      setRunning(true);
      const round = t.iteration ? roundOf(t.iteration) : "";
      if (t.status === "queued") setStatus(`Tests 0/${t.total}${round}`);
      else if (t.status === "running") setStatus(`Tests ${t.done + 1}/${t.total}${round}: ${t.test_name}`);
      else if (t.outcome === "regressed") setStatus(`Tests ${t.done}/${t.total}${round}: ${t.test_name} regressed`);
      else setStatus(`Tests ${t.done}/${t.total}${round}`);
    }

    // --- Run status, directly above the prompt ---
    let runStartedAt = null;
    let timer = null;

    function tick() {
      if (runStartedAt === null) return;
      const seconds = Math.floor((Date.now() - runStartedAt) / 1000);
      $("status-elapsed").textContent = `${seconds} s`;
    }

    function setStatus(text) {
      $("status-text").textContent = text;
    }

    function setRunning(running, startedAt) {
      $("working").hidden = !running;
      $("send").disabled = running;
      $("send").hidden = running;
      $("stop").hidden = !running;
      $("stop").disabled = false;
      $("send-reason").hidden = !running;
      if (running) {
        $("send").setAttribute("aria-describedby", "send-reason");
        if (runStartedAt === null) runStartedAt = startedAt || Date.now();
        if (timer === null) timer = setInterval(tick, 1000);
        tick();
      } else {
        $("send").removeAttribute("aria-describedby");
        runStartedAt = null;
        clearInterval(timer);
        timer = null;
        $("status-elapsed").textContent = "";
        setStatus("Agents working");
      }
    }

    // How many runs ended while this page was open (`run_finished`).
    let runsFinished = 0;

    function showOutcome(text, isError) {
      const outcome = $("run-outcome");
      outcome.hidden = !text;
      outcome.textContent = text;
      outcome.className = isError ? "error" : "muted";
      outcome.setAttribute("role", isError ? "alert" : "status");
    }

    function showPending(diffId) {
      $("pending-link").href = `/diffs/${diffId}/`;
      $("pending").hidden = false;
    }

    // A diff committed or rejected (here or in another window) no longer awaits review.
    function diffResolved(diffId, status) {
      list.querySelectorAll(`.run-outcome-label[data-diff-id="${diffId}"]`).forEach((label) => {
        if (DIFF_LABELS[status]) label.textContent = DIFF_LABELS[status];
      });
      if (status !== "committed" && status !== "human_rejected") return;
      if ($("pending-link").getAttribute("href") === `/diffs/${diffId}/`) $("pending").hidden = true;
    }

    // A run that ended while the socket was closed (its run_finished missed, e.g. a
    // server restarting): its separator and error as a fresh load shows them, and live
    // text that never became a stored message is marked stopped.
    async function refreshRun(session, run) {
      const before = run.previousElementSibling && run.previousElementSibling.dataset.id;
      const { results } = await api("GET", `${session}/messages${before ? `?after=${before}` : ""}`);
      const stored = results.find((m) => m.id === run.dataset.id);
      if (!stored) return;
      setRunOutcome(run, stored.run_outcome || null, run.querySelector(".run-outcome-label").dataset.diffId);
      if (stored.run_error) setRunError(run, stored.run_error);
      offerRunAgain();
      for (const li of liveItems.values()) li.remove();
      liveItems.clear();
    }

    // The last run, ended by a server restart, can be sent again with one click.
    function offerRunAgain() {
      list.querySelectorAll(".run-again").forEach((button) => button.remove());
      const run = lastRun();
      const label = run && run.querySelector(".run-outcome-label.outcome-interrupted");
      if (!label) return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "run-again";
      button.textContent = "Run again";
      button.addEventListener("click", () => {
        $("prompt").value = run.querySelector(":scope > .content").textContent;
        if (!$("send").disabled) send();
      });
      label.after(" ", button);
    }

    // The run's separator says it is going, or nothing yet (a page loaded mid-run).
    function runShownGoing(run) {
      return Boolean(run && run.querySelector(".run-outcome-label.outcome-running, .run-outcome-label.outcome-none"));
    }

    // On every (re)connect: what happened while the socket was closed.
    async function catchUp() {
      const session = `/api/sessions/${config.sessionId}`;
      // The history comes in pages: follow `next` until the last one.
      let page = `${session}/messages${lastId ? `?after=${lastId}` : ""}`;
      while (page) {
        const { results, next } = await api("GET", page);
        results.forEach(addMessage);
        page = next;
      }
      const state = await api("GET", session);
      const running = state.run_state === "running";
      setRunning(running, running && state.run_started_at ? Date.parse(state.run_started_at) : null);
      const run = lastRun();
      if (running && run && !run.querySelector(".run-outcome-label").textContent) setRunOutcome(run, "running");
      // Only when the page still shows it going: a fresh load needs no second read.
      if (!running && run && (runShownGoing(run) || liveItems.size)) await refreshRun(session, run);
      offerRunAgain();  // only ever on the last run, whichever that is now
      const pending = await api("GET", `${session}/diffs/pending`);
      if (pending.results.length) showPending(pending.results[0].id);
      else $("pending").hidden = true;
    }

    connect((event) => {
      if (event.session_id && event.session_id !== config.sessionId) return;
      if (event.type === "message_delta") {
        addDelta(event);
      } else if (event.type === "conversation_message") {
        addMessage({ ...event, id: event.message_id });
        // A person's action (approve, commit) and a commit message refinement are not runs.
        if (event.role === "event" || event.agent === "refiner") return;
        if (event.agent === "user") {
          setRunOutcome(lastRun(), "running");
          offerRunAgain();
        }
        setRunning(true);
        if (event.agent === "user") setStatus("VibeCoder thinking");
        else if (event.agent === "vibecoder" && event.patch_preview) {
          setStatus(`Evaluator reviewing${event.iteration ? roundOf(event.iteration) : ""}`);
        } else if (event.role === "check") {
          setStatus(`VibeCoder fixing the refused patch${event.iteration ? roundOf(event.iteration) : ""}`);
        } else if (event.agent === "evaluator" && event.content.startsWith("Rejected")) {
          setStatus(`VibeCoder revising${roundOf((event.iteration || 1) + 1)}`);
        }
      } else if (event.type === "run_finished") {
        // A run this page did not see start (it began while the socket was away, a
        // reconnect in between): the last run shown is an earlier one, already ended.
        // The stored state says which run ended and how.
        if (!runShownGoing(lastRun())) {
          catchUp().catch(() => {});
          return;
        }
        // Live text that never became a stored message (a stopped run) stays, marked
        // (the server stores it too, sent just before as a `stopped` message).
        for (const li of liveItems.values()) {
          li.classList.add("stopped");
          li.removeAttribute("aria-busy");
          if (!li.querySelector(".stopped-badge")) li.querySelector(".meta").append(" ", stoppedBadge());
        }
        liveItems.clear();
        setRunOutcome(lastRun(), event.interrupted ? "interrupted" : event.outcome === "error" ? "failed" : event.outcome, event.diff_id);
        if (event.outcome === "error") setRunError(lastRun(), event.error);
        offerRunAgain();
        runsFinished += 1;
        setRunning(false);
        if (event.outcome === "cancelled") showOutcome("Run stopped. What was written so far is kept.", false);
        else if (event.error) showOutcome(event.final_feedback ? `${event.error}: ${event.final_feedback}` : event.error, true);
        else if (event.refusal) showOutcome(event.refusal, true);
        else showOutcome("", false);
      } else if (event.type === "quick_test") {
        showQuickTest(event);
      } else if (event.type === "diff_created") {
        showPending(event.diff_id);
      } else if (event.type === "diff_status") {
        diffResolved(event.diff_id, event.status);
      } else if (event.type === "code_changed") {
        location.reload();
      }
    }, () => catchUp().catch(() => {}));

    // A diff awaiting review stays reviewable while another run goes: the person is
    // told first, since the new run starts from the current code, not from that diff.
    const PENDING_QUESTION = "A diff awaits your review. Start another run anyway? " +
      "It starts from the current code; the diff stays pending and reviewable.";

    async function send() {
      $("prompt-error").textContent = "";
      if (!$("pending").hidden && !window.confirm(PENDING_QUESTION)) return;
      try {
        const finishedBefore = runsFinished;
        await api("POST", `/api/sessions/${config.sessionId}/messages`, { prompt: $("prompt").value });
        $("prompt").value = "";
        // A run that failed at once may have ended before this answer came.
        if (runsFinished === finishedBefore) setRunning(true);
        showOutcome("", false);
      } catch (error) {
        $("prompt-error").textContent = error.message;
      }
    }

    $("prompt-form").addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    $("prompt").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (!$("send").disabled && $("prompt").value.trim()) send();
      }
    });
    $("stop").addEventListener("click", async () => {
      $("stop").disabled = true;
      setStatus("Stopping");
      try {
        await api("POST", `/api/sessions/${config.sessionId}/cancel`);
      } catch (error) {
        // 409: the run ended meanwhile (its run_finished is on the way or came).
        catchUp().catch(() => {});
        $("stop").disabled = false;
        showOutcome(`Could not stop the run: ${error.message}`, true);
      }
    });
    // Escape stops the run, after asking (a stray Escape must not end minutes of work).
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || $("stop").hidden || $("stop").disabled) return;
      if (window.confirm("Stop the agents' run? What they wrote so far is kept.")) $("stop").click();
    });
    // An example prompt fills the prompt box, to edit or send.
    $("example-prompts").addEventListener("click", (event) => {
      const example = event.target.closest(".example-prompt");
      if (!example) return;
      $("prompt").value = example.textContent;
      $("prompt").focus();
    });
    setRunning(!$("working").hidden);
    offerRunAgain();
    followNewest(list);
  }

  // Chat-app scrolling on the project page: open on the newest message with the prompt
  // in view, and stay there while the run writes (a rejection's new round included),
  // until the person scrolls away to read; back at the prompt, it follows again. On wide
  // screens the conversation is its own pane (vibegrapher.css); on phones, the page.
  // A link to one message (#message-…) or a section is left where the browser put it.
  // (A link to a section still finds the conversation pane at its newest message.)
  function followNewest(list) {
    const form = $("prompt-form");
    const paneAtEnd = () => list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    const formInView = () => {
      const box = form.getBoundingClientRect();
      return box.top >= 0 && box.bottom <= window.innerHeight + 4;
    };
    function showNewest() {
      list.scrollTop = list.scrollHeight;
      if (!formInView()) form.scrollIntoView({ block: "end" });
    }
    const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    let follow = !target;
    let queued = false;
    const followed = () => {
      queued = false;
      if (follow) showNewest();
    };
    const changed = () => {
      if (follow && !queued) {
        queued = true;
        requestAnimationFrame(followed);
      }
    };
    // Scroll events come after our own scrolling too, which leaves both at the end.
    const moved = () => { if (!queued) follow = paneAtEnd() && formInView(); };
    if ("scrollRestoration" in history) history.scrollRestoration = "manual";
    if (follow) showNewest();
    else if (!list.contains(target)) list.scrollTop = list.scrollHeight;  // the pane only
    list.addEventListener("scroll", moved, { passive: true });
    window.addEventListener("scroll", moved, { passive: true });
    window.addEventListener("load", changed);
    const watch = { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["hidden"] };
    new MutationObserver(changed).observe(list, watch);
    new MutationObserver(changed).observe($("run-status"), watch);
  }

  // The review page's own script (static/review.js) uses the same helpers.
  window.Vibegrapher = { config, api, connect, fetchRetrying };
  if (!config.diffId) projectPage();
})();
