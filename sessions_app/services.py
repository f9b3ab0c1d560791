"""Sessions: one global conversation per project, one per agent (node) in its code."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from projects.models import Project
from projects.nodes import find_agents
from projects.storage import conversations_db, projects_root
from sessions_app.models import ConversationMessage, VibecodeSession


def session_key(slug: str, node_id: str = "") -> str:
    """The key of a session's conversation memory: `project_{slug}` (global) or
    `project_{slug}_node_{node_id}` (one agent's)."""
    return f"project_{slug}_node_{node_id}" if node_id else f"project_{slug}"


class UnknownNode(ValueError):
    """The node id names no agent defined in the project's code."""


def owned_sessions(user: User) -> QuerySet[VibecodeSession]:
    return VibecodeSession.objects.filter(project__owner=user).select_related("project")


def owned_messages(user: User) -> QuerySet[ConversationMessage]:
    return ConversationMessage.objects.filter(session__project__owner=user)


def get_or_create_session(
    project: Project, session_type: str, node_id: str = ""
) -> tuple[VibecodeSession, bool]:
    """The project's session for that scope, created on first use."""
    if session_type == VibecodeSession.SessionType.NODE:
        try:
            names = {node.name for node in find_agents(project.current_code)}
        except ValueError as exc:
            raise UnknownNode(f"The project's code does not parse: {exc}") from None
        if node_id not in names:
            known = ", ".join(sorted(names)) or "none"
            raise UnknownNode(
                f"No agent named {node_id!r} in {project.main_file} (agents: {known})."
            )
    else:
        node_id = ""
    scope = {"project": project, "session_type": session_type, "node_id": node_id}
    existing = VibecodeSession.objects.filter(**scope).first()
    if existing is not None:
        return existing, False
    db_path = conversations_db(project.slug).relative_to(projects_root().parent)
    try:
        with transaction.atomic():
            session = VibecodeSession.objects.create(
                **scope,
                openai_session_key=session_key(project.slug, node_id),
                conversations_db_path=str(db_path),
            )
    except IntegrityError:
        # A concurrent request created it first.
        return VibecodeSession.objects.get(**scope), False
    return session, True
