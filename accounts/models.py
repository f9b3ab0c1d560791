from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """One API token of a user. Only the SHA-256 of the token is kept: a leaked
    database does not hand out working tokens. A user may hold several (one per
    client that logged in); each expires and can be revoked on its own."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token of {self.user} until {self.expires_at:%Y-%m-%d %H:%M}"
