// The review page's graph change follows the project live: when the code changes or a
// new round of the diff arrives, the drawing is fetched again (vibegrapher.js forwards
// the WebSocket's events as "vibegrapher:event"). Plain browser JavaScript, no build step.
(function () {
  "use strict";
  const panel = document.getElementById("graph-diff");
  if (!panel) return;

  async function refresh() {
    const response = await fetch(panel.dataset.url, { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    const drawing = document.getElementById("graph-drawing");
    if (!data.svg) {
      // Not drawn (too big, or its layout ran out of time): say why where it would be.
      if (!data.error) return;
      const message = document.createElement("p");
      message.className = "error";
      message.id = "graph-error";
      message.textContent = data.error;
      document.getElementById("graph-error")?.remove();
      drawing.replaceChildren();
      drawing.before(message);
      return;
    }
    document.getElementById("graph-error")?.remove();
    // The SVG comes from our own server (Graphviz output, names escaped by it).
    const parsed = new DOMParser().parseFromString(data.svg, "image/svg+xml");
    const svg = parsed.documentElement;
    if (svg.nodeName !== "svg") return;
    drawing.replaceChildren(document.importNode(svg, true));
    panel.dataset.refreshed = String(Number(panel.dataset.refreshed || 0) + 1);
  }

  document.addEventListener("vibegrapher:event", (event) => {
    const type = event.detail && event.detail.type;
    if (type === "code_changed" || type === "diff_created") refresh().catch(() => {});
  });
})();
