from django.contrib import admin

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    """Tokens can be looked at and revoked (deleted), never read: only hashes are kept."""

    list_display = ["user", "created_at", "expires_at"]
    list_filter = ["expires_at"]
    search_fields = ["user__username"]
    readonly_fields = ["user", "key_hash", "created_at", "expires_at"]

    def has_add_permission(self, request: object) -> bool:
        return False
