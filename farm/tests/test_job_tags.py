"""One job's tags and tag requirements, one entry at a time (farm.services.job_tags)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from farm.models import JobTagRequirement, Tag
from farm.services.job_tags import (
    add_job_tag,
    remove_job_tag,
    remove_job_tag_requirement,
    set_job_tag_requirement,
)
from farm.tests.factories import JobFactory, TagFactory

pytestmark = pytest.mark.django_db


def test_adding_a_new_tag_creates_it() -> None:
    job = JobFactory.create()
    assert add_job_tag(job=job, name="urgent") is True
    assert list(job.tags.values_list("tag", flat=True)) == ["urgent"]


def test_adding_a_tag_twice_changes_nothing() -> None:
    job = JobFactory.create()
    add_job_tag(job=job, name="urgent")
    assert add_job_tag(job=job, name="urgent") is False
    assert job.tags.count() == 1


def test_adding_a_tag_keeps_the_others() -> None:
    job = JobFactory.create()
    job.tags.add(TagFactory.create(tag="old"))
    add_job_tag(job=job, name="new")
    assert sorted(job.tags.values_list("tag", flat=True)) == ["new", "old"]


def test_a_blank_tag_is_refused() -> None:
    with pytest.raises(ValidationError):
        add_job_tag(job=JobFactory.create(), name="   ")
    assert not Tag.objects.exists()


def test_removing_a_tag_leaves_the_tag_for_others() -> None:
    job, other = JobFactory.create(), JobFactory.create()
    for each in (job, other):
        add_job_tag(job=each, name="shared")
    assert remove_job_tag(job=job, name="shared") is True
    assert not job.tags.exists()
    assert list(other.tags.values_list("tag", flat=True)) == ["shared"]


def test_removing_a_missing_tag_says_so_and_creates_nothing() -> None:
    assert remove_job_tag(job=JobFactory.create(), name="ghost") is False
    assert not Tag.objects.exists()


def test_requiring_a_tag_and_then_forbidding_it() -> None:
    job = JobFactory.create()
    assert set_job_tag_requirement(job=job, name="gpu") is True
    assert set_job_tag_requirement(job=job, name="gpu", negate=True) is True
    assert list(JobTagRequirement.objects.values_list("tag__tag", "negate")) == [
        ("gpu", True)
    ]


def test_setting_the_same_requirement_again_changes_nothing() -> None:
    job = JobFactory.create()
    set_job_tag_requirement(job=job, name="gpu", negate=True)
    assert set_job_tag_requirement(job=job, name="gpu", negate=True) is False


def test_removing_a_requirement() -> None:
    job = JobFactory.create()
    set_job_tag_requirement(job=job, name="gpu")
    assert remove_job_tag_requirement(job=job, name="gpu") is True
    assert remove_job_tag_requirement(job=job, name="gpu") is False
    assert not JobTagRequirement.objects.exists()


def test_requirements_of_other_jobs_stay() -> None:
    job, other = JobFactory.create(), JobFactory.create()
    set_job_tag_requirement(job=other, name="gpu")
    assert remove_job_tag_requirement(job=job, name="gpu") is False
    assert JobTagRequirement.objects.filter(job=other).count() == 1
