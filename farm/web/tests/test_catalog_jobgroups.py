"""The job groups list and a job group's page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.tests.factories import JobFactory, JobGroupFactory, TaskFactory
from farm.web.tests.catalog_fixtures import *  # noqa: F403

if TYPE_CHECKING:
    from django.test import Client
    from pytest_django import DjangoAssertNumQueries

pytestmark = pytest.mark.django_db

LIST = reverse("web:jobgroups")


def test_groups_list_needs_login(client: Client) -> None:
    """An anonymous visitor is sent to log in."""
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/groups/")


def test_group_page_needs_login(client: Client) -> None:
    """An anonymous visitor is sent to log in."""
    group = JobGroupFactory.create()
    response = client.get(reverse("web:jobgroup", args=[group.pk]))
    assert response["Location"].startswith("/login/")


def test_groups_list_shows_owner_jobtype_and_job_states(artist_client: Client) -> None:
    """Each row: title, owner, main job type, jobs counted by state, a link."""
    owner = UserFactory.create(username="lighter")
    group = JobGroupFactory.create(title="shot 010", user=owner)
    JobFactory.create(group=group, state=WorkState.DONE)
    JobFactory.create(group=group, state=WorkState.DONE)
    JobFactory.create(group=group, state=WorkState.RUNNING)
    response = artist_client.get(LIST)
    text = response.content.decode()
    assert response.status_code == 200
    assert "shot 010" in text
    assert "lighter" in text
    assert group.main_jobtype.name in text
    assert f"/jobs/?group={group.pk}" in text
    assert 'data-count="2"' in text  # the done segment of the bar
    assert response.context["rows"][0][1].total == 3


def test_groups_list_leaves_out_hidden_and_deleted_jobs(artist_client: Client) -> None:
    """Jobs being deleted or hidden are not counted."""
    group = JobGroupFactory.create()
    JobFactory.create(group=group)
    JobFactory.create(group=group, hidden=True)
    JobFactory.create(group=group, to_be_deleted=True)
    response = artist_client.get(LIST)
    assert response.context["rows"][0][1].total == 1


def test_groups_list_paginates(artist_client: Client) -> None:
    """50 groups a page; ``?page=2`` shows the rest."""
    JobGroupFactory.create_batch(51)
    response = artist_client.get(LIST, {"page": 2})
    assert len(response.context["rows"]) == 1


def test_groups_list_with_a_bad_page_shows_a_page(artist_client: Client) -> None:
    """A page number that is not one shows the first page, not an error."""
    JobGroupFactory.create()
    response = artist_client.get(LIST, {"page": "x"})
    assert response.status_code == 200


@pytest.mark.parametrize("rows", [3, 30])
def test_groups_list_query_count_does_not_grow_with_rows(
    artist_client: Client, django_assert_num_queries: DjangoAssertNumQueries, rows: int
) -> None:
    """Session, user, roles, count, page, one grouped count of jobs."""
    for group in JobGroupFactory.create_batch(rows):
        JobFactory.create(group=group)
    with django_assert_num_queries(6):
        artist_client.get(LIST)


def test_group_page_shows_jobs_with_progress_and_links(artist_client: Client) -> None:
    """The group's jobs with their state, task progress and a link to each."""
    group = JobGroupFactory.create(title="shot 020")
    job = JobFactory.create(group=group, title="beauty pass", state=WorkState.RUNNING)
    TaskFactory.create(job=job, done=True)
    TaskFactory.create(job=job, running=True)
    other = JobFactory.create(title="not in group")
    response = artist_client.get(reverse("web:jobgroup", args=[group.pk]))
    text = response.content.decode()
    assert "beauty pass" in text
    assert reverse("web:job", args=[job.pk]) in text
    assert other.title not in text
    assert "1 / 2" in text
    assert f"/jobs/?group={group.pk}" in text


def test_group_page_query_count_does_not_grow_with_jobs(
    artist_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """The page's jobs and their tasks are counted in grouped queries."""
    group = JobGroupFactory.create()
    for job in JobFactory.create_batch(5, group=group):
        TaskFactory.create(job=job)
    url = reverse("web:jobgroup", args=[group.pk])
    with django_assert_num_queries(8):
        artist_client.get(url)
    for job in JobFactory.create_batch(20, group=group):
        TaskFactory.create(job=job)
    with django_assert_num_queries(8):
        artist_client.get(url)


def test_unknown_group_is_a_404(artist_client: Client) -> None:
    """A group id that does not exist is a 404 page."""
    response = artist_client.get(reverse("web:jobgroup", args=[999999]))
    assert response.status_code == 404


def test_group_owner_reads_the_group_page_like_everyone(client: Client) -> None:
    """A group's owner sees its page; there is nothing to change on it."""
    owner = UserFactory.create(username="lighter")
    group = JobGroupFactory.create(user=owner)
    client.force_login(owner)
    response = client.get(reverse("web:jobgroup", args=[group.pk]))
    assert response.status_code == 200
    assert 'method="post"' not in response.content.decode().split("<main")[1]


def test_farm_admin_reads_the_groups_list(farm_admin_client: Client) -> None:
    """Farm admins see the same list."""
    JobGroupFactory.create(title="shot 030")
    assert "shot 030" in farm_admin_client.get(LIST).content.decode()
