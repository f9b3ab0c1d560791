"""What debug pages (DEBUG on) may show: Django's filter, plus passwords inside URLs.

Django hides settings whose names look secret (KEY, TOKEN, PASS...), but not the
password inside a URL held by another name: REDIS_URL, CACHES' LOCATION, the channel
layer's hosts, a DATABASE_URL in a local variable. Every string shown (settings,
request META, a traceback's local variables) has such passwords replaced.
"""

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

# scheme://user:password@host or scheme://:password@host (Redis' form).
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@\s]*(?P<at>@)", re.I)


class SecretHidingReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DSN|CREDENTIAL", flags=re.I
    )

    def hide_url_passwords(self, value: Any) -> Any:
        if isinstance(value, str):
            # str(): lazy strings (django-axes' settings) pass isinstance but not re.
            return URL_PASSWORD.sub(rf"\g<head>{self.cleansed_substitute}\g<at>", str(value))
        if isinstance(value, dict):
            return {key: self.hide_url_passwords(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.hide_url_passwords(item) for item in value]
        if type(value) is tuple:
            return tuple(self.hide_url_passwords(item) for item in value)
        return value

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        return super().cleanse_setting(key, self.hide_url_passwords(value))

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        return {key: self.hide_url_passwords(value) for key, value in meta.items()}

    def get_traceback_frame_variables(self, request: HttpRequest, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.hide_url_passwords(value)) for name, value in variables]
