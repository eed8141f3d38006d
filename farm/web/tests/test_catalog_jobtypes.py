"""The job types list, a job type's page and the farm admins' changes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.urls import reverse
from pygments.formatters import HtmlFormatter

from farm.models import JobType, JobTypeSoftwareRequirement
from farm.tests.factories import (
    JobFactory,
    JobGroupFactory,
    JobTypeFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
)
from farm.web.tests.catalog_fixtures import *  # noqa: F403

if TYPE_CHECKING:
    from django.test import Client
    from pytest_django import DjangoAssertNumQueries

    from farm.models import JobTypeVersion

pytestmark = pytest.mark.django_db

LIST = reverse("web:jobtypes")
CREATE = reverse("web:jobtype_create")
CODE = 'class Render(object):\n    """Renders."""\n    frames = 10\n'


@pytest.fixture
def version() -> JobTypeVersion:
    """Version 2 of job type "maya" (version 1 has other code)."""
    jobtype = JobTypeFactory.create(name="maya", description="Maya batch renders")
    JobTypeVersionFactory.create(jobtype=jobtype, version=1, code="old = 1\n")
    return JobTypeVersionFactory.create(
        jobtype=jobtype, version=2, code=CODE, max_batch=4, batch_contiguous=True
    )


def page_url(version: JobTypeVersion) -> str:
    return reverse("web:jobtype", args=[version.jobtype_id])


# --- reading ------------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, CREATE, "/jobtypes/1/"])
def test_jobtype_pages_need_login(client: Client, url: str) -> None:
    """An anonymous visitor is sent to log in."""
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_list_shows_latest_version_batch_and_jobs(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """Name, description, the latest version's number and batch, the jobs."""
    JobFactory.create_batch(2, jobtype_version=version)
    response = artist_client.get(LIST)
    jobtype, latest, jobs = response.context["rows"][0]
    assert (jobtype.name, latest.version, latest.max_batch, jobs) == ("maya", 2, 4, 2)
    assert "Maya batch renders" in response.content.decode()


def test_list_hides_the_create_button_from_plain_users(artist_client: Client) -> None:
    """No "New job type" for users who may not create one."""
    assert CREATE not in artist_client.get(LIST).content.decode()


def test_list_shows_the_create_button_to_farm_admins(farm_admin_client: Client) -> None:
    """Farm admins see "New job type"."""
    assert CREATE in farm_admin_client.get(LIST).content.decode()


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_does_not_grow_with_rows(
    artist_client: Client, django_assert_num_queries: DjangoAssertNumQueries, rows: int
) -> None:
    """Session, user, roles (twice), count, page, latest versions, job counts."""
    for version in JobTypeVersionFactory.create_batch(rows):
        JobFactory.create(jobtype_version=version)
    with django_assert_num_queries(8):
        artist_client.get(LIST)


def test_page_highlights_the_latest_code(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """The latest version's code, highlighted by Pygments."""
    response = artist_client.get(page_url(version))
    text = response.content.decode()
    assert '<div class="highlight">' in text
    assert '<span class="k">class</span>' in text
    assert "frames" in text
    assert "old" not in text


def test_page_shows_the_code_of_the_chosen_version(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """``?version=1`` shows version 1's code."""
    response = artist_client.get(page_url(version), {"version": 1})
    assert '<span class="n">old</span>' in response.content.decode()


@pytest.mark.parametrize("value", ["7", "x", ""])
def test_page_with_an_unknown_version_is_a_404(
    artist_client: Client, version: JobTypeVersion, value: str
) -> None:
    """A version the job type does not have is a 404 page."""
    response = artist_client.get(page_url(version), {"version": value})
    assert response.status_code == 404


def test_page_escapes_code(artist_client: Client) -> None:
    """Code is text, never markup of the page."""
    version = JobTypeVersionFactory.create(code="x = '<script>alert(1)</script>'\n")
    text = artist_client.get(page_url(version)).content.decode()
    assert "<script>alert" not in text


def test_page_lists_versions_with_their_requirements(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """Every version with its class name, batch and software requirements."""
    blender = SoftwareVersionFactory.create(software__software="blender", version="4.1")
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=version, software=blender.software, min_version=blender
    )
    response = artist_client.get(page_url(version))
    assert [v.version for v in response.context["versions"]] == [2, 1]
    assert "blender [4.1, *]" in response.content.decode()


def test_page_hides_admin_controls_from_plain_users(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """No forms to change the job type for a plain user."""
    text = artist_client.get(page_url(version)).content.decode()
    assert 'method="post"' not in text.split("<main")[1]


def test_page_shows_admin_controls_to_farm_admins(
    admin_role_client: Client, version: JobTypeVersion
) -> None:
    """A user with the admin role sees the forms."""
    text = admin_role_client.get(page_url(version)).content.decode()
    for name in ("jobtype_delete", "jobtype_requirement_add", "jobtype_notifications"):
        assert reverse(f"web:{name}", args=[version.jobtype_id]) in text


def test_page_query_count_does_not_grow_with_versions(
    artist_client: Client,
    version: JobTypeVersion,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """Versions and their requirements are read in two queries."""
    with django_assert_num_queries(8):
        artist_client.get(page_url(version))
    for number in range(3, 13):
        JobTypeVersionFactory.create(jobtype=version.jobtype, version=number)
    with django_assert_num_queries(8):
        artist_client.get(page_url(version))


def test_unknown_jobtype_is_a_404(artist_client: Client) -> None:
    """A job type id that does not exist is a 404 page."""
    assert artist_client.get("/jobtypes/999999/").status_code == 404


def test_stylesheet_has_pygments_highlight_rules() -> None:
    """static/farm/css/catalog.css holds the installed Pygments' .highlight rules."""
    css = (Path(settings.BASE_DIR) / "static/farm/css/catalog.css").read_text()
    rules = HtmlFormatter().get_style_defs(".highlight").splitlines()
    missing = [
        rule for rule in rules if rule.startswith(".highlight") and rule not in css
    ]
    assert missing == []


# --- creating -----------------------------------------------------------------


def create_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "houdini",
        "description": "Mantra renders",
        "classname": "Mantra",
        "code": "class Mantra(object):\n    pass\n",
        "max_batch": 2,
        "batch_contiguous": "on",
    }
    data.update(changes)
    return data


def test_farm_admin_creates_a_jobtype(farm_admin_client: Client) -> None:
    """The form makes the job type with its version 1 and opens its page."""
    response = farm_admin_client.post(CREATE, create_data())
    jobtype = JobType.objects.get(name="houdini")
    assert response["Location"] == reverse("web:jobtype", args=[jobtype.pk])
    version = jobtype.versions.get()
    assert (version.version, version.classname, version.max_batch) == (1, "Mantra", 2)
    assert version.batch_contiguous is True
    assert jobtype.description == "Mantra renders"


def test_create_form_shows_for_farm_admins(farm_admin_client: Client) -> None:
    """GET shows the empty form."""
    response = farm_admin_client.get(CREATE)
    assert response.status_code == 200
    assert 'name="code"' in response.content.decode()


def test_plain_user_cannot_create_a_jobtype(artist_client: Client) -> None:
    """Refused with a message; nothing created."""
    response = artist_client.post(CREATE, create_data(), follow=True)
    assert not JobType.objects.exists()
    assert "Only farm admins can change job types." in response.content.decode()


def test_plain_user_gets_no_create_form(artist_client: Client) -> None:
    """GET of the form is refused too."""
    response = artist_client.get(CREATE)
    assert response.status_code == 302


def test_create_refuses_a_duplicate_name(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A taken name is an error on the form."""
    response = farm_admin_client.post(CREATE, create_data(name="maya"))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert JobType.objects.count() == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "a/b"},
        {"name": ""},
        {"code": "   "},
        {"max_batch": 0},
        {"max_batch": "many"},
        {"name": "x" * 65},
    ],
)
def test_create_refuses_bad_input(
    farm_admin_client: Client, changes: dict[str, object]
) -> None:
    """Bad names, blank code and bad batch sizes: the form again, no job type."""
    response = farm_admin_client.post(CREATE, create_data(**changes))
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not JobType.objects.exists()


# --- removing -----------------------------------------------------------------


def test_farm_admin_removes_an_unused_jobtype(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """The job type and its versions are gone; back to the list."""
    response = farm_admin_client.post(
        reverse("web:jobtype_delete", args=[version.jobtype_id])
    )
    assert response["Location"] == LIST
    assert not JobType.objects.exists()


def test_removing_a_jobtype_in_use_is_refused(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A job type that jobs use stays, with a message saying why."""
    JobFactory.create(jobtype_version=version)
    response = farm_admin_client.post(
        reverse("web:jobtype_delete", args=[version.jobtype_id]), follow=True
    )
    assert JobType.objects.exists()
    assert "still used by jobs" in response.content.decode()


def test_removing_a_main_jobtype_of_a_group_is_refused(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A group's main job type stays."""
    JobGroupFactory.create(main_jobtype=version.jobtype)
    farm_admin_client.post(reverse("web:jobtype_delete", args=[version.jobtype_id]))
    assert JobType.objects.exists()


def test_plain_user_cannot_remove_a_jobtype(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """Refused with a message; the job type stays."""
    response = artist_client.post(
        reverse("web:jobtype_delete", args=[version.jobtype_id]), follow=True
    )
    assert JobType.objects.exists()
    assert "Only farm admins" in response.content.decode()


def test_anonymous_cannot_remove_a_jobtype(
    client: Client, version: JobTypeVersion
) -> None:
    """Sent to log in; the job type stays."""
    response = client.post(reverse("web:jobtype_delete", args=[version.jobtype_id]))
    assert response["Location"].startswith("/login/")
    assert JobType.objects.exists()


def test_removing_by_get_changes_nothing(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """GET is not allowed on an action."""
    response = farm_admin_client.get(
        reverse("web:jobtype_delete", args=[version.jobtype_id])
    )
    assert response.status_code == 405
    assert JobType.objects.exists()


def test_removing_an_unknown_jobtype_is_a_404(farm_admin_client: Client) -> None:
    """An id that does not exist is a 404 page."""
    response = farm_admin_client.post(reverse("web:jobtype_delete", args=[999999]))
    assert response.status_code == 404


# --- software requirements ----------------------------------------------------


def test_farm_admin_adds_a_requirement(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A new version (3) requires the software between the given versions."""
    low = SoftwareVersionFactory.create(software__software="blender", rank=1)
    high = SoftwareVersionFactory.create(software=low.software, rank=2)
    farm_admin_client.post(
        reverse("web:jobtype_requirement_add", args=[version.jobtype_id]),
        {"software": low.software_id, "min_version": low.pk, "max_version": high.pk},
    )
    latest = version.jobtype.versions.order_by("-version").first()
    assert latest is not None
    assert latest.version == 3
    requirement = latest.software_requirements.get()
    assert (requirement.min_version, requirement.max_version) == (low, high)


def test_adding_a_requirement_twice_is_refused(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """The second time says it is already required and makes no version."""
    software = SoftwareFactory.create()
    url = reverse("web:jobtype_requirement_add", args=[version.jobtype_id])
    farm_admin_client.post(url, {"software": software.pk})
    response = farm_admin_client.post(url, {"software": software.pk}, follow=True)
    assert "already requires" in response.content.decode()
    assert version.jobtype.versions.count() == 3


@pytest.mark.parametrize(
    "data",
    [
        {"software": "999999"},
        {"software": "x"},
        {},
    ],
)
def test_adding_a_bad_requirement_is_refused(
    farm_admin_client: Client, version: JobTypeVersion, data: dict[str, str]
) -> None:
    """Unknown or missing software: a message, no new version."""
    response = farm_admin_client.post(
        reverse("web:jobtype_requirement_add", args=[version.jobtype_id]),
        data,
        follow=True,
    )
    assert response.status_code == 200
    assert "Not added" in response.content.decode()
    assert version.jobtype.versions.count() == 2


def test_adding_a_requirement_with_another_softwares_version_is_refused(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A bound that is a version of another software: a message."""
    software = SoftwareFactory.create()
    other = SoftwareVersionFactory.create()
    response = farm_admin_client.post(
        reverse("web:jobtype_requirement_add", args=[version.jobtype_id]),
        {"software": software.pk, "min_version": other.pk},
        follow=True,
    )
    assert "is not a version of" in response.content.decode()
    assert version.jobtype.versions.count() == 2


def test_adding_a_requirement_with_bounds_reversed_is_refused(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A minimum ranked above the maximum: a message."""
    low = SoftwareVersionFactory.create(rank=1)
    high = SoftwareVersionFactory.create(software=low.software, rank=2)
    response = farm_admin_client.post(
        reverse("web:jobtype_requirement_add", args=[version.jobtype_id]),
        {"software": low.software_id, "min_version": high.pk, "max_version": low.pk},
        follow=True,
    )
    assert "must not be lower" in response.content.decode()
    assert version.jobtype.versions.count() == 2


def test_plain_user_cannot_add_a_requirement(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """Refused; no new version."""
    software = SoftwareFactory.create()
    artist_client.post(
        reverse("web:jobtype_requirement_add", args=[version.jobtype_id]),
        {"software": software.pk},
    )
    assert version.jobtype.versions.count() == 2


def test_farm_admin_removes_a_requirement(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A new version without the software."""
    software = SoftwareFactory.create()
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=version, software=software
    )
    farm_admin_client.post(
        reverse(
            "web:jobtype_requirement_remove", args=[version.jobtype_id, software.pk]
        )
    )
    latest = version.jobtype.versions.order_by("-version").first()
    assert latest is not None
    assert latest.version == 3
    assert not latest.software_requirements.exists()


def test_removing_a_requirement_that_is_not_there_says_so(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A message; no new version."""
    software = SoftwareFactory.create(software="nuke")
    response = farm_admin_client.post(
        reverse(
            "web:jobtype_requirement_remove", args=[version.jobtype_id, software.pk]
        ),
        follow=True,
    )
    assert "does not require nuke" in response.content.decode()
    assert version.jobtype.versions.count() == 2


def test_removing_a_requirement_of_unknown_software_is_a_404(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """An unknown software id is a 404 page."""
    response = farm_admin_client.post(
        reverse("web:jobtype_requirement_remove", args=[version.jobtype_id, 999999])
    )
    assert response.status_code == 404


def test_plain_user_cannot_remove_a_requirement(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """Refused; the requirement stays and no version is made."""
    software = SoftwareFactory.create()
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=version, software=software
    )
    artist_client.post(
        reverse(
            "web:jobtype_requirement_remove", args=[version.jobtype_id, software.pk]
        )
    )
    assert version.jobtype.versions.count() == 2


# --- notification templates ---------------------------------------------------


def test_farm_admin_saves_notification_templates(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """The four texts are saved on the job type, without a new version."""
    farm_admin_client.post(
        reverse("web:jobtype_notifications", args=[version.jobtype_id]),
        {
            "success_subject": "Done: {job}",
            "success_body": "All frames rendered.",
            "fail_subject": "Failed: {job}",
            "fail_body": "",
        },
    )
    jobtype = JobType.objects.get(pk=version.jobtype_id)
    assert jobtype.success_subject == "Done: {job}"
    assert jobtype.fail_subject == "Failed: {job}"
    assert jobtype.fail_body is None
    assert jobtype.versions.count() == 2


def test_notification_subject_with_a_line_break_is_refused(
    farm_admin_client: Client, version: JobTypeVersion
) -> None:
    """A subject is one line: a message, nothing saved."""
    response = farm_admin_client.post(
        reverse("web:jobtype_notifications", args=[version.jobtype_id]),
        {"success_subject": "Done\nBcc: everyone@example.com"},
        follow=True,
    )
    assert "must be a single line" in response.content.decode()
    assert JobType.objects.get(pk=version.jobtype_id).success_subject is None


def test_plain_user_cannot_save_notification_templates(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """Refused with a message; nothing saved."""
    response = artist_client.post(
        reverse("web:jobtype_notifications", args=[version.jobtype_id]),
        {"success_subject": "hacked"},
        follow=True,
    )
    assert "Only farm admins" in response.content.decode()
    assert JobType.objects.get(pk=version.jobtype_id).success_subject is None


def test_plain_user_sees_notification_templates_read_only(
    artist_client: Client, version: JobTypeVersion
) -> None:
    """The texts are shown, without a form."""
    JobType.objects.filter(pk=version.jobtype_id).update(fail_subject="Oops")
    text = artist_client.get(page_url(version)).content.decode()
    assert "Oops" in text
    assert 'name="fail_subject"' not in text


def test_create_shows_the_services_refusal_on_the_field(
    farm_admin_client: Client,
) -> None:
    """A name the service refuses is an error of the name field."""
    response = farm_admin_client.post(CREATE, create_data(name="a/b"))
    assert response.context["form"].errors["name"] == [
        "must not contain path separators"
    ]
