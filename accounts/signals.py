"""A password change, a deactivation or a logout ends what the old credentials opened.

A password change or a deactivation revokes every API token of the user; each of these
closes the WebSockets the credential opened, on every server process, at once
(accounts/credentials.py). Changes these signals never see (`QuerySet.update()`, raw
SQL, another program) are caught by the periodic check of open sockets
(sessions_app/credential_watch.py).
"""

from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.credentials import (
    PASSWORD_CHANGED,
    SESSION_ENDED,
    USER_INACTIVE,
    close_session_sockets,
    close_user_sockets,
)
from accounts.tokens import revoke_user_tokens


@receiver(pre_save, sender=User)
def _note_credential_change(sender: type[User], instance: User, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if instance.pk is None or (
        update_fields is not None and not {"password", "is_active"} & set(update_fields)
    ):
        return  # a new user, or e.g. `last_login` alone
    before = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    revoked = None
    if before is not None and before["is_active"] and not instance.is_active:
        revoked = USER_INACTIVE
    elif before is not None and before["password"] != instance.password:
        revoked = PASSWORD_CHANGED
    instance._credentials_revoked = revoked  # type: ignore[attr-defined]


@receiver(post_save, sender=User)
def _revoke_on_credential_change(sender: type[User], instance: User, **kwargs: Any) -> None:
    reason = getattr(instance, "_credentials_revoked", None)
    if reason is None:
        return
    instance._credentials_revoked = None  # type: ignore[attr-defined]
    revoke_user_tokens(instance.pk)
    user_id = instance.pk
    # Sockets close once the change is visible to the consumers' own checks.
    transaction.on_commit(lambda: close_user_sockets(user_id, reason))


@receiver(post_delete, sender=User)
def _close_sockets_of_deleted_user(sender: type[User], instance: User, **kwargs: Any) -> None:
    user_id = instance.pk
    transaction.on_commit(lambda: close_user_sockets(user_id, USER_INACTIVE))


@receiver(user_logged_out)
def _close_sockets_of_the_session(
    sender: type[User], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Sent before the session is flushed: its key is still the one the sockets hold.
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        transaction.on_commit(lambda: close_session_sockets(key, SESSION_ENDED))
