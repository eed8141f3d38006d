"""The job admin's actions with a value: queue, priority/weight, tags, requirements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.messages import get_messages

from farm.models import Job, JobTagRequirement
from farm.tests.factories import JobFactory, JobQueueFactory, TagFactory

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

URL = "/admin/farm/job/"


def _act(
    client: Client, action: str, jobs: list[Job], apply: bool = True, **values: Any
) -> Response:
    data: dict[str, Any] = {
        "action": action,
        "_selected_action": [job.pk for job in jobs],
        **values,
    }
    if apply:
        data["apply"] = "Apply"
    return client.post(URL, data)


def _messages(response: Response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ("move_to_queue", "queue"),
        ("set_priority_and_weight", "priority"),
        ("add_tag", "tag"),
        ("remove_tag", "tag"),
        ("add_tag_requirement", "negate"),
        ("remove_tag_requirement", "tag"),
    ],
)
def test_the_action_asks_for_its_value_first(
    admin_client: Client, action: str, field: str
) -> None:
    jobs = JobFactory.create_batch(2)

    response = _act(admin_client, action, jobs, apply=False)

    assert response.status_code == 200
    assert f'name="{field}"' in response.text
    assert "2 jobs selected" in response.text
    for job in jobs:
        assert f'name="_selected_action" value="{job.pk}"' in response.text
    assert f'name="action" value="{action}"' in response.text


def test_move_to_queue(admin_client: Client) -> None:
    queue = JobQueueFactory.create(name="lighting")
    jobs = JobFactory.create_batch(2)

    response = _act(admin_client, "move_to_queue", jobs, queue=queue.pk)

    assert response.status_code == 302
    assert set(Job.objects.values_list("queue", flat=True)) == {queue.pk}
    assert _messages(response) == ["Moved 2 jobs to queue lighting."]


def test_set_priority_and_weight(admin_client: Client) -> None:
    job = JobFactory.create()

    response = _act(
        admin_client, "set_priority_and_weight", [job], priority=30, weight=2
    )

    job.refresh_from_db()
    assert (job.priority, job.weight) == (30, 2)
    assert _messages(response) == ["Changed the priority or weight of 1 job."]


def test_a_bad_priority_shows_the_form_again_and_changes_nothing(
    admin_client: Client, farm_config: Any
) -> None:
    farm_config(queue_min_priority=-10, queue_max_priority=10)
    job = JobFactory.create(priority=1)

    response = _act(admin_client, "set_priority_and_weight", [job], priority=99)

    assert response.status_code == 200
    assert "The priority must be between -10 and 10." in response.text
    job.refresh_from_db()
    assert job.priority == 1


def test_add_tag_with_a_percent_sign(admin_client: Client) -> None:
    job = JobFactory.create()

    response = _act(admin_client, "add_tag", [job], tag="100%")

    assert list(job.tags.values_list("tag", flat=True)) == ["100%"]
    assert _messages(response) == ["Tagged 1 job with “100%”."]


def test_remove_tag(admin_client: Client) -> None:
    job = JobFactory.create()
    job.tags.add(TagFactory.create(tag="hero"))

    response = _act(admin_client, "remove_tag", [job], tag="hero")

    assert not job.tags.exists()
    assert _messages(response) == ["Removed the tag “hero” from 1 job."]


def test_add_negated_tag_requirement(admin_client: Client) -> None:
    job = JobFactory.create()

    response = _act(admin_client, "add_tag_requirement", [job], tag="gpu", negate="on")

    row = JobTagRequirement.objects.get(job=job)
    assert (row.tag.tag, row.negate) == ("gpu", True)
    assert _messages(response) == ["Added the tag requirement not “gpu” to 1 job."]


def test_remove_tag_requirement(admin_client: Client) -> None:
    job = JobFactory.create()
    JobTagRequirement.objects.create(job=job, tag=TagFactory.create(tag="gpu"))

    response = _act(admin_client, "remove_tag_requirement", [job], tag="gpu")

    assert not JobTagRequirement.objects.exists()
    assert _messages(response) == ["Removed the requirement of “gpu” from 1 job."]


def test_an_action_that_changes_nothing_warns(admin_client: Client) -> None:
    queue = JobQueueFactory.create()
    job = JobFactory.create(queue=queue)

    response = _act(admin_client, "move_to_queue", [job], queue=queue.pk)

    assert _messages(response) == [
        "No job was moved: they were all in that queue already."
    ]


def test_select_across_acts_on_every_filtered_job(admin_client: Client) -> None:
    queue = JobQueueFactory.create()
    first, _second = JobFactory.create_batch(2)

    response = admin_client.post(
        URL,
        {
            "action": "move_to_queue",
            "_selected_action": [first.pk],
            "select_across": "1",
            "queue": queue.pk,
            "apply": "Apply",
        },
    )

    assert response.status_code == 302
    assert Job.objects.filter(queue=queue).count() == 2
