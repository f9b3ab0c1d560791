"""Model fields whose text never holds NUL: PostgreSQL refuses it, SQLite keeps it.

Every NUL character (U+0000) in text bound for the database is replaced with U+FFFD
(the Unicode replacement character) at the field, on save, `update()` and in lookups,
so a model reply, a test's output or a person's input with NUL is stored the same on
PostgreSQL and SQLite instead of failing with "cannot contain NUL". JSON values are
cleaned all the way down (keys and strings), because PostgreSQL's jsonb refuses
`\\u0000` too.
"""

from typing import Any

from django.db import models

NUL = "\x00"
REPLACEMENT = "\ufffd"


def without_nul(text: str) -> str:
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


def clean_json(value: Any) -> Any:
    """`value` with NUL replaced in every string, dict key included."""
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, dict):
        return {clean_json(key): clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(item) for item in value]
    return value


class CleanCharField(models.CharField):
    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return without_nul(value) if isinstance(value, str) else value


class CleanTextField(models.TextField):
    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return without_nul(value) if isinstance(value, str) else value


class CleanSlugField(models.SlugField):
    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return without_nul(value) if isinstance(value, str) else value


class CleanJSONField(models.JSONField):
    def get_prep_value(self, value: Any) -> Any:
        return super().get_prep_value(clean_json(value))
