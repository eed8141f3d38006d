"""Admin actions change things: staff who may only view are offered none."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from accounts.tests.factories import UserFactory
from farm.tests.factories import JobFactory, JobQueueFactory

if TYPE_CHECKING:
    from django.test import Client

    from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer() -> User:
    """Staff with only the view permission of every model."""
    user = UserFactory.create(username="viewer", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    return user


def test_view_only_staff_are_offered_no_action(viewer: User) -> None:
    """Every farm and account admin hides its actions from view-only staff."""
    request = RequestFactory().get("/admin/")
    request.user = viewer
    offered = {
        model._meta.label: sorted(model_admin.get_actions(request))
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in {"farm", "accounts"}
    }
    assert {label: names for label, names in offered.items() if names} == {}


def test_view_only_staff_cannot_move_jobs(client: Client, viewer: User) -> None:
    """A forged action post changes nothing."""
    job = JobFactory.create()
    queue = JobQueueFactory.create()
    client.force_login(viewer)
    client.post(
        "/admin/farm/job/",
        {
            "action": "move_to_queue",
            "_selected_action": [job.pk],
            "apply": "1",
            "queue": queue.pk,
        },
    )
    job.refresh_from_db()
    assert job.queue_id != queue.pk


def test_staff_who_may_change_jobs_are_offered_the_job_actions(
    viewer: User,
) -> None:
    """The change permission brings the actions back."""
    viewer.user_permissions.add(Permission.objects.get(codename="change_job"))
    viewer = type(viewer).objects.get(pk=viewer.pk)
    request = RequestFactory().get("/admin/")
    request.user = viewer
    from farm.models import Job

    actions = admin.site._registry[Job].get_actions(request)
    assert {"pause", "move_to_queue", "upgrade_to_latest_jobtype_version"} <= set(
        actions
    )
    assert "mark_for_deletion" not in actions


def test_marking_jobs_for_deletion_needs_the_delete_right(viewer: User) -> None:
    """Marking for deletion is the job admin's delete: Django's delete_job right."""
    from farm.models import Job

    viewer.user_permissions.add(Permission.objects.get(codename="delete_job"))
    viewer = type(viewer).objects.get(pk=viewer.pk)
    request = RequestFactory().get("/admin/")
    request.user = viewer
    assert "mark_for_deletion" in admin.site._registry[Job].get_actions(request)
