"""`POST /api/auth/token` logs in and hands out a token; `DELETE` revokes the one presented."""

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.tokens import create_token, revoke_token
from vibegrapher.api.schema import ERROR_REF, errors
from vibegrapher.server.lanes import when_posted


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    # With the username, fits MAX_BODY_BYTES_AUTH however the client escapes the JSON.
    password = serializers.CharField(max_length=1024, trim_whitespace=False)


class AuthTokenView(APIView):
    lane = when_posted("password")  # a login checks a password: PBKDF2, ~0.4 s of CPU

    def get_permissions(self) -> list[Any]:
        request = getattr(self, "request", None)
        return (
            [AllowAny()]
            if request is not None and request.method == "POST"
            else [IsAuthenticated()]
        )

    def get_authenticators(self) -> list[Any]:
        # Logging in needs no credentials: a stale session cookie must not make DRF
        # demand a CSRF token from an API client that sends none.
        # (No request while the OpenAPI document is generated: all of them.)
        request = getattr(self, "request", None)
        return (
            [] if request is not None and request.method == "POST" else super().get_authenticators()
        )

    @extend_schema(
        summary="Log in: a new API token",
        description="Send it as `Authorization: Token <token>`, or as `?token=` on the "
        "WebSocket. Valid for API_TOKEN_DAYS (30) days. The 10th wrong password for a "
        "username from one client address (LOGIN_FAILURE_LIMIT), or the 50th from one "
        "address for any usernames (LOGIN_ADDRESS_FAILURE_LIMIT), answers 429 with "
        "`Retry-After`; the username stays open from other addresses.",
        request=CredentialsSerializer,
        responses={
            200: inline_serializer("ApiToken", {"token": serializers.CharField()}),
            **errors(400, 413, 429, 503),
            401: OpenApiResponse(
                ERROR_REF, description="The username and password match no active user."
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = CredentialsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The Django request, not DRF's wrapper: django-axes marks a lockout on it and
        # its middleware turns that into the 429 (accounts/throttling.py).
        user = authenticate(
            request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None:
            # Well-formed credentials that do not match: an authentication failure.
            return Response(
                {"detail": "Unable to log in with provided credentials."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Token"},
            )
        return Response({"token": create_token(user)})

    @extend_schema(
        summary="Revoke the token sent in the Authorization header",
        description="WebSockets opened with it close with 4401 (`token revoked`).",
        responses={204: None, **errors(400, 401)},
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            return Response(
                {"detail": "Send the token to revoke in the Authorization header."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        revoke_token(request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)
