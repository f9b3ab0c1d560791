"""DRF authentication by `Authorization: Token <key>` against the hashed tokens."""

from django.contrib.auth.models import User
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts.models import ApiToken
from accounts.tokens import find_token


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's header parsing and `WWW-Authenticate: Token`, our token lookup.

    `request.auth` is the `ApiToken`, so `DELETE /api/auth/token` knows which one to revoke.
    """

    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        token = find_token(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return token.user, token
