"""Only farm admins name another owner: one rule for jobs and job groups."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from accounts.tests.factories import UserFactory
from farm.models import JobGroup
from farm.services.owners import refuse_other_owner
from farm.services.queues import create_jobgroup, update_jobgroup
from farm.tests.factories import JobGroupFactory, JobTypeFactory

pytestmark = pytest.mark.django_db

REFUSAL = "not {username!r} for you, {own!r}"


def test_users_name_themselves(user) -> None:
    refuse_other_owner("artist", user, refusal=REFUSAL)


def test_the_farm_itself_names_anybody() -> None:
    refuse_other_owner("someone", None, refusal=REFUSAL)


def test_farm_admins_name_anybody(admin_user) -> None:
    refuse_other_owner("someone", admin_user, refusal=REFUSAL)


def test_plain_users_naming_another_owner_are_refused(user) -> None:
    with pytest.raises(PermissionDenied, match="not 'someone' for you, 'artist'"):
        refuse_other_owner("someone", user, refusal=REFUSAL)


def _create(created_by: Any, owner: str) -> JobGroup:
    JobTypeFactory.create(name="Render")
    return create_jobgroup(
        title="Shot", main_jobtype="Render", user=owner, created_by=created_by
    )


def test_plain_users_create_no_group_for_another_user(user) -> None:
    UserFactory.create(username="someone")
    with pytest.raises(PermissionDenied, match="another user the owner"):
        _create(user, "someone")
    assert not JobGroup.objects.exists()


def test_farm_admins_create_groups_for_another_user(admin_user) -> None:
    someone = UserFactory.create(username="someone")
    assert _create(admin_user, "someone").user == someone


def test_plain_users_give_no_group_away(user) -> None:
    UserFactory.create(username="someone")
    group = JobGroupFactory.create(user=user)
    with pytest.raises(PermissionDenied, match="another user the owner"):
        update_jobgroup(group=group, changed_by=user, user="someone")
    group.refresh_from_db()
    assert group.user == user
