"""Where a project's files live: only under MEDIA_ROOT/projects, named from its slug."""

import re
from pathlib import Path

from django.conf import settings

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class UnsafePathError(ValueError):
    """A slug or file name that could reach outside the project's directory."""


def projects_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "projects"


def _inside_root(slug: str, name: str) -> Path:
    if not SLUG_PATTERN.fullmatch(slug):
        raise UnsafePathError(f"{slug!r} is not a project slug.")
    root = projects_root().resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise UnsafePathError(f"{name!r} is outside {root}.")
    return path


def repository_dir(slug: str) -> Path:
    return _inside_root(slug, slug)


def conversations_db(slug: str) -> Path:
    return _inside_root(slug, f"{slug}_conversations.db")


def check_file_name(filename: str) -> str:
    """A plain file name at the repository's top level, nothing that climbs or nests."""
    if (
        not filename
        or filename in (".", "..")
        or "/" in filename
        or "\\" in filename
        or "\x00" in filename
        or filename.startswith(".git")
    ):
        raise UnsafePathError(f"{filename!r} is not a plain file name.")
    return filename
