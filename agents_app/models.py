"""The tables of the SDK's SQLAlchemySession, for `AGENT_MEMORY=database`.

The SDK can create them itself, but then Django's migrations, flush and admin would
not know them. Declared here, they are created by `migrate` with the rest, and the
SDK is told not to create tables. Names and columns are the SDK's defaults.
"""

from django.db import models
from django.db.models.functions import Now


class AgentMemorySession(models.Model):
    session_id = models.CharField(primary_key=True, max_length=255)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "agent_sessions"

    def __str__(self) -> str:
        return self.session_id


class AgentMemoryMessage(models.Model):
    session = models.ForeignKey(
        AgentMemorySession,
        on_delete=models.CASCADE,
        db_column="session_id",
        related_name="messages",
    )
    message_data = models.TextField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "agent_messages"
        indexes = [
            models.Index(fields=["session", "created_at"], name="agent_messages_session_time")
        ]

    def __str__(self) -> str:
        return f"{self.session_id} #{self.pk}"
