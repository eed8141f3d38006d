"""The job queues page: the tree with its counts, creating and deleting queues."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import RoleFactory, UserFactory
from farm.choices import WorkState
from farm.models import JobQueue
from farm.services.errors import ConflictError
from farm.services.queues import delete_queue_tree
from farm.tests.factories import JobFactory, JobQueueFactory, TaskFactory
from farm.web.queries_queues import queue_tree

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

QUEUES = reverse("web:queues")
CREATE = reverse("web:queue_create")


def delete_url(queue: JobQueue) -> str:
    return reverse("web:queue_delete", args=[queue.pk])


def texts(response: Response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def farm_admin(client: Client) -> Client:
    """A client of a user with the ``root`` role."""
    user = UserFactory.create(username="wrangler")
    user.roles.add(RoleFactory.create(name="root"))
    client.force_login(user)
    return client


@pytest.fixture
def artist(client: Client, user: User) -> Client:
    """A client of a plain user."""
    client.force_login(user)
    return client


def _tree() -> tuple[JobQueue, JobQueue, JobQueue]:
    root = JobQueueFactory.create(name="film", priority=7, weight=3)
    child = JobQueueFactory.create(name="lighting", parent=root, minimum_agents=2)
    other = JobQueueFactory.create(name="ads", maximum_agents=9)
    return root, child, other


# --- the tree -----------------------------------------------------------------------


def test_tree_lists_parents_before_their_children() -> None:
    _tree()
    JobQueueFactory.create(name="film x")  # sorts between "film" and "film/…"
    rows = queue_tree()
    names = [(row.queue.name, row.depth) for row in rows]
    assert names == [("ads", 0), ("film", 0), ("lighting", 1), ("film x", 0)]


def test_tree_counts_running_and_queued_tasks_and_jobs() -> None:
    root, child, _ = _tree()
    job = JobFactory.create(queue=child, state=WorkState.RUNNING)
    TaskFactory.create_batch(2, job=job, running=True)
    TaskFactory.create_batch(3, job=job)
    TaskFactory.create(job=job, done=True)
    JobFactory.create(queue=child)
    row = next(row for row in queue_tree() if row.queue == child)
    assert (row.running, row.queued, row.jobs) == (2, 3, 2)
    parent = next(row for row in queue_tree() if row.queue == root)
    assert (parent.running, parent.queued, parent.jobs, parent.children) == (0, 0, 0, 1)


@pytest.mark.parametrize("count", [2, 20])
def test_page_query_count_does_not_grow_with_queues(
    artist: Client, django_assert_num_queries: Callable[..., Any], count: int
) -> None:
    parent = JobQueueFactory.create()
    for queue in JobQueueFactory.create_batch(count, parent=parent):
        TaskFactory.create(job=JobFactory.create(queue=queue), running=True)
    # session, user, roles (twice), queues, task counts, job counts
    with django_assert_num_queries(7):
        response = artist.get(QUEUES)
    assert response.content.decode().count("<tr data-queue=") == count + 1


def test_page_shows_the_tree_to_a_plain_user(artist: Client) -> None:
    root, child, other = _tree()
    response = artist.get(QUEUES)
    content = response.content.decode()
    assert response.status_code == 200
    for queue in (root, child, other):
        assert f"{reverse('web:jobs')}?queue={queue.pk}" in content
    assert "create-queue" not in content
    assert delete_url(root) not in content


def test_page_shows_controls_to_a_farm_admin(farm_admin: Client) -> None:
    root, _, _ = _tree()
    content = farm_admin.get(QUEUES).content.decode()
    assert 'id="create-queue"' in content
    assert delete_url(root) in content
    assert "Delete with sub-queues" in content


def test_page_sends_anonymous_visitors_to_log_in(client: Client) -> None:
    assert client.get(QUEUES)["Location"].startswith("/login/")


# --- create ---------------------------------------------------------------------


def test_a_farm_admin_creates_a_queue(farm_admin: Client) -> None:
    parent = JobQueueFactory.create(name="film")
    response = farm_admin.post(
        CREATE,
        {
            "name": "comp",
            "parent": parent.pk,
            "priority": 4,
            "weight": 2,
            "minimum_agents": 1,
            "maximum_agents": "",
        },
    )
    queue = JobQueue.objects.get(name="comp")
    assert (queue.fullpath, queue.priority, queue.weight) == ("film/comp", 4, 2)
    assert (queue.minimum_agents, queue.maximum_agents) == (1, None)
    assert texts(response) == ["Created job queue film/comp."]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "a/b"}, "must not contain"),
        ({"name": "dup"}, "already exists"),
        ({"name": "x", "parent": 999999}, "parent"),
        ({"name": "x", "weight": "heavy"}, "weight"),
        ({"name": "x", "minimum_agents": 5, "maximum_agents": 2}, "minimum_agents"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_values_are_refused_with_a_message(
    farm_admin: Client, data: dict[str, Any], message: str
) -> None:
    JobQueueFactory.create(name="dup")
    response = farm_admin.post(CREATE, {"priority": 5, "weight": 10, **data})
    assert response.status_code == 302
    assert message in " ".join(texts(response))
    assert JobQueue.objects.count() == 1


def test_a_plain_user_cannot_create_a_queue(artist: Client) -> None:
    response = artist.post(CREATE, {"name": "mine", "priority": 5, "weight": 10})
    assert texts(response) == ["Only farm admins may change job queues."]
    assert not JobQueue.objects.exists()


def test_an_anonymous_visitor_cannot_create_a_queue(client: Client) -> None:
    response = client.post(CREATE, {"name": "mine", "priority": 5, "weight": 10})
    assert response["Location"].startswith("/login/")
    assert not JobQueue.objects.exists()


# --- delete ---------------------------------------------------------------------


def test_deleting_a_queue_deletes_its_sub_queues(farm_admin: Client) -> None:
    root, child, other = _tree()
    JobQueueFactory.create(name="grandchild", parent=child)
    response = farm_admin.post(delete_url(root))
    assert list(JobQueue.objects.all()) == [other]
    assert texts(response) == ["Deleted job queue film and 2 sub-queue(s)."]


def test_a_queue_with_jobs_below_it_is_not_deleted(farm_admin: Client) -> None:
    root, child, _ = _tree()
    JobFactory.create(queue=child)
    response = farm_admin.post(delete_url(root))
    assert JobQueue.objects.count() == 3
    assert "film/lighting still contains jobs" in texts(response)[0]


def test_deleting_an_unknown_queue_says_so(farm_admin: Client) -> None:
    response = farm_admin.post(reverse("web:queue_delete", args=[999999]))
    assert "No such job queue" in texts(response)[0]


def test_a_plain_user_cannot_delete_a_queue(artist: Client) -> None:
    root, _, _ = _tree()
    response = artist.post(delete_url(root))
    assert texts(response) == ["Only farm admins may change job queues."]
    assert JobQueue.objects.count() == 3


def test_an_anonymous_visitor_cannot_delete_a_queue(client: Client) -> None:
    root, _, _ = _tree()
    response = client.post(delete_url(root))
    assert response["Location"].startswith("/login/")
    assert JobQueue.objects.count() == 3


def test_delete_by_get_changes_nothing(farm_admin: Client) -> None:
    root, _, _ = _tree()
    response = farm_admin.get(delete_url(root))
    assert response["Location"] == QUEUES
    assert JobQueue.objects.count() == 3


def test_delete_queue_tree_does_not_touch_a_sibling_with_a_longer_name() -> None:
    film = JobQueueFactory.create(name="film")
    films = JobQueueFactory.create(name="films")
    assert delete_queue_tree(queue=film) == 1
    assert list(JobQueue.objects.all()) == [films]


def test_delete_queue_tree_raises_a_conflict_for_jobs() -> None:
    film = JobQueueFactory.create(name="film")
    JobFactory.create(queue=film)
    with pytest.raises(ConflictError):
        delete_queue_tree(queue=film)


def test_an_out_of_range_queue_id_is_a_message_not_an_error(
    farm_admin: Client,
) -> None:
    response = farm_admin.post(reverse("web:queue_delete", args=[10**20]))
    assert "No such job queue" in texts(response)[0]


def test_an_out_of_range_parent_is_a_message_not_an_error(farm_admin: Client) -> None:
    response = farm_admin.post(
        CREATE, {"name": "x", "parent": 10**20, "priority": 5, "weight": 10}
    )
    assert "parent" in texts(response)[0]
    assert not JobQueue.objects.exists()


def test_open_task_counts_are_shared_for_a_few_seconds(
    artist: Client, django_assert_num_queries: Callable[..., Any]
) -> None:
    """The farm-wide count of open tasks runs once per window, not per visit."""
    artist.get(reverse("web:queues"))
    with django_assert_num_queries(6):
        artist.get(reverse("web:queues"))
