"""Schemathesis hooks for `make check`'s API fuzzer (tests/system/api_fuzz.py loads them).

- Tokens: the fuzzer calls `DELETE /api/auth/token` like any operation, which revokes
  the token it is using. The auth provider mints a new one for the seeded user straight
  in the served database (the same DATABASE_URL), and schemathesis asks it again, and
  replays the request, whenever an answer is 401. Logging in instead would cost a
  password hash each time and count towards the lockout of the address.
- `format: python`: strings the server parses as Python (a project's code, a test's);
  `format: python-regex`: patterns it compiles (a behaviour case's). The document states the
  constraint; this says how to make values that meet it.
"""

import os
from typing import Any

import django
import schemathesis
from hypothesis import strategies as st

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402

from accounts.tokens import create_token  # noqa: E402

USERNAME_VARIABLE = "API_FUZZ_USERNAME"

NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)
LITERALS = st.one_of(
    st.integers(), st.text(max_size=40), st.booleans(), st.none(), st.floats(allow_nan=False)
).map(repr)
PYTHON_SOURCE = st.lists(
    st.one_of(
        st.builds("{} = {}".format, NAMES, LITERALS),
        st.builds("assert {} == {}".format, LITERALS, LITERALS),
        st.builds("def {}():\n    return {}".format, NAMES, LITERALS),
        st.sampled_from(["import workflow", "pass", "from agents import Agent"]),
    ),
    min_size=1,
    max_size=5,
).map(lambda lines: "\n".join(lines) + "\n")

schemathesis.openapi.format("python", PYTHON_SOURCE)
# `format: python-regex`: a behaviour case's patterns (cases/schema.py), which the server compiles.
schemathesis.openapi.format("python-regex", st.from_regex(r"[a-z0-9 ]{1,12}", fullmatch=True))


@schemathesis.auth()
class MintedToken:
    """A token of the seeded user, made in the database the server reads."""

    def get(self, case: Any, context: Any) -> str:
        return create_token(User.objects.get(username=os.environ[USERNAME_VARIABLE]))

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}
