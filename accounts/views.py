"""`POST /api/auth/token` logs in and hands out a token; `DELETE` revokes the one presented."""

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.tokens import create_token
from vibegrapher.lanes import when_posted
from vibegrapher.schema import errors


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


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
        "username or a client address answers 429 with `Retry-After`.",
        request=CredentialsSerializer,
        responses={
            200: inline_serializer("ApiToken", {"token": serializers.CharField()}),
            **errors(400, 413, 429, 503),
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
            return Response(
                {"non_field_errors": ["Unable to log in with provided credentials."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({"token": create_token(user)})

    @extend_schema(
        summary="Revoke the token sent in the Authorization header",
        responses={204: None, **errors(400, 401)},
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            return Response(
                {"detail": "Send the token to revoke in the Authorization header."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
