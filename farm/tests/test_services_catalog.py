"""Services the catalog pages added: ranks, the default version, notification texts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from farm.models import JobSoftwareRequirement, JobType, Software, SoftwareVersion
from farm.services.errors import ConflictError
from farm.services.jobtypes import update_jobtype_notification_templates
from farm.services.software import (
    MAX_RANK,
    set_default_software_version,
    set_software_version_rank,
)
from farm.tests.factories import (
    JobFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
)

if TYPE_CHECKING:
    from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def software() -> Software:
    """Versions 1 (rank 10), 2 (rank 20, default) and 3 (rank 30)."""
    item = SoftwareFactory.create(software="nuke")
    for number in (1, 2, 3):
        SoftwareVersionFactory.create(
            software=item, version=str(number), rank=10 * number, default=number == 2
        )
    return item


def version(software: Software, name: str) -> SoftwareVersion:
    return software.versions.get(version=name)


def ranks(software: Software) -> dict[str, int]:
    return dict(software.versions.values_list("version", "rank"))


def test_set_rank_moves_the_version(software: Software) -> None:
    """The version takes the rank; the others keep theirs."""
    set_software_version_rank(version=version(software, "1"), rank=25)
    assert ranks(software) == {"1": 25, "2": 20, "3": 30}


def test_set_rank_to_its_own_rank_is_allowed(software: Software) -> None:
    """Setting the rank a version already has changes nothing and is no conflict."""
    set_software_version_rank(version=version(software, "2"), rank=20)
    assert ranks(software)["2"] == 20


def test_set_rank_refuses_a_rank_another_version_has(software: Software) -> None:
    """ConflictError; nothing changes."""
    with pytest.raises(ConflictError, match="rank 30"):
        set_software_version_rank(version=version(software, "1"), rank=30)
    assert ranks(software)["1"] == 10


@pytest.mark.parametrize("rank", [-1, MAX_RANK + 1, True])
def test_set_rank_refuses_ranks_out_of_range(software: Software, rank: int) -> None:
    """ValidationError for ranks the database cannot hold (and booleans)."""
    with pytest.raises(ValidationError):
        set_software_version_rank(version=version(software, "1"), rank=rank)


def test_set_rank_allows_the_same_rank_in_another_software(software: Software) -> None:
    """Ranks are unique per software only."""
    other = SoftwareVersionFactory.create(rank=5)
    set_software_version_rank(version=other, rank=30)
    assert SoftwareVersion.objects.get(pk=other.pk).rank == 30


def test_set_rank_refuses_to_turn_a_requirement_around(software: Software) -> None:
    """A minimum may not be ranked above the maximum of the same requirement."""
    JobSoftwareRequirement.objects.create(
        job=JobFactory.create(),
        software=software,
        min_version=version(software, "1"),
        max_version=version(software, "2"),
    )
    with pytest.raises(ConflictError, match="other bound"):
        set_software_version_rank(version=version(software, "1"), rank=40)
    with pytest.raises(ConflictError, match="other bound"):
        set_software_version_rank(version=version(software, "2"), rank=5)
    assert ranks(software) == {"1": 10, "2": 20, "3": 30}


def test_set_default_takes_the_role_from_the_other_version(software: Software) -> None:
    """One default per software."""
    set_default_software_version(version=version(software, "3"))
    defaults = software.versions.filter(default=True)
    assert list(defaults.values_list("version", flat=True)) == ["3"]


def test_set_default_leaves_other_software_alone(software: Software) -> None:
    """The default of another software stays."""
    other = SoftwareVersionFactory.create(default=True)
    set_default_software_version(version=version(software, "3"))
    assert SoftwareVersion.objects.get(pk=other.pk).default is True


def test_clearing_the_default_leaves_none(software: Software) -> None:
    """``default=False`` takes the role away."""
    set_default_software_version(version=version(software, "2"), default=False)
    assert not software.versions.filter(default=True).exists()


def test_notification_templates_are_saved_without_a_new_version() -> None:
    """The texts change on the job type; its versions stay as they were."""
    jobtype_version = JobTypeVersionFactory.create()
    update_jobtype_notification_templates(
        jobtype=jobtype_version.jobtype,
        success_subject="Done",
        success_body="Body",
        fail_subject="Failed",
        fail_body="Sorry",
    )
    jobtype = JobType.objects.get(pk=jobtype_version.jobtype_id)
    assert (jobtype.success_subject, jobtype.fail_body) == ("Done", "Sorry")
    assert jobtype.versions.count() == 1


def test_blank_notification_templates_are_stored_as_none() -> None:
    """Blank texts are no texts."""
    jobtype = JobTypeVersionFactory.create(jobtype__success_body="old").jobtype
    update_jobtype_notification_templates(
        jobtype=jobtype,
        success_subject="  ",
        success_body="",
        fail_subject=None,
        fail_body=None,
    )
    assert JobType.objects.get(pk=jobtype.pk).success_body is None


@pytest.mark.parametrize("subject", ["a\nb", "a\r\nBcc: x@example.com"])
def test_notification_subjects_must_be_one_line(subject: str) -> None:
    """ValidationError for a line break in a subject; nothing saved."""
    jobtype = JobTypeVersionFactory.create().jobtype
    with pytest.raises(ValidationError):
        update_jobtype_notification_templates(
            jobtype=jobtype,
            success_subject="fine",
            success_body=None,
            fail_subject=subject,
            fail_body=None,
        )
    assert JobType.objects.get(pk=jobtype.pk).success_subject is None


ADMIN_CHANGELIST = reverse("admin:farm_softwareversion_changelist")


def test_admin_action_makes_a_version_the_default(
    admin_client: Client, software: Software
) -> None:
    """The admin's "make default" action calls the same service."""
    admin_client.post(
        ADMIN_CHANGELIST,
        {"action": "make_default", "_selected_action": [version(software, "3").pk]},
    )
    defaults = software.versions.filter(default=True)
    assert list(defaults.values_list("version", flat=True)) == ["3"]


def test_admin_action_refuses_two_versions_of_one_software(
    admin_client: Client, software: Software
) -> None:
    """One default per software: two versions of it selected change nothing."""
    admin_client.post(
        ADMIN_CHANGELIST,
        {
            "action": "make_default",
            "_selected_action": [
                version(software, "1").pk,
                version(software, "3").pk,
            ],
        },
    )
    assert software.versions.get(default=True).version == "2"
