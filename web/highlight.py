"""Syntax highlighting for the pages, with Pygments (server side, no build step)."""

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer


def _formatter() -> HtmlFormatter[str]:
    return HtmlFormatter(linenos="table", cssclass="hl", wrapcode=True)


def python_html(code: str) -> SafeString:
    # Pygments escapes the code: the markup is its own.
    return mark_safe(highlight(code, PythonLexer(), _formatter()))


def diff_html(diff: str) -> SafeString:
    return mark_safe(highlight(diff, DiffLexer(), _formatter()))


def stylesheet() -> str:
    return str(_formatter().get_style_defs(".hl"))
