// The project page's node inspector: clicking a graph node (or Enter on it) shows that
// node's details beside the graph (below it on a narrow screen) instead of following the
// node's link, which would reload the page into the node's conversation. The details are
// server-rendered, hidden, in web/templates/web/_node_inspector.html; this only shows one.
// Nothing here scrolls the page: the conversation and the prompt stay where they were.
// Escape or Close hides the inspector and gives focus back to the node.
// Plain browser JavaScript, no build step.
(function () {
  "use strict";
  const inspector = document.getElementById("node-inspector");
  if (!inspector) return;
  const panel = document.getElementById("graph-body");
  const close = document.getElementById("node-inspector-close");
  const nodeLinks = () => document.querySelectorAll("#graph-drawing a, #graph-node-list a");
  let shown = null;  // the node id whose details are shown

  // A node's link (an SVG <a> from Graphviz, or the fallback list's) names it in ?focus=.
  function nodeIdOf(link) {
    const href = link.href && link.href.baseVal !== undefined
      ? link.href.baseVal || link.getAttribute("xlink:href")
      : link.getAttribute("href");
    if (!href) return null;
    return new URL(href, location.href).searchParams.get("focus");
  }

  function linkOf(nodeId) {
    return Array.from(nodeLinks()).find((link) => nodeIdOf(link) === nodeId) || null;
  }

  function detailsOf(nodeId) {
    return Array.from(inspector.querySelectorAll(".node-details"))
      .find((section) => section.dataset.nodeId === nodeId) || null;
  }

  function markSelected(nodeId) {
    for (const link of nodeLinks()) {
      const selected = nodeId !== null && nodeIdOf(link) === nodeId;
      if (selected) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
      const group = link.closest("g.node");
      if (group) group.classList.toggle("selected", selected);
    }
  }

  function open(nodeId) {
    const details = detailsOf(nodeId);
    if (!details) return false;
    for (const section of inspector.querySelectorAll(".node-details")) {
      section.hidden = section !== details;
    }
    inspector.hidden = false;
    panel.classList.add("inspecting");
    shown = nodeId;
    markSelected(nodeId);
    // Focus moves to the details for keyboard and screen-reader users, without scrolling.
    details.querySelector("h3").focus({ preventScroll: true });
    return true;
  }

  function hide() {
    if (shown === null) return;
    const nodeId = shown;
    shown = null;
    inspector.hidden = true;
    panel.classList.remove("inspecting");
    markSelected(null);
    const link = linkOf(nodeId);
    if (link) link.focus({ preventScroll: true });
  }

  // Marks a node's lines in the code (each line is a #code-span-N) and brings them into
  // view: only when asked, from the inspector's "lines" link.
  function showLines(first, last) {
    for (const marked of document.querySelectorAll("#code .node-marked")) {
      marked.classList.remove("node-marked");
    }
    for (let line = first; line <= last; line += 1) {
      const span = document.getElementById(`code-span-${line}`);
      if (span) span.classList.add("node-marked");
    }
    const start = document.getElementById(`code-span-${first}`);
    if (start) start.scrollIntoView({ block: "center" });
  }

  panel.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const neighbour = target.closest("a.node-neighbour");
    if (neighbour && open(neighbour.dataset.nodeId)) {
      event.preventDefault();
      return;
    }
    const lines = target.closest("a.node-lines");
    if (lines) {
      event.preventDefault();
      showLines(Number(lines.dataset.line), Number(lines.dataset.endLine));
      return;
    }
    const link = target.closest("#graph-drawing a, #graph-node-list a");
    if (!link) return;
    const nodeId = nodeIdOf(link);
    if (nodeId !== null && open(nodeId)) event.preventDefault();
  });

  close.addEventListener("click", hide);
  // Escape here closes the inspector only (the page's Escape, which stops a run, is not
  // asked for when the inspector is what the person is using).
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || shown === null) return;
    event.stopPropagation();
    hide();
  });
})();
