"""`manage.py seed`: the demo user and the sample project; a second run changes nothing,
except a seeded test a person never edited, which becomes its current version."""

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from projects.models import Project, TestCase
from projects.sample_workflow import (
    OLD_STRUCTURE_TEST,
    SAMPLE_CODE,
    SAMPLE_PROJECT_NAME,
    SAMPLE_TESTS,
    STRUCTURE_TEST,
)
from projects.services import create_project

DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = "Create the demo user and the sample project 'Agent Triage System' if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._demo_user()
        project = Project.objects.filter(owner=user, name=SAMPLE_PROJECT_NAME).first()
        if project is None:
            project = create_project(user, SAMPLE_PROJECT_NAME, SAMPLE_CODE)
            self.stdout.write(f"Created project {project.name!r} ({project.slug}).")
        for name, code, quick in SAMPLE_TESTS:
            TestCase.objects.get_or_create(
                project=project, name=name, defaults={"test_code": code, "quick_test": quick}
            )
        # The old structure test refused any new handoff: replaced where left as seeded.
        if TestCase.objects.filter(project=project, test_code=OLD_STRUCTURE_TEST).update(
            test_code=STRUCTURE_TEST
        ):
            self.stdout.write("Updated the seeded structure test: the workflow may grow now.")

    def _demo_user(self) -> User:
        user = User.objects.filter(username=DEMO_USERNAME).first()
        port = os.environ.get("PORT", "8000")
        if user is not None:
            self.stdout.write(
                f"User {DEMO_USERNAME!r} exists (password unchanged; reset it with "
                f"`manage.py changepassword {DEMO_USERNAME}`). App: http://localhost:{port}/"
            )
            if settings.DEBUG and not user.is_superuser:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
            return user
        password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
        with transaction.atomic():
            # A superuser in development, so /admin/ is the audit tool at once; never in
            # production (DEBUG off), where an administrator uses `createsuperuser`.
            user = User.objects.create_user(
                DEMO_USERNAME,
                password=password,
                is_staff=settings.DEBUG,
                is_superuser=settings.DEBUG,
            )
        shown = password if not os.environ.get("DEMO_PASSWORD") else "(DEMO_PASSWORD)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Log in at http://localhost:{port}/ as {DEMO_USERNAME} / {shown} "
                "(shown once: note it)."
            )
        )
        return user
