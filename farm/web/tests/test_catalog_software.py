"""The software list, a software's page and the farm admins' changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.urls import reverse

from farm.models import JobTypeSoftwareRequirement, Software, SoftwareVersion
from farm.tests.factories import (
    AgentFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
)
from farm.web.tests.catalog_fixtures import *  # noqa: F403

if TYPE_CHECKING:
    from django.test import Client
    from pytest_django import DjangoAssertNumQueries

pytestmark = pytest.mark.django_db

LIST = reverse("web:software_list")
ADD = reverse("web:software_add")


@pytest.fixture
def blender() -> Software:
    """Blender 3.6 (rank 100) and 4.1 (rank 200, the default)."""
    software = SoftwareFactory.create(software="blender")
    SoftwareVersionFactory.create(software=software, version="3.6", rank=100)
    SoftwareVersionFactory.create(
        software=software, version="4.1", rank=200, default=True
    )
    return software


def page_url(software: Software) -> str:
    return reverse("web:software", args=[software.pk])


def version_url(name: str, version: SoftwareVersion) -> str:
    return reverse(f"web:{name}", args=[version.software_id, version.pk])


def ranks(software: Software) -> dict[str, int]:
    return dict(software.versions.values_list("version", "rank"))


# --- reading ------------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, "/software/1/"])
def test_software_pages_need_login(client: Client, url: str) -> None:
    """An anonymous visitor is sent to log in."""
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_list_shows_versions_with_ranks_and_the_default(
    artist_client: Client, blender: Software
) -> None:
    """Each software with its versions (rank) and its default."""
    text = artist_client.get(LIST).content.decode()
    assert "blender" in text
    assert "3.6" in text
    assert "(200)" in text
    assert "version-default" in text


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_does_not_grow_with_rows(
    artist_client: Client, django_assert_num_queries: DjangoAssertNumQueries, rows: int
) -> None:
    """Session, user, roles (twice), count, page, the page's versions."""
    for software in SoftwareFactory.create_batch(rows):
        SoftwareVersionFactory.create_batch(2, software=software)
    with django_assert_num_queries(7):
        artist_client.get(LIST)


def test_list_hides_the_add_form_from_plain_users(artist_client: Client) -> None:
    """No "Add software" for a plain user."""
    assert ADD not in artist_client.get(LIST).content.decode()


def test_list_shows_the_add_form_to_farm_admins(farm_admin_client: Client) -> None:
    """Farm admins see "Add software"."""
    assert ADD in farm_admin_client.get(LIST).content.decode()


def test_page_counts_agents_per_version_and_links_to_them(
    artist_client: Client, blender: Software
) -> None:
    """How many agents have each version; a link to the agents list."""
    new = blender.versions.get(version="4.1")
    for agent in AgentFactory.create_batch(2):
        agent.software_versions.add(new)
    response = artist_client.get(page_url(blender))
    assert dict((v.version, n) for v, n in response.context["versions"]) == {
        "4.1": 2,
        "3.6": 0,
    }
    assert f"{reverse('web:agents')}?software=blender" in response.content.decode()


def test_page_lists_jobtypes_requiring_it_in_their_latest_version(
    artist_client: Client, blender: Software
) -> None:
    """The latest version of each job type that requires the software."""
    old = JobTypeVersionFactory.create(jobtype__name="cycles", version=1)
    new = JobTypeVersionFactory.create(jobtype=old.jobtype, version=2)
    dropped = JobTypeVersionFactory.create(jobtype__name="eevee", version=1)
    JobTypeVersionFactory.create(jobtype=dropped.jobtype, version=2)
    for version in (old, new, dropped):
        JobTypeSoftwareRequirement.objects.create(
            jobtype_version=version, software=blender
        )
    response = artist_client.get(page_url(blender))
    required = [
        (r.jobtype_version.jobtype.name, r.jobtype_version.version)
        for r in response.context["requirements"]
    ]
    assert required == [("cycles", 2)]


def test_page_hides_admin_controls_from_plain_users(
    artist_client: Client, blender: Software
) -> None:
    """No forms on the page for a plain user."""
    text = artist_client.get(page_url(blender)).content.decode()
    assert 'method="post"' not in text.split("<main")[1]


def test_page_shows_admin_controls_to_farm_admins(
    admin_role_client: Client, blender: Software
) -> None:
    """Add version, rank, default, remove: all there for an admin-role user."""
    text = admin_role_client.get(page_url(blender)).content.decode()
    version = blender.versions.get(version="3.6")
    assert reverse("web:software_version_add", args=[blender.pk]) in text
    for name in (
        "software_version_rank",
        "software_version_default",
        "software_version_delete",
    ):
        assert version_url(name, version) in text


def test_page_query_count_does_not_grow_with_versions(
    artist_client: Client,
    blender: Software,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """Versions, agents per version and requirements: one query each."""
    with django_assert_num_queries(8):
        artist_client.get(page_url(blender))
    # Ranks of their own: the factory's sequence may reach the fixture's 100 or 200.
    for n in range(10):
        SoftwareVersionFactory.create(software=blender, rank=1000 + n)
    with django_assert_num_queries(8):
        artist_client.get(page_url(blender))


def test_unknown_software_is_a_404(artist_client: Client) -> None:
    """A software id that does not exist is a 404 page."""
    assert artist_client.get("/software/999999/").status_code == 404


# --- adding and removing software ---------------------------------------------


def test_farm_admin_adds_software(farm_admin_client: Client) -> None:
    """The software exists and its page opens."""
    response = farm_admin_client.post(ADD, {"name": "houdini"})
    software = Software.objects.get(software="houdini")
    assert response["Location"] == page_url(software)


@pytest.mark.parametrize("name", ["", "a/b", "x" * 65])
def test_adding_software_with_a_bad_name_is_refused(
    farm_admin_client: Client, name: str
) -> None:
    """A message; nothing added."""
    response = farm_admin_client.post(ADD, {"name": name}, follow=True)
    assert "Not added" in response.content.decode()
    assert not Software.objects.exists()


def test_adding_software_twice_is_refused(
    farm_admin_client: Client, blender: Software
) -> None:
    """A duplicate name: a message saying so."""
    response = farm_admin_client.post(ADD, {"name": "blender"}, follow=True)
    assert "already exists" in response.content.decode()
    assert Software.objects.count() == 1


def test_plain_user_cannot_add_software(artist_client: Client) -> None:
    """Refused with a message; nothing added."""
    response = artist_client.post(ADD, {"name": "houdini"}, follow=True)
    assert "Only farm admins can change software." in response.content.decode()
    assert not Software.objects.exists()


def test_anonymous_cannot_add_software(client: Client) -> None:
    """Sent to log in; nothing added."""
    response = client.post(ADD, {"name": "houdini"})
    assert response["Location"].startswith("/login/")
    assert not Software.objects.exists()


def test_farm_admin_removes_software(
    farm_admin_client: Client, blender: Software
) -> None:
    """The software and its versions are gone; back to the list."""
    response = farm_admin_client.post(reverse("web:software_delete", args=[blender.pk]))
    assert response["Location"] == LIST
    assert not SoftwareVersion.objects.exists()


def test_removing_required_software_is_refused(
    farm_admin_client: Client, blender: Software
) -> None:
    """Software a job type requires stays, with a message saying why."""
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=JobTypeVersionFactory.create(), software=blender
    )
    response = farm_admin_client.post(
        reverse("web:software_delete", args=[blender.pk]), follow=True
    )
    assert "still required" in response.content.decode()
    assert Software.objects.exists()


def test_plain_user_cannot_remove_software(
    artist_client: Client, blender: Software
) -> None:
    """Refused; the software stays."""
    artist_client.post(reverse("web:software_delete", args=[blender.pk]))
    assert Software.objects.exists()


def test_removing_unknown_software_is_a_404(farm_admin_client: Client) -> None:
    """An id that does not exist is a 404 page."""
    response = farm_admin_client.post(reverse("web:software_delete", args=[999999]))
    assert response.status_code == 404


# --- versions -----------------------------------------------------------------


def test_farm_admin_adds_a_version_ranked_above_the_others(
    farm_admin_client: Client, blender: Software
) -> None:
    """Without a rank the new version is the newest (highest + 100)."""
    farm_admin_client.post(
        reverse("web:software_version_add", args=[blender.pk]), {"version": "4.2"}
    )
    assert ranks(blender)["4.2"] == 300


def test_farm_admin_adds_a_ranked_default_version(
    farm_admin_client: Client, blender: Software
) -> None:
    """An explicit rank is kept; a new default takes the role from the old one."""
    farm_admin_client.post(
        reverse("web:software_version_add", args=[blender.pk]),
        {"version": "3.9", "rank": 150, "default": "on"},
    )
    assert ranks(blender)["3.9"] == 150
    assert list(
        blender.versions.filter(default=True).values_list("version", flat=True)
    ) == ["3.9"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": "4.1"}, "already has version"),
        ({"version": "5.0", "rank": 200}, "already has a version of rank 200"),
        ({"version": "5.0", "rank": -1}, "Not added"),
        ({"version": "5.0", "rank": "high"}, "Not added"),
        ({"version": "5.0", "rank": 2**31}, "Not added"),
        ({"version": ""}, "Not added"),
        ({"version": "../x"}, "Not added"),
    ],
)
def test_adding_a_bad_version_is_refused(
    farm_admin_client: Client, blender: Software, data: dict[str, object], message: str
) -> None:
    """Duplicates, taken or bad ranks, bad names: a message, nothing added."""
    response = farm_admin_client.post(
        reverse("web:software_version_add", args=[blender.pk]), data, follow=True
    )
    assert message in response.content.decode()
    assert blender.versions.count() == 2


def test_plain_user_cannot_add_a_version(
    artist_client: Client, blender: Software
) -> None:
    """Refused with a message; nothing added."""
    response = artist_client.post(
        reverse("web:software_version_add", args=[blender.pk]),
        {"version": "4.2"},
        follow=True,
    )
    assert "Only farm admins" in response.content.decode()
    assert blender.versions.count() == 2


def test_adding_a_version_to_unknown_software_is_a_404(
    farm_admin_client: Client,
) -> None:
    """An unknown software id is a 404 page."""
    response = farm_admin_client.post(
        reverse("web:software_version_add", args=[999999]), {"version": "1"}
    )
    assert response.status_code == 404


def test_farm_admin_removes_a_version(
    farm_admin_client: Client, blender: Software
) -> None:
    """The version is gone."""
    version = blender.versions.get(version="3.6")
    farm_admin_client.post(version_url("software_version_delete", version))
    assert list(ranks(blender)) == ["4.1"]


def test_removing_a_required_version_is_refused(
    farm_admin_client: Client, blender: Software
) -> None:
    """A version a requirement names stays, with a message."""
    version = blender.versions.get(version="3.6")
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=JobTypeVersionFactory.create(),
        software=blender,
        min_version=version,
    )
    response = farm_admin_client.post(
        version_url("software_version_delete", version), follow=True
    )
    assert "still required" in response.content.decode()
    assert blender.versions.count() == 2


def test_plain_user_cannot_remove_a_version(
    artist_client: Client, blender: Software
) -> None:
    """Refused; the version stays."""
    artist_client.post(
        version_url("software_version_delete", blender.versions.get(version="3.6"))
    )
    assert blender.versions.count() == 2


def test_a_version_of_another_software_is_a_404(
    farm_admin_client: Client, blender: Software
) -> None:
    """The version id must belong to the software of the URL."""
    other = SoftwareVersionFactory.create()
    response = farm_admin_client.post(
        reverse("web:software_version_delete", args=[blender.pk, other.pk])
    )
    assert response.status_code == 404
    assert SoftwareVersion.objects.filter(pk=other.pk).exists()


# --- ranks and the default ----------------------------------------------------


def test_farm_admin_sets_a_rank(farm_admin_client: Client, blender: Software) -> None:
    """The version takes the new rank."""
    version = blender.versions.get(version="3.6")
    farm_admin_client.post(version_url("software_version_rank", version), {"rank": 250})
    assert ranks(blender) == {"3.6": 250, "4.1": 200}


@pytest.mark.parametrize(
    ("rank", "message"),
    [
        ("200", "already has a version of rank 200"),
        ("-5", "Rank not changed"),
        ("ten", "Rank not changed"),
        ("", "Rank not changed"),
        (str(2**31), "Rank not changed"),
    ],
)
def test_setting_a_bad_rank_is_refused(
    farm_admin_client: Client, blender: Software, rank: str, message: str
) -> None:
    """A taken, negative, malformed or too big rank: a message, no change."""
    version = blender.versions.get(version="3.6")
    response = farm_admin_client.post(
        version_url("software_version_rank", version), {"rank": rank}, follow=True
    )
    assert message in response.content.decode()
    assert ranks(blender) == {"3.6": 100, "4.1": 200}


def test_plain_user_cannot_set_a_rank(artist_client: Client, blender: Software) -> None:
    """Refused; the rank stays."""
    version = blender.versions.get(version="3.6")
    artist_client.post(version_url("software_version_rank", version), {"rank": 250})
    assert ranks(blender)["3.6"] == 100


def test_farm_admin_makes_a_version_the_default(
    farm_admin_client: Client, blender: Software
) -> None:
    """The version becomes the only default."""
    version = blender.versions.get(version="3.6")
    farm_admin_client.post(
        version_url("software_version_default", version), {"default": "1"}
    )
    defaults = blender.versions.filter(default=True).values_list("version", flat=True)
    assert list(defaults) == ["3.6"]


def test_farm_admin_clears_the_default(
    farm_admin_client: Client, blender: Software
) -> None:
    """No version is the default afterwards."""
    version = blender.versions.get(version="4.1")
    farm_admin_client.post(
        version_url("software_version_default", version), {"default": "0"}
    )
    assert not blender.versions.filter(default=True).exists()


def test_a_bad_default_value_is_refused(
    farm_admin_client: Client, blender: Software
) -> None:
    """A value that is neither 1 nor 0: a message, no change."""
    version = blender.versions.get(version="3.6")
    response = farm_admin_client.post(
        version_url("software_version_default", version),
        {"default": "maybe"},
        follow=True,
    )
    assert "Default not changed" in response.content.decode()
    assert blender.versions.get(default=True).version == "4.1"


def test_plain_user_cannot_change_the_default(
    artist_client: Client, blender: Software
) -> None:
    """Refused; the default stays."""
    version = blender.versions.get(version="3.6")
    artist_client.post(
        version_url("software_version_default", version), {"default": "1"}
    )
    assert blender.versions.get(default=True).version == "4.1"


def test_changing_the_default_by_get_changes_nothing(
    farm_admin_client: Client, blender: Software
) -> None:
    """GET is not allowed on an action."""
    version = blender.versions.get(version="3.6")
    response = farm_admin_client.get(version_url("software_version_default", version))
    assert response.status_code == 405
    assert blender.versions.get(default=True).version == "4.1"
