"""Cursor pagination of the API's lists: `{"results": [...], "next": <url> | null}`.

A page holds `?limit=` items (default `API_PAGE_SIZE`, at most `API_MAX_PAGE_SIZE`).
`next` is the URL of the following page, null on the last one. Its `cursor` is opaque
to clients: for rows it is the (created_at, id) of the page's last row, as
`<microseconds since 1970 UTC>-<id hex>`, so rows created or deleted between two
requests never make a page skip or repeat a row that was there all along; for commits
it is the sha of the page's last commit. Every string of the row cursor's pattern is
a position (the OpenAPI document states the pattern), so only a malformed one is a 400.
"""

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from django.conf import settings
from django.db import models
from django.http import HttpRequest, QueryDict
from rest_framework import serializers

from vibegrapher.api.api_errors import ApiError

RowT = TypeVar("RowT")  # a model instance, or a `.values()` dict
ItemT = TypeVar("ItemT")


# An empty cursor is no cursor (the first page). 17 digits of microseconds reach past
# the year 5000, well inside what `datetime` holds.
ROW_CURSOR_PATTERN = "^([0-9]{1,17}-[0-9a-f]{32})?$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def page_limit(request: HttpRequest) -> int:
    """`?limit=`, or the default page size; 400 naming the parameter when it is not 1..max."""
    raw = request.GET.get("limit")
    maximum = int(settings.API_MAX_PAGE_SIZE)
    if raw is None:
        return int(settings.API_PAGE_SIZE)
    # Digits only: int() would also take " 5", "+5", "5_0" and other scripts' digits.
    limit = int(raw) if re.fullmatch(r"[0-9]{1,6}", raw) else 0
    if not 1 <= limit <= maximum:
        raise ApiError(400, {"limit": [f"limit must be a whole number from 1 to {maximum}."]})
    return limit


def next_url(request: HttpRequest, cursor: str | None) -> str | None:
    """This request's URL with `cursor` replaced (and `after` dropped), or None."""
    if cursor is None:
        return None
    query: QueryDict = request.GET.copy()
    query.pop("after", None)
    query["cursor"] = cursor
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def encode_row_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    microseconds = (created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{microseconds}-{row_id.hex}"


def decode_row_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    if not re.fullmatch(ROW_CURSOR_PATTERN, cursor):
        raise ApiError(400, {"cursor": ["Not a cursor of this list: use the `next` URL as given."]})
    microseconds, row_id = cursor.split("-")
    return _EPOCH + timedelta(microseconds=int(microseconds)), uuid.UUID(hex=row_id)


def row_position(
    request: HttpRequest, anchor: tuple[datetime, uuid.UUID] | None = None
) -> tuple[int, tuple[datetime, uuid.UUID] | None]:
    """The page size, and the (created_at, id) to start after: `?cursor=`, else `anchor`."""
    limit = page_limit(request)
    cursor = request.GET.get("cursor")
    return limit, decode_row_cursor(cursor) if cursor else anchor


def row_page(request: HttpRequest, rows: list[RowT], limit: int) -> tuple[list[RowT], str | None]:
    """The page from `rows` (up to `limit + 1` read), and the next page's URL or None."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last: Any = page[-1]
    if isinstance(last, dict):  # rows read with `.values()`
        return page, next_url(request, encode_row_cursor(last["created_at"], last["id"]))
    return page, next_url(request, encode_row_cursor(last.created_at, last.id))


def keyset_page(
    request: HttpRequest,
    rows: "models.QuerySet[Any, RowT]",
    *,
    direction: Literal["newest_first", "oldest_first"],
    anchor: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[RowT], str | None]:
    """One page of `rows` ordered by (created_at, id), and the next page's URL.

    `rows` may be model instances or `.values()` dicts holding `created_at` and `id`.

    The position comes from `?cursor=`, else from `anchor` (e.g. `?after=<id>`).
    """
    limit, position = row_position(request, anchor)
    if direction == "newest_first":
        rows = rows.order_by("-created_at", "-id")
        if position is not None:
            created_at, row_id = position
            rows = rows.filter(created_at__lt=created_at) | rows.filter(
                created_at=created_at, id__lt=row_id
            )
    else:
        rows = rows.order_by("created_at", "id")
        if position is not None:
            created_at, row_id = position
            rows = rows.filter(created_at__gt=created_at) | rows.filter(
                created_at=created_at, id__gt=row_id
            )
    return row_page(request, list(rows[: limit + 1]), limit)


def sequence_page(
    request: HttpRequest,
    read: Callable[[str | None, int], Sequence[ItemT]],
    key: Callable[[ItemT], str],
) -> tuple[list[ItemT], str | None]:
    """A page from a source read as `read(after_key, count)` (git history by sha)."""
    limit = page_limit(request)
    items = list(read(request.GET.get("cursor") or None, limit + 1))
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, next_url(request, key(items[-1]))


def page_body(results: Iterable[Any], next_page: str | None) -> dict[str, Any]:
    return {"results": list(results), "next": next_page}


def paginated(item: serializers.Serializer | type[serializers.Serializer], name: str) -> Any:
    """The schema of a page of `item`, for `extend_schema(responses=...)`."""
    from drf_spectacular.utils import inline_serializer

    return inline_serializer(
        name=name,
        fields={
            "results": item if isinstance(item, serializers.Serializer) else item(many=True),
            "next": serializers.URLField(
                allow_null=True,
                help_text="The next page's URL (the same query, a new `cursor`); null on "
                "the last page.",
            ),
        },
    )
