"""A password change or a deactivation ends what the old credentials opened.

Both revoke every API token of the user and close the user's open WebSockets (each
consumer joins the group `user_group(user_id)`; see sessions_app/consumers.py).
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from accounts.tokens import revoke_user_tokens


def user_group(user_id: int) -> str:
    """The channel-layer group every WebSocket of this user joins."""
    return f"user-{user_id}"


def close_user_sockets(user_id: int) -> None:
    """Ask every server process to close this user's WebSockets."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "credentials.revoked"})


@receiver(pre_save, sender=User)
def _note_credential_change(sender: type[User], instance: User, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if instance.pk is None or (
        update_fields is not None and not {"password", "is_active"} & set(update_fields)
    ):
        return  # a new user, or e.g. `last_login` alone
    before = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    instance._credentials_revoked = before is not None and (  # type: ignore[attr-defined]
        before["password"] != instance.password or (before["is_active"] and not instance.is_active)
    )


@receiver(post_save, sender=User)
def _revoke_on_credential_change(sender: type[User], instance: User, **kwargs: Any) -> None:
    if not getattr(instance, "_credentials_revoked", False):
        return
    instance._credentials_revoked = False  # type: ignore[attr-defined]
    revoke_user_tokens(instance.pk)
    user_id = instance.pk
    # Sockets close once the change is visible to the consumers' own checks.
    transaction.on_commit(lambda: close_user_sockets(user_id))


@receiver(post_delete, sender=User)
def _close_sockets_of_deleted_user(sender: type[User], instance: User, **kwargs: Any) -> None:
    user_id = instance.pk
    transaction.on_commit(lambda: close_user_sockets(user_id))
