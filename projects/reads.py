"""The project list and a project, read with one prepared SQL statement each.

Every page load and every client's polling reads these. Through the ORM, building and
compiling the query and converting each row's values field by field (two datetimes
and a UUID per row, each converter looking settings up again) was most of a project
list's time in the view. Here the SQL is written once per process from the model's
own table and column names, values go in adapted by the model's fields (as the ORM
would adapt them), and the rows come back as `.values()` would give them. The rows
are compared with the ORM's in projects/tests/test_reads.py.
"""

import functools
import uuid
from datetime import datetime
from typing import Any

from django.db import connection, models

from projects.models import Project
from projects.serializers import ProjectDetailSerializer, ProjectSerializer

# The columns of a project as the API shows it (the owner apart), in its order.
COLUMNS = tuple(field for field in ProjectSerializer.Meta.fields if field != "owner")
DETAIL_COLUMNS = tuple(field for field in ProjectDetailSerializer.Meta.fields if field != "owner")


@functools.cache
def _statement(vendor: str, query: str) -> str:
    """The SQL of `query` ("page", "page_after" or "one") for this database."""
    quote = connection.ops.quote_name
    detail = query == "one"
    selected = ", ".join(quote(column) for column in (DETAIL_COLUMNS if detail else COLUMNS))
    where = {
        "one": "{id} = %s AND {owner} = %s",
        "page": "{owner} = %s",
        # Newest first by (created_at, id): the rows strictly after the cursor's.
        "page_after": "{owner} = %s AND ({created} < %s OR ({created} = %s AND {id} < %s))",
    }[query].format(id=quote("id"), owner=quote("owner_id"), created=quote("created_at"))
    tail = "" if detail else f" ORDER BY {quote('created_at')} DESC, {quote('id')} DESC LIMIT %s"
    return f"SELECT {selected} FROM {quote(Project._meta.db_table)} WHERE {where}{tail}"


def _db(field: str, value: Any) -> Any:
    """`value` as the ORM would send it to the database for `field`."""
    model_field = Project._meta.get_field(field)
    assert isinstance(model_field, models.Field)
    return model_field.get_db_prep_value(value, connection)


def _rows(sql: str, params: list[Any], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    # SQLite returns datetimes as text in the connection's time zone and UUIDs as hex;
    # PostgreSQL returns them typed. Either way they come out as `.values()` has them.
    zone = connection.timezone
    rows = []
    for values in fetched:
        row = dict(zip(columns, values, strict=True))
        row["id"] = _uuid(row["id"])
        row["created_at"] = _aware(row["created_at"], zone)
        row["updated_at"] = _aware(row["updated_at"], zone)
        rows.append(row)
    return rows


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _aware(value: datetime | str, zone: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def project_page(
    owner_id: int, count: int, after: tuple[datetime, uuid.UUID] | None = None
) -> list[dict[str, Any]]:
    """Up to `count` of the owner's projects, newest first, after `after` (created_at, id)."""
    if after is None:
        return _rows(_statement(connection.vendor, "page"), [owner_id, count], COLUMNS)
    created_at, project_id = _db("created_at", after[0]), _db("id", after[1])
    return _rows(
        _statement(connection.vendor, "page_after"),
        [owner_id, created_at, created_at, project_id, count],
        COLUMNS,
    )


def owned_project(owner_id: int, project_id: uuid.UUID) -> dict[str, Any] | None:
    """The owner's project with its code, or None when it is not theirs or not there."""
    rows = _rows(
        _statement(connection.vendor, "one"), [_db("id", project_id), owner_id], DETAIL_COLUMNS
    )
    return rows[0] if rows else None
