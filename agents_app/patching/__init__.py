"""Apply a model's patch to the project's one file, or say exactly why not.

Models write imperfect diffs. This module accepts what it can place with certainty
and refuses the rest with an error a model can act on:

- code fences, wrapper tags (`<patch>`) and prose around (or between) hunks are
  dropped; a diff split over several fenced blocks is joined; a patch sent as a JSON
  string is decoded first; a message holding several patches (V4A blocks, a unified
  diff besides) is applied only when all give the same file; a unified diff inside a
  V4A envelope is read as unified;
- a line inside a hunk with no marker, followed by changes, is a context line that
  lost its leading space: it is placed like any context line (it must match);
- an added line that stands for left-out code (`# ... existing code ...`, a bare
  `...` replacing removed lines; see `patch_text.is_placeholder`) refuses the patch:
  applied literally it would delete the code it stands for;
- OpenAI's V4A format (`*** Begin Patch`) is read with the SDK's V4A parser (its
  `_read_anchors`/`_read_section`, pinned with openai-agents), and each of its
  chunks is placed by the same code as a unified hunk (below), never at the first
  of several places that fit. Its `@@ <line>` anchors (the whole line, or its start)
  narrow the search to the block the anchor line opens, or, when nothing fits
  there, to what follows the anchor line; a chunk of additions only goes right
  after a unique anchor; `*** End of File` means the chunk ends the file. V4A
  cannot state a final newline, so the file's ending is kept;
- a patch with a character no file can hold (a lone surrogate, NUL) is refused,
  naming its line and column; a surrogate pair is read as the character it encodes;
- a hunk with no `+` or `-` line changes nothing: the whole patch is refused (the
  model most likely forgot a marker);
- each unified-diff hunk is placed by the first of:
  1. "exact": its header's line number, if its context and removed lines are there
     and nowhere else; when they also occur elsewhere, only a header that reads
     like one `diff` wrote (counts and new start consistent) may choose;
  2. "relocated": the one place in the file where those lines occur (header numbers
     and counts are ignored, hunks may come in any order, a hunk may lack its
     `@@` line);
  3. "whitespace": the same two steps comparing lines with their whitespace
     collapsed (context and removed lines only; added lines go in verbatim, and
     context lines keep the file's own text);
  4. "dropped-context": the same, allowing the file to hold up to two lines the hunk
     left out between two of its context lines (a model that skipped a line it did
     not mean to change). The placement must be unique, the hunk must have at least
     three non-blank context or removed lines, the left-out lines must sit between
     two context lines with nothing added between them (never next to a removed
     line), they are kept as they are, and the result's `notes` say so;
- among several places, a `@@ ... @@ heading` (the def, class or top-level line
  `git diff` writes there) keeps those inside the line it names; a heading that
  contradicts the header's own line number refuses the hunk;
- a hunk whose new lines are already where it would put them (a patch sent again)
  is refused as already applied;
- whitespace comparison also ignores zero-width characters and a BOM; added lines
  indented with spaces in a tab-indented file (or the reverse) are re-indented as
  the file is; a file's BOM is kept;
- a hunk whose lines match nowhere, or in more than one place, is refused, naming
  the hunk and quoting the lines it looked for; when nothing matches, the error
  also shows the nearest place and the first line that differs there;
- the same hunk twice (same lines, placed at the same line) is applied once;
  hunks that overlap only on lines both keep as context are applied as one; hunks
  that overlap otherwise are refused;
- a hunk with no context or removed lines is placed by its header only at the
  very start or end of the file; elsewhere it is refused as unplaceable.

The file keeps its final newline (or its lack of one) unless the patch changes its
last line; then the hunk's "\\ No newline at end of file" marker decides.

The result must parse with `ast`. The stored diff is regenerated from the old and
new file as `git diff` writes it (`unified_diff`).
"""
