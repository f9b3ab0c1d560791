// "Try it" (web/templates/web/_trial_panel.html): the workflow run on an input in the
// sandbox, traced live. On the project page one trial at HEAD, its active agent and
// the handoffs and tools it went through marked on the graph in order; on the review
// page the same input on the diff's base and patched code, side by side.
//
// A trial is started with POST /api/projects/{id}/trials; its spans come as the
// project socket's `trial_status`, `trial_span` and `trial_finished` events (which
// vibegrapher.js forwards as "vibegrapher:event"); a stored trial is read with
// GET /api/trials/{id} and its spans replayed the same way. Events of a trial that
// arrive before its POST has answered wait for it; a trial whose events stop coming
// (the socket was down) is read back from the API.
// Plain browser JavaScript, no build step; `config` and `api` come from vibegrapher.js.
(function () {
  "use strict";
  const panel = document.getElementById("try-it");
  if (!panel || !window.Vibegrapher) return;
  const { config, api } = window.Vibegrapher;
  const $ = (id) => document.getElementById(id);
  const setup = config.trial || { entry: "", choices: [], nodes: [] };
  const compare = Boolean(config.diffId);
  const FINISHED = new Set(["completed", "failed", "cancelled", "timeout"]);
  const STATUS_WORDS = {
    starting: "starting", queued: "queued", running: "running", completed: "completed",
    failed: "failed", cancelled: "cancelled", timeout: "timed out", refused: "not started",
  };
  const SIDE_WORDS = { head: "HEAD", base: "base", patched: "patched" };
  // Without an event for this long, a running trial is read back from the API.
  const QUIET_MS = 5000;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function pretty(value) {
    if (value === undefined || value === null) return "";
    if (typeof value !== "string") return JSON.stringify(value, null, 2);
    try {
      const parsed = JSON.parse(value);
      return typeof parsed === "object" && parsed !== null ? JSON.stringify(parsed, null, 2) : value;
    } catch (_) {
      return value;
    }
  }

  function usd(cost) {
    if (cost === 0) return "$0";
    return cost > 0 && cost < 0.0001 ? "<$0.0001" : `$${cost.toFixed(4)}`;
  }

  function seconds(ms) {
    return ms < 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
  }

  // What a span's step is on the graph: the kind of node it reaches, by which edges.
  const EDGE_WAYS = {
    handoff: { to: ["agent"], edges: ["handoff"] },
    tool: { to: ["tool", "agent"], edges: ["tool", "agent_tool"] },
    guardrail: { to: ["guardrail"], edges: ["input_guardrail", "output_guardrail"] },
  };

  // --- The graph (project page): the active agent, and each edge taken, numbered ---------
  function graphMarker() {
    const drawing = $("graph-drawing");
    if (!drawing || compare) return null;
    const nodeInfo = new Map((setup.nodes || []).map(([id, label, kind]) => [id, { label, kind }]));
    const SVG = "http://www.w3.org/2000/svg";

    // Graphviz names each node by a key ("n2", its <title>); its link names its id.
    function drawnNodes() {
      const nodes = [];
      for (const group of drawing.querySelectorAll("g.node")) {
        const link = group.querySelector("a");
        const href = link && (link.getAttribute("xlink:href") || link.getAttribute("href"));
        if (!href) continue;
        const id = new URL(href, location.href).searchParams.get("focus");
        const info = nodeInfo.get(id);
        if (!info) continue;
        nodes.push({ key: group.querySelector("title").textContent, id, group, ...info });
      }
      return nodes;
    }

    function nodeNamed(name, kinds) {
      return drawnNodes().find((node) => node.label === name && kinds.includes(node.kind)) || null;
    }

    function edgeBetween(from, to, kinds) {
      for (const group of drawing.querySelectorAll("g.edge")) {
        const [source, target] = group.querySelector("title").textContent.split("->");
        if (source === from.key && target === to.key && kinds.some((k) => group.classList.contains(k))) return group;
      }
      return null;
    }

    function numberEdge(edge, step) {
      const label = edge.querySelector("text");
      const number = document.createElementNS(SVG, "text");
      number.setAttribute("class", "trial-step");
      number.setAttribute("text-anchor", "middle");
      if (label) {
        number.setAttribute("x", label.getAttribute("x"));
        number.setAttribute("y", String(Number(label.getAttribute("y")) - 11));
      }
      number.textContent = String(step);
      edge.append(number);
    }

    let activeName = null;
    return {
      get activeName() { return activeName; },
      clear() {
        activeName = null;
        // The legend explains the marks once there are some.
        if ($("trial-legend")) $("trial-legend").hidden = false;
        drawing.querySelectorAll(".trial-active, .trial-visited, .trial-traversed").forEach((node) => {
          node.classList.remove("trial-active", "trial-visited", "trial-traversed");
        });
        drawing.querySelectorAll(".trial-step").forEach((node) => node.remove());
      },
      active(name) {
        activeName = name;
        drawing.querySelectorAll(".trial-active").forEach((node) => node.classList.remove("trial-active"));
        const node = name ? nodeNamed(name, ["agent"]) : null;
        if (node) node.group.classList.add("trial-active", "trial-visited");
      },
      visited(name) {
        const node = nodeNamed(name, ["agent"]);
        if (node) node.group.classList.add("trial-visited");
      },
      // An edge taken from an agent: a handoff, a tool call or a guardrail checked.
      traversed(kind, fromName, toName, step) {
        const way = EDGE_WAYS[kind];
        const from = nodeNamed(fromName, ["agent"]);
        const to = way && nodeNamed(toName, way.to);
        if (!from || !to) return;
        to.group.classList.add("trial-visited");
        const edge = edgeBetween(from, to, way.edges);
        if (!edge) return;
        edge.classList.add("trial-traversed");
        numberEdge(edge, step);
      },
    };
  }

  // --- One trial shown: its status, transcript, path, answer and usage ---------------------
  function trialView(root, marker) {
    const transcript = root.querySelector(".trial-transcript");
    const pathBox = root.querySelector(".trial-path-box");
    const path = root.querySelector(".trial-path");
    const statusBadge = root.querySelector(".trial-status");
    const meta = root.querySelector(".trial-meta");
    const final = root.querySelector(".trial-final");
    const errorBox = root.querySelector(".trial-error");
    const usageLine = root.querySelector(".trial-usage");
    const sandbox = root.querySelector(".trial-sandbox");
    let state = null;
    let timer = null;

    function fresh(id) {
      return {
        id, status: "starting", entry: "", side: root.dataset.side, spans: new Map(), items: new Map(),
        usage: new Map(), steps: 0, stepped: new Set(), startedAt: Date.now(), lastEventAt: Date.now(),
      };
    }

    function setStatus(status) {
      state.status = status;
      statusBadge.textContent = STATUS_WORDS[status] || status;
      statusBadge.className = `badge trial-status status-${status === "completed" ? "passed" : status}`;
      root.dataset.status = status;
      showMeta();
    }

    function showMeta(durationMs) {
      const parts = [];
      if (state.entry) parts.push(`entry ${state.entry}`);
      if (!compare && state.side && state.side !== "head") parts.push(`${SIDE_WORDS[state.side] || state.side} code`);
      if (durationMs !== undefined && durationMs !== null) parts.push(seconds(durationMs));
      else if (!FINISHED.has(state.status) && state.status !== "refused") parts.push(seconds(Date.now() - state.startedAt));
      meta.textContent = parts.join(" · ");
    }

    function tick() {
      if (state && !FINISHED.has(state.status)) showMeta();
    }

    function clear(id) {
      state = fresh(id);
      root.hidden = false;
      transcript.replaceChildren();
      path.replaceChildren();
      pathBox.hidden = true;
      final.hidden = true;
      errorBox.hidden = true;
      errorBox.textContent = "";
      usageLine.textContent = "";
      sandbox.hidden = true;
      sandbox.open = false;
      if (marker) marker.clear();
      clearInterval(timer);
      timer = setInterval(tick, 1000);
      setStatus("starting");
    }

    // The agent a span ran in: the nearest agent span above it.
    function agentOf(span) {
      let parent = span.parent_id ? state.spans.get(span.parent_id) : null;
      while (parent) {
        if (parent.type === "agent") return parent.name;
        parent = parent.parent_id ? state.spans.get(parent.parent_id) : null;
      }
      return "";
    }

    function errorText(error) {
      if (!error) return "";
      if (typeof error === "string") return error;
      const detail = error.data ? ` ${pretty(error.data)}` : "";
      return `${error.message || "error"}${detail}`;
    }

    function labelled(label, text, className) {
      const box = el("div", `trial-field ${className || ""}`.trim());
      box.append(el("span", "trial-field-label muted", label), el("pre", "trial-pre", text));
      return box;
    }

    // What a model said: a Responses `message`, or a Chat Completions assistant message.
    function said(span) {
      const texts = [];
      const output = (span.data || {}).output;
      for (const item of Array.isArray(output) ? output : []) {
        if (!item || typeof item !== "object") continue;
        if (item.type === "message" && item.text) texts.push(item.text);
        else if (item.role === "assistant" && typeof item.content === "string" && item.content) texts.push(item.content);
      }
      return texts.join("\n");
    }

    function renderSpan(li, span) {
      li.replaceChildren();
      li.hidden = false;
      const data = span.data || {};
      const ended = Boolean(span.ended_at);
      const head = el("div", "trial-item-head");
      li.append(head);
      if (span.type === "agent") {
        head.append(el("span", "trial-kind", "Agent"), " ", el("strong", "", span.name));
      } else if (span.type === "response" || span.type === "generation") {
        const text = said(span);
        if (!text && !data.error) { li.hidden = true; return; }
        head.append(el("strong", "", agentOf(span) || "Model"), " ", el("span", "muted", span.name));
        if (text) li.append(el("pre", "content trial-said", text));
      } else if (span.type === "function") {
        head.append(el("span", "trial-kind", "Tool"), " ", el("strong", "", span.name));
        if (!ended) head.append(" ", el("span", "muted", "running…"));
        if (data.input !== undefined && data.input !== null && data.input !== "") li.append(labelled("arguments", pretty(data.input)));
        // A failed tool's output is what the model was told of the failure.
        if (ended && data.output !== undefined && data.output !== null) {
          li.append(labelled(data.error ? "told the model" : "result", pretty(data.output), "trial-result"));
        }
      } else if (span.type === "handoff") {
        const from = data.from_agent || agentOf(span) || "?";
        const to = data.to_agent || (ended ? "?" : "…");
        head.append(el("span", "trial-kind", "Handoff"), " ", el("strong", "", `${from} → ${to}`));
      } else if (span.type === "guardrail") {
        const tripped = data.triggered === true;
        head.append(el("span", "trial-kind", "Guardrail"), " ", el("strong", "", span.name), " ");
        head.append(el("span", `badge ${tripped ? "status-failed" : "status-passed"}`, ended ? (tripped ? "tripped" : "passed") : "checking…"));
      } else if (data.error) {
        head.append(el("span", "trial-kind", span.type), " ", el("strong", "", span.name));
      } else {
        li.hidden = true;
        return;
      }
      if (data.error) {
        li.classList.add("trial-failed");
        li.append(labelled("error", errorText(data.error), "trial-span-error"));
      }
      // The trial's own account of a failure the SDK hides (a server the tool tried to reach).
      if (data.hint) {
        const reached = Array.isArray(data.network) && data.network.length ? ` (it tried ${data.network.join(", ")})` : "";
        li.append(el("p", "trial-hint", `${data.hint}${reached}`));
      }
    }

    function addStep(kind, from, to, key) {
      if (state.stepped.has(key)) return;
      state.stepped.add(key);
      state.steps += 1;
      pathBox.hidden = false;
      path.append(el("li", "", `${from} → ${to} (${kind})`));
      if (marker) marker.traversed(kind, from, to, state.steps);
    }

    function showTokens() {
      let input = 0;
      let output = 0;
      for (const usage of state.usage.values()) {
        input += Number(usage.input_tokens || usage.prompt_tokens || 0);
        output += Number(usage.output_tokens || usage.completion_tokens || 0);
      }
      if (input + output) usageLine.textContent = `${(input + output).toLocaleString("en-US")} tokens so far (${input} in, ${output} out)`;
    }

    function applySpan(phase, span) {
      state.lastEventAt = Date.now();
      const known = state.spans.get(span.id);
      // An end can come first when events were lost; a late start never undoes an end.
      if (known && known.ended_at && phase === "start") return;
      state.spans.set(span.id, span);
      if (!FINISHED.has(state.status) && state.status !== "running") setStatus("running");
      // The transcript follows what is written unless the person scrolled up to read.
      const following = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
      let li = state.items.get(span.id);
      if (!li) {
        li = el("li", `trial-item trial-${span.type}`);
        li.dataset.spanId = span.id;
        state.items.set(span.id, li);
        transcript.append(li);
      }
      renderSpan(li, span);
      if (following) transcript.scrollTop = transcript.scrollHeight;
      const data = span.data || {};
      if (span.type === "agent") {
        if (marker) marker.visited(span.name);
        // Live, the agent running is the one whose span started last and has not ended.
        if (marker && !FINISHED.has(state.status)) {
          if (phase === "start") marker.active(span.name);
          else if (marker.activeName === span.name) marker.active(null);
        }
      } else if (span.type === "handoff" && data.from_agent && data.to_agent) {
        addStep("handoff", data.from_agent, data.to_agent, span.id);
      } else if (span.type === "function") {
        const agent = agentOf(span);
        if (agent) addStep("tool", agent, span.name, span.id);
      } else if (span.type === "guardrail") {
        const agent = agentOf(span);
        if (agent) addStep("guardrail", agent, span.name, span.id);
      } else if ((span.type === "response" || span.type === "generation") && data.usage) {
        state.usage.set(span.id, data.usage);
        showTokens();
      }
    }

    function showUsage(trial) {
      const usage = trial.usage || {};
      const parts = [`${usage.requests || 0} model request${usage.requests === 1 ? "" : "s"}`];
      parts.push(`${(usage.total_tokens || 0).toLocaleString("en-US")} tokens (${usage.input_tokens || 0} in, ${usage.output_tokens || 0} out)`);
      if (trial.cost_usd !== undefined && trial.cost_usd !== null) parts.push(usd(Number(trial.cost_usd)));
      usageLine.textContent = parts.join(" · ");
    }

    function finish(trial) {
      clearInterval(timer);
      timer = null;
      setStatus(trial.status);
      showMeta(trial.duration_ms);
      if (marker) marker.active(null);
      if (trial.final_output !== null && trial.final_output !== undefined) {
        final.hidden = false;
        final.querySelector(".trial-output").textContent = trial.final_output;
        final.querySelector(".trial-last-agent").textContent = trial.last_agent ? `from ${trial.last_agent}` : "";
      }
      if (trial.error) {
        errorBox.hidden = false;
        errorBox.textContent = trial.error;
      }
      showUsage(trial);
      offerSaving(trial);
    }

    // "Save this as a case" (cases.js): its input, entry and what it did, to edit.
    function offerSaving(trial) {
      const old = final.querySelector(".trial-save-case");
      if (old) old.remove();
      const trialId = trial.id || trial.trial_id || (state && state.id);
      if (trial.status !== "completed" || !trialId || !window.vibegrapherCases) return;
      const button = el("button", "secondary trial-save-case", "Save this as a case");
      button.type = "button";
      button.addEventListener("click", () => window.vibegrapherCases.saveTrialAsCase(trialId));
      final.appendChild(button);
    }

    // A stored trial, whole: replayed as its events would have shown it.
    function show(trial) {
      clear(trial.id);
      state.entry = trial.entry || "";
      state.side = trial.side || root.dataset.side;
      if (trial.created_at) state.startedAt = Date.parse(trial.created_at);
      setStatus(trial.status);
      for (const span of trial.spans || []) applySpan(span.ended_at ? "end" : "start", span);
      if (FINISHED.has(trial.status)) finish(trial);
      else {
        // Its active agent: the last agent span still open.
        const open = (trial.spans || []).filter((s) => s.type === "agent" && !s.ended_at).pop();
        if (marker) marker.active(open ? open.name : null);
      }
    }

    return {
      get id() { return state && state.id; },
      get running() { return Boolean(state && state.id && !FINISHED.has(state.status) && state.status !== "refused"); },
      get quietFor() { return state ? Date.now() - state.lastEventAt : 0; },
      get spanCount() { return state ? state.spans.size : 0; },
      starting() {
        clear(null);
      },
      // What the workflow printed (and its traceback), folded: only the stored trial has it.
      sandboxOutput(text) {
        sandbox.hidden = !text;
        sandbox.querySelector("pre").textContent = text || "";
      },
      heard() {
        if (state) state.lastEventAt = Date.now();
      },
      started(id, status) {
        state.id = id;
        state.lastEventAt = Date.now();
        if (status && state.status === "starting") setStatus(status);
      },
      hide() {
        clearInterval(timer);
        if (state) state.status = "refused";
        root.hidden = true;
      },
      refused(message) {
        setStatus("refused");
        clearInterval(timer);
        errorBox.hidden = false;
        errorBox.textContent = message;
      },
      event(event) {
        if (event.type === "trial_status") {
          state.lastEventAt = Date.now();
          state.entry = event.entry || state.entry;
          state.side = event.side || state.side;
          if (!FINISHED.has(state.status)) setStatus(event.status);
        } else if (event.type === "trial_span") {
          applySpan(event.phase, event.span);
        } else if (event.type === "trial_finished") {
          finish(event);
        }
      },
      show,
    };
  }

  // --- The panel: run, cancel, follow events, earlier trials --------------------------------
  const marker = graphMarker();
  const views = {};
  for (const root of panel.querySelectorAll(".trial-view")) views[root.dataset.side] = trialView(root, marker);
  const sides = compare ? ["base", "patched"] : ["head"];
  const errorLine = $("trial-error");
  const runButton = $("trial-run");
  const cancelButton = $("trial-cancel");
  // Events of trials this page does not know yet (a POST not answered yet), by trial id.
  const waiting = new Map();
  const MAX_WAITING = 500;

  const viewOf = (trialId) => Object.values(views).find((view) => view.id === trialId) || null;
  const anyRunning = () => Object.values(views).some((view) => view.running);

  function showRunning() {
    const running = anyRunning();
    runButton.disabled = running;
    cancelButton.hidden = !running;
    cancelButton.disabled = false;
  }

  function hold(event) {
    let count = 0;
    for (const events of waiting.values()) count += events.length;
    if (count >= MAX_WAITING) waiting.delete(waiting.keys().next().value);
    if (!waiting.has(event.trial_id)) waiting.set(event.trial_id, []);
    waiting.get(event.trial_id).push(event);
  }

  // The stored trial replaces what is shown when it knows more (or `whole`, after a reload).
  async function readBack(view, whole) {
    const trial = await api("GET", `/api/trials/${view.id}`);
    if (view.id !== trial.id) return;
    const ended = FINISHED.has(trial.status) && view.running;  // its trial_finished was missed
    if (whole || ended || (trial.spans || []).length > view.spanCount) view.show(trial);
    else view.heard();
    if (FINISHED.has(trial.status)) view.sandboxOutput(trial.output);
    showRunning();
    return trial;
  }

  document.addEventListener("vibegrapher:event", (message) => {
    const event = message.detail;
    if (!event || !String(event.type).startsWith("trial_")) return;
    const view = viewOf(event.trial_id);
    if (!view) {
      hold(event);
      if (event.type === "trial_finished") refreshList();
      return;
    }
    view.event(event);
    if (event.type === "trial_finished") {
      showRunning();
      refreshList();
      // Spans missed while the socket was away: the stored trial has them all.
      readBack(view, false).catch(() => {});
    }
  });

  // A trial whose events stopped coming (the socket reconnecting): read from the API.
  setInterval(() => {
    for (const view of Object.values(views)) {
      if (view.running && view.quietFor > QUIET_MS) readBack(view).catch(() => {});
    }
  }, QUIET_MS);

  async function start(view, side, body) {
    view.starting();
    try {
      const started = await api("POST", `/api/projects/${config.projectId}/trials`, body);
      view.started(started.id, started.status);
      for (const event of waiting.get(started.id) || []) view.event(event);
      waiting.delete(started.id);
    } catch (error) {
      // Why the server refused: under the buttons, or in its side's own column.
      const message = error.message || String(error);
      if (compare) view.refused(message);
      else {
        view.hide();
        errorLine.textContent = message;
      }
    }
    showRunning();
  }

  async function run() {
    errorLine.textContent = "";
    const input = $("trial-input").value;
    if (!input.trim()) {
      errorLine.textContent = "Type an input for the workflow to answer.";
      $("trial-input").focus();
      return;
    }
    const entry = $("trial-entry").value;
    runButton.disabled = true;
    await Promise.all(sides.map((side) => {
      const body = { input };
      if (entry) body.entry = entry;
      if (compare) Object.assign(body, { diff_id: config.diffId, side });
      return start(views[side], side, body);
    }));
    showRunning();
  }

  $("trial-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!runButton.disabled) run();
  });
  $("trial-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (!runButton.disabled) run();
    }
  });
  cancelButton.addEventListener("click", async () => {
    cancelButton.disabled = true;
    errorLine.textContent = "";
    for (const view of Object.values(views)) {
      if (!view.running) continue;
      try {
        await api("POST", `/api/trials/${view.id}/cancel`);
      } catch (error) {
        // 409: it finished meanwhile (its trial_finished is on the way or came).
        readBack(view).catch(() => {});
        errorLine.textContent = `Could not cancel: ${error.message}`;
      }
    }
    cancelButton.disabled = false;
  });

  // --- Earlier trials: newest first; one clicked is shown (and its input put back) --------
  const list = $("trial-list");
  let listing = null;
  let listed = [];

  function listItem(trial) {
    const li = el("li", "trial-list-item");
    const button = el("button", "trial-load secondary");
    button.type = "button";
    button.dataset.trialId = trial.id;
    button.dataset.side = trial.side;
    const status = el("span", `badge status-${trial.status === "completed" ? "passed" : trial.status}`, STATUS_WORDS[trial.status] || trial.status);
    const input = trial.input.length > 80 ? `${trial.input.slice(0, 80)}…` : trial.input;
    button.append(status, " ", el("span", "trial-list-input", input));
    const when = new Date(trial.created_at);
    const details = [compare ? SIDE_WORDS[trial.side] : "", trial.entry, when.toLocaleString()];
    if (trial.last_agent) details.push(`answered by ${trial.last_agent}`);
    button.setAttribute("aria-label", `Show the trial “${input}” (${trial.status}, ${details.filter(Boolean).join(", ")})`);
    li.append(button, " ", el("span", "muted", details.filter(Boolean).join(" · ")));
    return li;
  }

  async function loadList() {
    const query = compare ? `?diff_id=${config.diffId}` : "";
    const page = await api("GET", `/api/projects/${config.projectId}/trials${query}`);
    const trials = page.results || [];
    listed = trials;
    list.replaceChildren(...trials.slice(0, 20).map(listItem));
    $("trial-list-empty").hidden = trials.length > 0;
    return trials;
  }

  function refreshList() {
    if (!listing) listing = loadList().catch(() => []).finally(() => { listing = null; });
    return listing;
  }

  // On the review page a trial's other side (the same input, started with it) comes too.
  function pairOf(trialId) {
    const trial = listed.find((t) => t.id === trialId);
    if (!compare || !trial) return null;
    const at = Date.parse(trial.created_at);
    return listed.find((t) => t.side !== trial.side && t.input === trial.input
      && Math.abs(Date.parse(t.created_at) - at) < 10000) || null;
  }

  async function showStored(trialId, side) {
    const view = views[side] || views[sides[sides.length - 1]];
    const trial = await api("GET", `/api/trials/${trialId}`);
    $("trial-input").value = trial.input;
    view.show(trial);
    view.sandboxOutput(trial.output);
  }

  list.addEventListener("click", async (event) => {
    const button = event.target.closest(".trial-load");
    if (!button) return;
    errorLine.textContent = "";
    const pair = pairOf(button.dataset.trialId);
    try {
      await showStored(button.dataset.trialId, button.dataset.side);
      if (pair) await showStored(pair.id, pair.side);
    } catch (error) {
      errorLine.textContent = `Could not load the trial: ${error.message}`;
    }
    showRunning();
  });

  // On opening the page, a trial still running (from before a reload) is followed again.
  refreshList().then((trials) => {
    for (const side of sides) {
      const latest = trials.find((t) => t.side === side);
      if (latest && !FINISHED.has(latest.status) && !views[side].id) {
        views[side].starting();
        views[side].started(latest.id, latest.status);
        readBack(views[side], true).then((trial) => {
          if (trial && !$("trial-input").value) $("trial-input").value = trial.input;
        }).catch(() => {});
      }
    }
  });
})();
