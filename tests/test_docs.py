"""The documentation holds together: its links lead somewhere and its names are real.

README.md, docs/*.md and bench/README.md are the project's only manual, read on GitHub
and in a checkout alike. A link to a moved page, an anchor to a renamed heading or a
path to a module that no longer exists sends a reader nowhere, and nothing else would
notice. These checks read the Markdown only: no database, no server.
"""

import ast
import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")]
)

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# The repository's top-level folders a backticked path may start with, now and in the
# layout the code is moving to (web/, testruns/).
REPO_FOLDERS = {
    ".ci",
    ".github",
    "accounts",
    "agents_app",
    "bench",
    "cases",
    "docs",
    "projects",
    "reviews",
    "sessions_app",
    "static",
    "templates",
    "testruns",
    "tests",
    "trials",
    "vendor",
    "vibegrapher",
    "web",
}
REPO_PATH = re.compile(r"[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*/?")


def prose_lines(path: Path) -> list[str]:
    """The document's lines outside fenced code blocks (blank lines stand in for them)."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = CODE_SPAN.sub(lambda match: match.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text).lower()
    kept = "".join(
        char for char in text if char in " -_" or unicodedata.category(char)[0] in {"L", "N"}
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(path):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link and image outside code."""
    found = []
    for number, line in enumerate(prose_lines(path), start=1):
        outside_code = CODE_SPAN.sub("", line)
        found += [(number, match.group(1)) for match in LINK.finditer(outside_code)]
    return found


def test_every_relative_link_leads_to_a_file_and_heading_in_the_repository() -> None:
    broken = []
    for document in DOCUMENTS:
        where = document.relative_to(ROOT)
        for number, target in links(document):
            if re.match(r"[a-z][a-z0-9+.\-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (document.parent / file_part).resolve() if file_part else document
            if not resolved.is_relative_to(ROOT):
                broken.append(f"{where}:{number}: {target} leaves the repository")
            elif not resolved.exists():
                broken.append(f"{where}:{number}: {target}: no such file")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{where}:{number}: {target}: no such heading")
    assert not broken, "Broken links:\n" + "\n".join(broken)


def test_slug_follows_github() -> None:
    assert slug("Where repositories live: `GIT_STORAGE`") == "where-repositories-live-git_storage"
    assert slug("A run's owner, and what happens when it goes") == (
        "a-runs-owner-and-what-happens-when-it-goes"
    )
    assert slug("Cross-origin clients (CORS)") == "cross-origin-clients-cors"


def event_types() -> list[str]:
    """Every `type` of sessions_app/events.py's TypedDicts (`type: Literal["..."]`)."""
    tree = ast.parse((ROOT / "sessions_app" / "events.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        annotation = node.annotation
        if (
            node.target.id == "type"
            and isinstance(annotation, ast.Subscript)
            and isinstance(annotation.value, ast.Name)
            and annotation.value.id == "Literal"
            and isinstance(annotation.slice, ast.Constant)
            and isinstance(annotation.slice.value, str)
        ):
            found.append(annotation.slice.value)
    return found


def test_api_guide_lists_every_event_type() -> None:
    types = event_types()
    assert "conversation_message" in types and "quick_test" in types
    guide = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [name for name in types if f"| `{name}` |" not in guide]
    assert not missing, f"docs/api.md's event table lacks {missing}"


def named_paths(path: Path) -> list[tuple[int, str]]:
    """(line number, path) of every backticked repository path, such as
    `projects/code.py` or `testruns/`: a path of plain names whose first folder is one
    of the repository's own."""
    found = []
    for number, line in enumerate(prose_lines(path), start=1):
        for match in CODE_SPAN.finditer(line):
            text = match.group(2).strip()
            if "/" not in text or not REPO_PATH.fullmatch(text):
                continue
            if text.split("/", 1)[0] in REPO_FOLDERS:
                found.append((number, text))
    return found


def test_docs_name_existing_paths() -> None:
    """Every repository path the documents name exists.

    The documents describe the layered layout the code is moving to (web/, testruns/,
    projects/git/, projects/graph/, vibegrapher/server/ ...): until every move has
    landed this lists the paths still to reconcile, document or code.
    """
    missing = sorted(
        {
            f"{document.relative_to(ROOT)}:{number}: {name}"
            for document in DOCUMENTS
            for number, name in named_paths(document)
            if not (ROOT / name).exists()
        }
    )
    assert not missing, "Paths named in the documents that do not exist:\n" + "\n".join(missing)
