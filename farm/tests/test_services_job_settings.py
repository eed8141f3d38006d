"""`farm.services.job_settings`: queue, priority, weight, tags of many jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from farm.models import Job, JobTagRequirement, Tag
from farm.services.job_settings import (
    add_tag_requirement_to_jobs,
    add_tag_to_jobs,
    move_jobs_to_queue,
    remove_tag_from_jobs,
    remove_tag_requirement_from_jobs,
    set_jobs_priority_and_weight,
)
from farm.tests.factories import JobFactory, JobQueueFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signalled() -> Iterator[list[str]]:
    """The reasons the service gives the scheduler (`notify_work_changed`)."""
    reasons: list[str] = []
    with mock.patch(
        "farm.services.job_settings.notify_work_changed", side_effect=reasons.append
    ):
        yield reasons


def _jobs(*jobs: Job) -> Any:
    return Job.objects.filter(pk__in=[job.pk for job in jobs])


def _requirements(job: Job) -> set[tuple[str, bool]]:
    return {
        (row.tag.tag, row.negate)
        for row in JobTagRequirement.objects.filter(job=job).select_related("tag")
    }


# --- queues -------------------------------------------------------------------


def test_move_puts_the_jobs_in_the_queue(signalled: list[str]) -> None:
    queue = JobQueueFactory.create()
    first, second = JobFactory.create_batch(2)
    other = JobFactory.create()

    assert move_jobs_to_queue(jobs=_jobs(first, second), queue=queue) == 2

    assert set(Job.objects.filter(queue=queue)) == {first, second}
    other.refresh_from_db()
    assert other.queue is None
    assert signalled == ["jobs moved to another queue"]


def test_move_does_not_count_jobs_already_in_the_queue(signalled: list[str]) -> None:
    queue = JobQueueFactory.create()
    job = JobFactory.create(queue=queue)

    assert move_jobs_to_queue(jobs=_jobs(job), queue=queue) == 0
    assert signalled == []


def test_move_to_no_queue_takes_the_jobs_out_of_theirs() -> None:
    job = JobFactory.create(queue=JobQueueFactory.create())

    assert move_jobs_to_queue(jobs=_jobs(job), queue=None) == 1

    job.refresh_from_db()
    assert job.queue is None


def test_move_costs_the_same_queries_for_many_jobs(
    django_assert_num_queries: Any,
) -> None:
    queue = JobQueueFactory.create()
    jobs = JobFactory.create_batch(30)
    with django_assert_num_queries(4):  # savepoint, ids, update, release
        move_jobs_to_queue(jobs=_jobs(*jobs), queue=queue)


# --- priority and weight ----------------------------------------------------


def test_priority_and_weight_are_set_together(signalled: list[str]) -> None:
    first, second = JobFactory.create_batch(2)

    count = set_jobs_priority_and_weight(
        jobs=_jobs(first, second), priority=50, weight=7
    )

    assert count == 2
    assert set(Job.objects.values_list("priority", "weight")) == {(50, 7)}
    assert signalled == ["job priority or weight changed"]


def test_priority_alone_leaves_the_weight() -> None:
    job = JobFactory.create(weight=3)

    set_jobs_priority_and_weight(jobs=_jobs(job), priority=10)

    job.refresh_from_db()
    assert (job.priority, job.weight) == (10, 3)


def test_weight_alone_leaves_the_priority() -> None:
    job = JobFactory.create(priority=4)

    set_jobs_priority_and_weight(jobs=_jobs(job), weight=9)

    job.refresh_from_db()
    assert (job.priority, job.weight) == (4, 9)


def test_jobs_with_those_values_already_are_not_counted(
    signalled: list[str],
) -> None:
    same = JobFactory.create(priority=5, weight=2)
    other = JobFactory.create(priority=5, weight=1)

    assert (
        set_jobs_priority_and_weight(jobs=_jobs(same, other), priority=5, weight=2) == 1
    )


def test_a_priority_out_of_the_configured_bounds_changes_nothing(
    farm_config: Callable[..., None],
) -> None:
    farm_config(queue_min_priority=-10, queue_max_priority=10)
    job = JobFactory.create(priority=1)

    with pytest.raises(ValidationError) as error:
        set_jobs_priority_and_weight(jobs=_jobs(job), priority=11, weight=5)

    assert "priority" in error.value.message_dict
    job.refresh_from_db()
    assert job.priority == 1


def test_a_negative_weight_is_refused() -> None:
    job = JobFactory.create()
    with pytest.raises(ValidationError) as error:
        set_jobs_priority_and_weight(jobs=_jobs(job), weight=-1)
    assert "weight" in error.value.message_dict


def test_neither_priority_nor_weight_is_refused() -> None:
    with pytest.raises(ValidationError):
        set_jobs_priority_and_weight(jobs=Job.objects.all())


# --- tags -----------------------------------------------------------------------


def test_adding_a_new_tag_creates_it_and_tags_the_jobs(signalled: list[str]) -> None:
    first, second = JobFactory.create_batch(2)

    assert add_tag_to_jobs(jobs=_jobs(first, second), name="lighting") == 2

    tag = Tag.objects.get(tag="lighting")
    assert set(tag.jobs.all()) == {first, second}
    # A job's tags are labels: the scheduler has nothing to do.
    assert signalled == []


def test_adding_a_tag_does_not_count_jobs_that_have_it() -> None:
    tag = TagFactory.create(tag="lighting")
    tagged = JobFactory.create()
    tagged.tags.add(tag)
    untagged = JobFactory.create()

    assert add_tag_to_jobs(jobs=_jobs(tagged, untagged), name="lighting") == 1
    assert set(tag.jobs.all()) == {tagged, untagged}


def test_adding_a_blank_or_too_long_tag_is_refused() -> None:
    job = JobFactory.create()
    for name in ("", "x" * 65):
        with pytest.raises(ValidationError):
            add_tag_to_jobs(jobs=_jobs(job), name=name)
    assert not Tag.objects.exists()


def test_removing_a_tag_leaves_other_jobs_and_tags() -> None:
    tag, keep = TagFactory.create(tag="lighting"), TagFactory.create(tag="keep")
    job, other = JobFactory.create_batch(2)
    job.tags.add(tag, keep)
    other.tags.add(tag)

    assert remove_tag_from_jobs(jobs=_jobs(job), name="lighting") == 1

    assert list(job.tags.all()) == [keep]
    assert list(other.tags.all()) == [tag]


def test_removing_an_unknown_tag_creates_nothing() -> None:
    job = JobFactory.create()
    assert remove_tag_from_jobs(jobs=_jobs(job), name="nope") == 0
    assert not Tag.objects.exists()


# --- tag requirements ---------------------------------------------------------


def test_adding_a_requirement_creates_the_tag(signalled: list[str]) -> None:
    first, second = JobFactory.create_batch(2)

    assert add_tag_requirement_to_jobs(jobs=_jobs(first, second), name="gpu") == 2

    assert _requirements(first) == _requirements(second) == {("gpu", False)}
    assert signalled == ["job tag requirements changed"]


def test_adding_a_negated_requirement_flips_an_existing_one() -> None:
    tag = TagFactory.create(tag="gpu")
    flipped = JobFactory.create()
    JobTagRequirement.objects.create(job=flipped, tag=tag, negate=False)
    same = JobFactory.create()
    JobTagRequirement.objects.create(job=same, tag=tag, negate=True)

    count = add_tag_requirement_to_jobs(
        jobs=_jobs(flipped, same), name="gpu", negate=True
    )

    assert count == 1
    assert _requirements(flipped) == _requirements(same) == {("gpu", True)}


def test_adding_requirements_costs_the_same_queries_for_many_jobs(
    django_assert_num_queries: Any,
) -> None:
    TagFactory.create(tag="gpu")
    jobs = JobFactory.create_batch(30)
    # savepoint, tag, ids, flip, existing, insert, release
    with django_assert_num_queries(7):
        add_tag_requirement_to_jobs(jobs=_jobs(*jobs), name="gpu")


def test_removing_a_requirement_leaves_other_jobs(signalled: list[str]) -> None:
    tag = TagFactory.create(tag="gpu")
    job, other = JobFactory.create_batch(2)
    for each in (job, other):
        JobTagRequirement.objects.create(job=each, tag=tag, negate=True)

    assert remove_tag_requirement_from_jobs(jobs=_jobs(job), name="gpu") == 1

    assert _requirements(job) == set()
    assert _requirements(other) == {("gpu", True)}
    assert signalled == ["job tag requirements changed"]


def test_removing_an_unknown_requirement_changes_nothing(
    signalled: list[str],
) -> None:
    job = JobFactory.create()
    assert remove_tag_requirement_from_jobs(jobs=_jobs(job), name="nope") == 0
    assert not Tag.objects.exists()
    assert signalled == []


# --- one job (the job page's edits: a queryset of one) -------------------------
def _one(job: Job) -> Any:
    """The job as a queryset of one, as the job page passes it."""
    return Job.objects.filter(pk=job.pk)


def test_one_job_adding_a_new_tag_creates_it() -> None:
    job = JobFactory.create()
    assert add_tag_to_jobs(jobs=_one(job), name="urgent") == 1
    assert list(job.tags.values_list("tag", flat=True)) == ["urgent"]


def test_one_job_adding_a_tag_twice_changes_nothing() -> None:
    job = JobFactory.create()
    add_tag_to_jobs(jobs=_one(job), name="urgent")
    assert add_tag_to_jobs(jobs=_one(job), name="urgent") == 0
    assert job.tags.count() == 1


def test_one_job_adding_a_tag_keeps_the_others() -> None:
    job = JobFactory.create()
    job.tags.add(TagFactory.create(tag="old"))
    add_tag_to_jobs(jobs=_one(job), name="new")
    assert sorted(job.tags.values_list("tag", flat=True)) == ["new", "old"]


def test_one_job_a_blank_tag_is_refused() -> None:
    with pytest.raises(ValidationError):
        add_tag_to_jobs(jobs=_one(JobFactory.create()), name="   ")
    assert not Tag.objects.exists()


def test_one_job_removing_a_tag_leaves_the_tag_for_others() -> None:
    job, other = JobFactory.create(), JobFactory.create()
    for each in (job, other):
        add_tag_to_jobs(jobs=_one(each), name="shared")
    assert remove_tag_from_jobs(jobs=_one(job), name="shared") == 1
    assert not job.tags.exists()
    assert list(other.tags.values_list("tag", flat=True)) == ["shared"]


def test_one_job_removing_a_missing_tag_says_so_and_creates_nothing() -> None:
    assert remove_tag_from_jobs(jobs=_one(JobFactory.create()), name="ghost") == 0
    assert not Tag.objects.exists()


def test_one_job_requiring_a_tag_and_then_forbidding_it() -> None:
    job = JobFactory.create()
    assert add_tag_requirement_to_jobs(jobs=_one(job), name="gpu") == 1
    assert add_tag_requirement_to_jobs(jobs=_one(job), name="gpu", negate=True) == 1
    assert list(JobTagRequirement.objects.values_list("tag__tag", "negate")) == [
        ("gpu", True)
    ]


def test_one_job_setting_the_same_requirement_again_changes_nothing() -> None:
    job = JobFactory.create()
    add_tag_requirement_to_jobs(jobs=_one(job), name="gpu", negate=True)
    assert add_tag_requirement_to_jobs(jobs=_one(job), name="gpu", negate=True) == 0


def test_one_job_removing_a_requirement() -> None:
    job = JobFactory.create()
    add_tag_requirement_to_jobs(jobs=_one(job), name="gpu")
    assert remove_tag_requirement_from_jobs(jobs=_one(job), name="gpu") == 1
    assert remove_tag_requirement_from_jobs(jobs=_one(job), name="gpu") == 0
    assert not JobTagRequirement.objects.exists()


def test_one_job_requirements_of_other_jobs_stay() -> None:
    job, other = JobFactory.create(), JobFactory.create()
    add_tag_requirement_to_jobs(jobs=_one(other), name="gpu")
    assert remove_tag_requirement_from_jobs(jobs=_one(job), name="gpu") == 0
    assert JobTagRequirement.objects.filter(job=other).count() == 1
