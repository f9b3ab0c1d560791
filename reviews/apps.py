from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"

    def ready(self) -> None:
        # Connects the receiver that marks diffs committed when git is found ahead.
        from reviews import reconcile  # noqa: F401
