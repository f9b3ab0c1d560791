// The test-case editor of Vibegrapher (web/static/review.js): CodeMirror 6 with Python
// highlighting, as one script with no imports, written to
// web/static/vendor/codemirror/codemirror.min.js by `npm ci && npm run build` here.
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  bracketMatching, defaultHighlightStyle, indentOnInput, indentUnit, syntaxHighlighting,
} from "@codemirror/language";
import { python } from "@codemirror/lang-python";

// Mounted in a shadow root: there CodeMirror's styles go into a constructed
// stylesheet (adoptedStyleSheets) instead of a <style> element, which the site's
// Content-Security-Policy (no inline styles) would block.
const theme = EditorView.theme({
  "&": { maxHeight: "24rem", fontSize: "12.5px", backgroundColor: "#fff" },
  ".cm-scroller": { overflow: "auto", fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace" },
  "&.cm-focused": { outline: "2px solid #2563eb", outlineOffset: "-1px" },
});

function pythonEditor(host, doc, onChange, label) {
  const root = host.attachShadow({ mode: "open" });
  const parent = document.createElement("div");
  root.append(parent);
  return new EditorView({
    root,
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightActiveLine(), drawSelection(),
        history(), indentOnInput(), bracketMatching(), indentUnit.of("    "),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }), python(), theme,
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.contentAttributes.of({ "aria-label": label }),
        EditorView.updateListener.of((update) => { if (update.docChanged) onChange(update.state.doc.toString()); }),
      ],
    }),
  });
}

window.VibegrapherEditor = { pythonEditor };
