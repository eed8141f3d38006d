"""Bulk actions on the jobs list (``POST /jobs/bulk/``): who may, what changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.messages import get_messages

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import Job, JobTagRequirement, Tag, Task
from farm.tests.factories import JobFactory, JobQueueFactory, TagFactory, TaskFactory

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

    from accounts.models import User

pytestmark = pytest.mark.django_db

URL = "/jobs/bulk/"


def _messages(response: Response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _post(client: Client, action: str, jobs: list[Job], **values: Any) -> Response:
    return client.post(
        URL, {"action": action, "job": [job.pk for job in jobs], **values}
    )


def _snapshot() -> list[tuple[Any, ...]]:
    """Everything a bulk action may change, to show that nothing did."""
    return [
        *Job.objects.order_by("pk").values_list(
            "pk", "state", "queue_id", "priority", "weight", "to_be_deleted"
        ),
        *Task.objects.order_by("pk").values_list("pk", "state"),
        *Job.tags.through.objects.order_by("pk").values_list("job_id", "tag_id"),
        *JobTagRequirement.objects.order_by("pk").values_list(
            "job_id", "tag_id", "negate"
        ),
        ("tags", Tag.objects.count()),
    ]


@pytest.fixture
def owner(db: None) -> User:
    return UserFactory.create(username="owner")


@pytest.fixture
def other(db: None) -> User:
    return UserFactory.create(username="other")


@pytest.fixture
def owners_client(client: Client, owner: User) -> Client:
    client.force_login(owner)
    return client


# --- each action, as a farm admin ---------------------------------------------


def test_pause(admin_client: Client) -> None:
    jobs = JobFactory.create_batch(2, state=WorkState.RUNNING)

    response = _post(admin_client, "pause", jobs)

    assert response.status_code == 302
    assert set(Job.objects.values_list("state", flat=True)) == {WorkState.PAUSED}
    assert _messages(response) == ["Paused 2 jobs."]


def test_unpause(admin_client: Client) -> None:
    job = JobFactory.create(paused=True)

    response = _post(admin_client, "unpause", [job])

    job.refresh_from_db()
    assert job.state == WorkState.QUEUED
    assert _messages(response) == ["Unpaused 1 job."]


def test_rerun(admin_client: Client) -> None:
    job = JobFactory.create(state=WorkState.DONE)
    TaskFactory.create_batch(2, job=job, done=True)

    response = _post(admin_client, "rerun", [job])

    assert set(Task.objects.values_list("state", flat=True)) == {WorkState.QUEUED}
    assert _messages(response) == [
        "Queued 2 tasks again (tasks of dependent jobs included)."
    ]


def test_rerun_failed(admin_client: Client) -> None:
    job = JobFactory.create(state=WorkState.FAILED)
    done = TaskFactory.create(job=job, done=True)
    failed = TaskFactory.create(job=job, failed=True)

    response = _post(admin_client, "rerun_failed", [job])

    done.refresh_from_db()
    failed.refresh_from_db()
    assert (done.state, failed.state) == (WorkState.DONE, WorkState.QUEUED)
    assert _messages(response) == [
        "Queued 1 failed task again (tasks of dependent jobs included)."
    ]


def test_delete_marks_the_jobs_for_deletion(admin_client: Client) -> None:
    job = JobFactory.create()

    response = _post(admin_client, "delete", [job])

    job.refresh_from_db()
    assert job.to_be_deleted
    assert _messages(response) == ["Marked 1 job for deletion."]


def test_move(admin_client: Client) -> None:
    queue = JobQueueFactory.create(name="lighting")
    jobs = JobFactory.create_batch(2)

    response = _post(admin_client, "move", jobs, queue=queue.pk)

    assert set(Job.objects.values_list("queue", flat=True)) == {queue.pk}
    assert _messages(response) == ["Moved 2 jobs to queue lighting."]


def test_set_priority_and_weight(admin_client: Client) -> None:
    job = JobFactory.create()

    response = _post(admin_client, "set_priority", [job], priority=20, weight=4)

    job.refresh_from_db()
    assert (job.priority, job.weight) == (20, 4)
    assert _messages(response) == ["Changed the priority or weight of 1 job."]


def test_set_weight_only(admin_client: Client) -> None:
    job = JobFactory.create(priority=3)

    _post(admin_client, "set_priority", [job], priority="", weight=9)

    job.refresh_from_db()
    assert (job.priority, job.weight) == (3, 9)


def test_add_tag(admin_client: Client) -> None:
    job = JobFactory.create()

    response = _post(admin_client, "add_tag", [job], tag=" hero ")

    assert list(job.tags.values_list("tag", flat=True)) == ["hero"]
    assert _messages(response) == ["Tagged 1 job with “hero”."]


def test_remove_tag(admin_client: Client) -> None:
    job = JobFactory.create()
    job.tags.add(TagFactory.create(tag="hero"))

    response = _post(admin_client, "remove_tag", [job], tag="hero")

    assert not job.tags.exists()
    assert _messages(response) == ["Removed the tag “hero” from 1 job."]


def test_add_tag_requirement(admin_client: Client) -> None:
    job = JobFactory.create()

    response = _post(admin_client, "add_tag_requirement", [job], tag="gpu")

    row = JobTagRequirement.objects.get(job=job)
    assert (row.tag.tag, row.negate) == ("gpu", False)
    assert _messages(response) == ["Added the tag requirement “gpu” to 1 job."]


def test_add_negated_tag_requirement(admin_client: Client) -> None:
    job = JobFactory.create()

    response = _post(admin_client, "add_tag_requirement", [job], tag="gpu", negate="on")

    assert JobTagRequirement.objects.get(job=job).negate
    assert _messages(response) == ["Added the tag requirement not “gpu” to 1 job."]


def test_remove_tag_requirement(admin_client: Client) -> None:
    job = JobFactory.create()
    JobTagRequirement.objects.create(job=job, tag=TagFactory.create(tag="gpu"))

    response = _post(admin_client, "remove_tag_requirement", [job], tag="gpu")

    assert not JobTagRequirement.objects.exists()
    assert _messages(response) == [
        "Removed the requirement of the tag “gpu” from 1 job."
    ]


def test_an_action_that_changes_nothing_says_so(admin_client: Client) -> None:
    job = JobFactory.create(state=WorkState.DONE)

    response = _post(admin_client, "pause", [job])

    assert _messages(response) == [
        "No job was paused: only queued or running jobs can be."
    ]


def test_the_action_leads_back_to_the_list_it_came_from(
    admin_client: Client,
) -> None:
    job = JobFactory.create()

    response = admin_client.post(
        URL, {"action": "pause", "job": [job.pk], "next": "/jobs/?state=queued"}
    )

    assert response["Location"] == "/jobs/?state=queued"


def test_a_foreign_next_is_not_followed(admin_client: Client) -> None:
    job = JobFactory.create()
    response = admin_client.post(
        URL, {"action": "pause", "job": [job.pk], "next": "https://evil.example/"}
    )
    assert response["Location"] == "/jobs/"


# --- owners and other users ---------------------------------------------------


def test_an_owner_changes_their_jobs(owners_client: Client, owner: User) -> None:
    job = JobFactory.create(user=owner, state=WorkState.RUNNING)

    response = _post(owners_client, "pause", [job])

    job.refresh_from_db()
    assert job.state == WorkState.PAUSED
    assert _messages(response) == ["Paused 1 job."]


@pytest.mark.parametrize(
    ("action", "values"),
    [
        ("pause", {}),
        ("delete", {}),
        ("rerun", {}),
        ("set_priority", {"priority": 5}),
        ("add_tag", {"tag": "mine"}),
        ("add_tag_requirement", {"tag": "gpu"}),
    ],
)
def test_another_users_jobs_are_refused_and_unchanged(
    client: Client, owner: User, other: User, action: str, values: dict[str, Any]
) -> None:
    job = JobFactory.create(user=owner, state=WorkState.RUNNING)
    TaskFactory.create(job=job, done=True)
    client.force_login(other)
    before = _snapshot()

    response = _post(client, action, [job], **values)

    assert response.status_code == 302
    assert _snapshot() == before
    assert _messages(response) == [
        "You may not change this job: only a job's owner or a farm admin may. "
        "Nothing was changed."
    ]


def test_a_job_without_owner_is_refused_to_users(owners_client: Client) -> None:
    job = JobFactory.create(user=None, state=WorkState.RUNNING)
    _post(owners_client, "pause", [job])
    job.refresh_from_db()
    assert job.state == WorkState.RUNNING


def test_a_mixed_selection_changes_only_the_users_own_jobs(
    owners_client: Client, owner: User, other: User
) -> None:
    own = JobFactory.create_batch(2, user=owner, state=WorkState.RUNNING)
    foreign = JobFactory.create_batch(3, user=other, state=WorkState.RUNNING)

    response = _post(owners_client, "pause", [*own, *foreign])

    states = dict(Job.objects.values_list("pk", "state"))
    assert {states[job.pk] for job in own} == {WorkState.PAUSED}
    assert {states[job.pk] for job in foreign} == {WorkState.RUNNING}
    assert _messages(response) == [
        "Paused 2 jobs.",
        "3 of the selected jobs were left unchanged: only a job's owner or a "
        "farm admin may change it.",
    ]


def test_a_farm_admin_changes_every_users_jobs(
    admin_client: Client, owner: User, other: User
) -> None:
    jobs = [
        JobFactory.create(user=user, state=WorkState.RUNNING)
        for user in (owner, other, None)
    ]
    response = _post(admin_client, "pause", jobs)
    assert set(Job.objects.values_list("state", flat=True)) == {WorkState.PAUSED}
    assert _messages(response) == ["Paused 3 jobs."]


def test_an_anonymous_visitor_is_sent_to_log_in(client: Client) -> None:
    job = JobFactory.create(state=WorkState.RUNNING)

    response = _post(client, "pause", [job])

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    job.refresh_from_db()
    assert job.state == WorkState.RUNNING


def test_a_get_changes_nothing_and_leads_to_the_list(admin_client: Client) -> None:
    job = JobFactory.create(state=WorkState.RUNNING)

    response = admin_client.get(URL, {"action": "pause", "job": job.pk})

    assert response["Location"] == "/jobs/"
    job.refresh_from_db()
    assert job.state == WorkState.RUNNING


def test_the_form_needs_the_csrf_token(admin_user: User) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    job = JobFactory.create(state=WorkState.RUNNING)

    response = _post(client, "pause", [job])

    assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == WorkState.RUNNING


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "explode", "job": ["1"]}, "Unknown action."),
        ({"job": ["1"]}, "Choose an action."),
        ({"action": "pause"}, "Select at least one job."),
        (
            {"action": "pause", "job": ["1", "x"]},
            "The selection contains an invalid job id.",
        ),
        (
            {"action": "pause", "job": ["1", "99999999999999999999"]},
            "The selection contains an invalid job id.",
        ),
        ({"action": "move", "job": ["1"]}, "Choose the queue to move the jobs to."),
        (
            {"action": "move", "job": ["1"], "queue": "999"},
            "That queue does not exist (any more).",
        ),
        (
            {"action": "set_priority", "job": ["1"]},
            "Give a priority, a weight or both.",
        ),
        (
            {"action": "set_priority", "job": ["1"], "priority": "high"},
            "Enter a whole number.",
        ),
        (
            {"action": "set_priority", "job": ["1"], "weight": "-1"},
            "Ensure this value is greater than or equal to 0.",
        ),
        ({"action": "add_tag", "job": ["1"], "tag": "  "}, "Give the name of the tag."),
        (
            {"action": "add_tag", "job": ["1"], "tag": "x" * 65},
            "Ensure this value has at most 64 characters (it has 65).",
        ),
    ],
)
def test_bad_input_changes_nothing_and_says_why(
    admin_client: Client, data: dict[str, Any], message: str
) -> None:
    JobFactory.create(pk=1, state=WorkState.RUNNING)
    before = _snapshot()

    response = admin_client.post(URL, data)

    assert response.status_code == 302
    assert _snapshot() == before
    text = _messages(response)[0]
    assert message in text
    assert text.endswith("Nothing was changed.")


def test_a_priority_out_of_the_configured_bounds_changes_nothing(
    admin_client: Client, farm_config: Any
) -> None:
    farm_config(queue_min_priority=-10, queue_max_priority=10)
    job = JobFactory.create(priority=1)

    response = _post(admin_client, "set_priority", [job], priority=11)

    job.refresh_from_db()
    assert job.priority == 1
    assert _messages(response) == [
        "The priority must be between -10 and 10. Nothing was changed."
    ]


def test_a_job_that_no_longer_exists_changes_nothing(admin_client: Client) -> None:
    job = JobFactory.create(state=WorkState.RUNNING)
    gone = JobFactory.create(to_be_deleted=True)

    response = _post(admin_client, "pause", [job, gone])

    job.refresh_from_db()
    assert job.state == WorkState.RUNNING
    assert _messages(response) == [
        f"Job {gone.pk} does not exist (any more). Nothing was changed."
    ]
