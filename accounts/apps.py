from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """API tokens, login throttling and what happens when a user's credentials change."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the receivers)
