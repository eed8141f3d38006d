"""The agents list and an agent's page: who sees what, and farm admins' actions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import RoleFactory, UserFactory
from farm.choices import AgentState
from farm.models import Agent, Tag
from farm.templatetags.agents_tags import ago, iso
from farm.templatetags.dashboard import frame
from farm.tests.factories import (
    AgentDiskFactory,
    AgentFactory,
    AgentMacAddressFactory,
    GPUFactory,
    JobFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
    TagFactory,
    TaskFactory,
)

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

AGENTS = reverse("web:agents")
BULK = reverse("web:agents_bulk")


def agent_url(agent: Agent, name: str = "web:agent") -> str:
    return reverse(name, kwargs={"agent_id": agent.pk})


def texts(response: Response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def farm_admin(client: Client) -> Client:
    """A client of a user with the ``admin`` role (a farm admin, not staff)."""
    user = UserFactory.create(username="wrangler")
    user.roles.add(RoleFactory.create(name="admin"))
    client.force_login(user)
    return client


@pytest.fixture
def artist(client: Client, user: User) -> Client:
    """A client of a plain user."""
    client.force_login(user)
    return client


@pytest.fixture
def check_delay() -> Any:
    """The software check task's ``delay``, mocked (the view must not block)."""
    from scheduling.tasks.software import check_agent_software

    with mock.patch.object(check_agent_software, "delay") as patched:
        yield patched


# --- the list -------------------------------------------------------------------


def test_list_sends_anonymous_visitors_to_log_in(client: Client) -> None:
    response = client.get(AGENTS)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_list_shows_every_column_to_a_plain_user(artist: Client) -> None:
    agent = AgentFactory.create(hostname="render01", version="0.8.6")
    agent.tags.add(TagFactory.create(tag="gpu"))
    job = JobFactory.create(title="Shot 10")
    TaskFactory.create(job=job, agent=agent, running=True, frame=10)
    response = artist.get(AGENTS)
    content = response.content.decode()
    assert response.status_code == 200
    assert "render01" in content
    assert agent_url(agent) in content
    assert "Shot 10 frame 10<" in content
    assert reverse("web:job", args=[job.pk]) in content
    assert "0.8.6" in content
    assert '<span class="tag">gpu</span>' in content
    assert f"{agent.remote_ip}:{agent.port}" in content


def test_list_hides_bulk_controls_from_a_plain_user(artist: Client) -> None:
    AgentFactory.create()
    content = artist.get(AGENTS).content.decode()
    assert 'name="agent"' not in content
    assert 'name="action"' not in content


def test_list_shows_bulk_controls_to_a_farm_admin(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    content = farm_admin.get(AGENTS).content.decode()
    assert f'value="{agent.pk}"' in content
    assert 'value="disable"' in content


def test_list_filters_by_state(artist: Client) -> None:
    AgentFactory.create(hostname="up01")
    AgentFactory.create(hostname="down01", disabled=True)
    content = artist.get(AGENTS, {"state": "disabled"}).content.decode()
    assert "down01" in content
    assert "up01" not in content


def test_list_filters_by_tag(artist: Client) -> None:
    tagged = AgentFactory.create(hostname="tagged01")
    tagged.tags.add(TagFactory.create(tag="gpu"))
    AgentFactory.create(hostname="plain01")
    content = artist.get(AGENTS, {"tag": "gpu"}).content.decode()
    assert "tagged01" in content
    assert "plain01" not in content


def test_list_filters_by_software(artist: Client) -> None:
    blender = SoftwareFactory.create(software="blender")
    with_it = AgentFactory.create(hostname="blend01")
    with_it.software_versions.add(
        SoftwareVersionFactory.create(software=blender, rank=1),
        SoftwareVersionFactory.create(software=blender, rank=2),
    )
    AgentFactory.create(hostname="other01")
    content = artist.get(AGENTS, {"software": "blender"}).content.decode()
    assert "blend01" in content
    assert "other01" not in content


def test_list_searches_host_names_and_addresses(artist: Client) -> None:
    AgentFactory.create(hostname="alpha", remote_ip="10.9.9.9")
    AgentFactory.create(hostname="beta", remote_ip="10.1.1.1")
    assert "alpha" in artist.get(AGENTS, {"q": "ALP"}).content.decode()
    by_address = artist.get(AGENTS, {"q": "10.9.9"}).content.decode()
    assert "alpha" in by_address
    assert "beta" not in by_address


def test_list_sorts_by_a_column(artist: Client) -> None:
    AgentFactory.create(hostname="small", ram=1024)
    AgentFactory.create(hostname="large", ram=65536)
    content = artist.get(AGENTS, {"sort": "-ram"}).content.decode()
    assert content.index("large") < content.index("small")


def test_list_ignores_bad_filter_values_with_a_message(artist: Client) -> None:
    AgentFactory.create(hostname="still-here")
    response = artist.get(
        AGENTS, {"state": "melted", "tag": "nope", "sort": "x", "page": "zz"}
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "still-here" in content
    assert "errorlist" in content


def test_list_paginates_by_a_hundred(artist: Client) -> None:
    AgentFactory.create_batch(101)
    first = artist.get(AGENTS).content.decode()
    second = artist.get(AGENTS, {"page": 2}).content.decode()
    assert first.count('<tr data-agent="') == 100
    assert second.count('<tr data-agent="') == 1
    assert "Page 1 of 2" in first


def test_htmx_refresh_answers_rows_keeping_the_selection(farm_admin: Client) -> None:
    ticked, other = AgentFactory.create_batch(2)
    response = farm_admin.get(AGENTS, {"agent": str(ticked.pk)}, HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert "<html" not in content
    assert (
        f'value="{ticked.pk}" aria-label="Select {ticked.hostname}" checked' in content
    )
    assert f'value="{other.pk}" aria-label="Select {other.hostname}">' in content


@pytest.mark.parametrize("count", [3, 30])
def test_list_query_count_does_not_grow_with_agents(
    farm_admin: Client,
    django_assert_num_queries: Callable[..., Any],
    count: int,
) -> None:
    tag = TagFactory.create()
    job = JobFactory.create()
    for agent in AgentFactory.create_batch(count):
        agent.tags.add(tag)
        TaskFactory.create(job=job, agent=agent, running=True)
    # session, user, roles (twice: log-in check and farm admin check), count,
    # tag and software choices, the page of agents, their tags, their tasks
    with django_assert_num_queries(10):
        response = farm_admin.get(AGENTS)
    assert response.content.decode().count('<tr data-agent="') == count


# --- bulk actions ---------------------------------------------------------------


def _bulk(client: Client, action: str, agents: list[Agent], **extra: Any) -> Response:
    return client.post(
        BULK, {"action": action, "agent": [str(a.pk) for a in agents], **extra}
    )


def test_bulk_disable_disables_the_ticked_agents(farm_admin: Client) -> None:
    ticked = AgentFactory.create_batch(2)
    other = AgentFactory.create()
    response = _bulk(farm_admin, "disable", ticked)
    assert response.status_code == 302
    assert set(
        Agent.objects.values_list("state", flat=True).filter(
            pk__in=[a.pk for a in ticked]
        )
    ) == {"disabled"}
    other.refresh_from_db()
    assert other.state == AgentState.ONLINE
    assert "Disabled 2 of 2 agent(s)." in texts(response)


def test_bulk_enable_enables_disabled_agents(farm_admin: Client) -> None:
    agents = AgentFactory.create_batch(2, disabled=True)
    _bulk(farm_admin, "enable", agents)
    assert set(Agent.objects.values_list("state", flat=True)) == {"online"}


def test_bulk_restart_flags_the_agents(farm_admin: Client) -> None:
    agents = AgentFactory.create_batch(2)
    _bulk(farm_admin, "restart", agents)
    assert Agent.objects.filter(restart_requested=True).count() == 2


def test_bulk_delete_deletes_and_requeues(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    task = TaskFactory.create(agent=agent, running=True)
    _bulk(farm_admin, "delete", [agent])
    assert not Agent.objects.exists()
    task.refresh_from_db()
    assert task.state == "queued"
    assert task.agent_id is None


def test_bulk_check_software_queues_a_check_per_agent(
    farm_admin: Client, check_delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    agents = AgentFactory.create_batch(2)
    with django_capture_on_commit_callbacks(execute=True):
        response = _bulk(farm_admin, "check_software", agents)
    assert check_delay.call_count == 2
    assert {call.args[0] for call in check_delay.call_args_list} == {
        str(a.pk) for a in agents
    }
    assert "Asked 2 agent(s) to check their software" in texts(response)[0]


def test_bulk_by_a_plain_user_is_refused_and_changes_nothing(artist: Client) -> None:
    agent = AgentFactory.create()
    response = _bulk(artist, "disable", [agent])
    agent.refresh_from_db()
    assert agent.state == AgentState.ONLINE
    assert texts(response) == ["Only farm admins may change agents."]


def test_bulk_by_an_anonymous_visitor_goes_to_log_in(client: Client) -> None:
    agent = AgentFactory.create()
    response = _bulk(client, "disable", [agent])
    assert response["Location"].startswith("/login/")
    agent.refresh_from_db()
    assert agent.state == AgentState.ONLINE


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "disable"}, "Select at least one agent."),
        ({"action": "disable", "agent": ["not-a-uuid"]}, "is not an agent id"),
        ({"action": "explode", "agent": [str(uuid.uuid4())]}, "Select a valid choice"),
    ],
)
def test_bulk_with_bad_values_shows_a_message(
    farm_admin: Client, data: dict[str, Any], message: str
) -> None:
    response = farm_admin.post(BULK, data)
    assert response.status_code == 302
    assert message in " ".join(texts(response))


def test_bulk_on_unknown_agents_says_so(farm_admin: Client) -> None:
    response = farm_admin.post(
        BULK, {"action": "disable", "agent": [str(uuid.uuid4())]}
    )
    assert "No such agent" in texts(response)[0]


def test_bulk_get_changes_nothing(farm_admin: Client) -> None:
    response = farm_admin.get(BULK, {"action": "delete"})
    assert response.status_code == 302
    assert response["Location"] == AGENTS


# --- the agent's page ----------------------------------------------------------


def test_page_shows_every_part(artist: Client) -> None:
    agent = AgentFactory.create(
        hostname="render02", notes="Fan is loud", cpu_name="EPYC"
    )
    agent.gpus.add(GPUFactory.create(fullname="Quadro RTX"))
    AgentDiskFactory.create(agent=agent, mountpoint="/scratch")
    AgentMacAddressFactory.create(agent=agent, mac_address="02:00:00:00:00:01")
    agent.software_versions.add(
        SoftwareVersionFactory.create(
            software=SoftwareFactory.create(software="houdini"), version="20.5"
        )
    )
    running = TaskFactory.create(agent=agent, running=True, job__title="Running shot")
    done = TaskFactory.create(agent=agent, done=True, job__title="Finished shot")
    content = artist.get(agent_url(agent)).content.decode()
    for text in (
        "render02",
        "Fan is loud",
        "EPYC",
        "Quadro RTX",
        "/scratch",
        "02:00:00:00:00:01",
        "houdini 20.5",
        "Running shot",
        "Finished shot",
        str(agent.pk),
        reverse("web:job", args=[running.job_id]),
        reverse("web:job", args=[done.job_id]),
    ):
        assert text in content


def test_page_hides_controls_from_a_plain_user(artist: Client) -> None:
    agent = AgentFactory.create()
    content = artist.get(agent_url(agent)).content.decode()
    assert "<form" not in content.split("<main")[1]


def test_page_shows_controls_to_a_farm_admin(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    content = farm_admin.get(agent_url(agent)).content.decode()
    for url in ("web:agent_action", "web:agent_notes", "web:agent_tags"):
        assert agent_url(agent, url) in content
    assert "Check software" in content


def test_page_of_an_unknown_agent_is_a_404(artist: Client) -> None:
    response = artist.get(reverse("web:agent", args=[uuid.uuid4()]))
    assert response.status_code == 404


def test_page_sends_anonymous_visitors_to_log_in(client: Client) -> None:
    agent = AgentFactory.create()
    assert client.get(agent_url(agent))["Location"].startswith("/login/")


def test_page_query_count_is_constant(
    artist: Client, django_assert_num_queries: Callable[..., Any]
) -> None:
    agent = AgentFactory.create()
    for _ in range(3):
        TaskFactory.create(agent=agent, running=True)
        TaskFactory.create(agent=agent, done=True)
    agent.tags.add(*TagFactory.create_batch(3))
    # session, user, roles (twice), agent, tags, software, gpus, disks, MAC
    # addresses, current and recent tasks
    with django_assert_num_queries(12):
        artist.get(agent_url(agent))


@pytest.mark.parametrize(
    ("action", "field", "before", "after"),
    [
        ("disable", "state", AgentState.ONLINE, AgentState.DISABLED),
        ("enable", "state", AgentState.DISABLED, AgentState.ONLINE),
        ("restart", "restart_requested", False, True),
    ],
)
def test_single_action_changes_the_agent(
    farm_admin: Client, action: str, field: str, before: Any, after: Any
) -> None:
    agent = AgentFactory.create(**{field: before})
    response = farm_admin.post(agent_url(agent, "web:agent_action"), {"action": action})
    assert response["Location"] == agent_url(agent)
    agent.refresh_from_db()
    assert getattr(agent, field) == after


def test_single_delete_leads_to_the_list(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    response = farm_admin.post(
        agent_url(agent, "web:agent_action"), {"action": "delete"}
    )
    assert response["Location"] == AGENTS
    assert not Agent.objects.exists()


def test_single_check_of_one_version_queues_it(
    farm_admin: Client, check_delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    agent = AgentFactory.create()
    version = SoftwareVersionFactory.create()
    with django_capture_on_commit_callbacks(execute=True):
        farm_admin.post(
            agent_url(agent, "web:agent_action"),
            {"action": "check_software", "version": version.pk},
        )
    check_delay.assert_called_once_with(str(agent.pk), [version.pk])
    page = farm_admin.get(agent_url(agent)).content.decode()
    assert "A software check is queued." in page


def test_single_check_of_an_unknown_version_is_refused(
    farm_admin: Client, check_delay: mock.Mock
) -> None:
    agent = AgentFactory.create()
    response = farm_admin.post(
        agent_url(agent, "web:agent_action"),
        {"action": "check_software", "version": 999999},
    )
    assert "not in the catalog" in texts(response)[0]
    check_delay.assert_not_called()


@pytest.mark.parametrize(
    "name",
    [
        "web:agent_action",
        "web:agent_notes",
        "web:agent_tags",
        "web:agent_software_add",
        "web:agent_software_remove",
    ],
)
def test_forged_posts_of_a_plain_user_change_nothing(artist: Client, name: str) -> None:
    agent = AgentFactory.create(notes="keep")
    version = SoftwareVersionFactory.create()
    response = artist.post(
        agent_url(agent, name),
        {"action": "delete", "notes": "x", "tags": "x", "version": version.pk},
    )
    assert texts(response) == ["Only farm admins may change agents."]
    agent.refresh_from_db()
    assert agent.notes == "keep"
    assert agent.state == AgentState.ONLINE
    assert not agent.tags.exists()
    assert not agent.software_versions.exists()


@pytest.mark.parametrize(
    "name",
    [
        "web:agent_action",
        "web:agent_notes",
        "web:agent_tags",
        "web:agent_software_add",
        "web:agent_software_remove",
    ],
)
def test_posts_of_an_anonymous_visitor_go_to_log_in(client: Client, name: str) -> None:
    agent = AgentFactory.create(notes="keep")
    response = client.post(agent_url(agent, name), {"action": "delete", "notes": "x"})
    assert response["Location"].startswith("/login/")
    agent.refresh_from_db()
    assert agent.notes == "keep"


def test_actions_on_an_unknown_agent_are_a_404_or_a_message(farm_admin: Client) -> None:
    missing = uuid.uuid4()
    for name in ("web:agent_notes", "web:agent_tags", "web:agent_software_add"):
        response = farm_admin.post(reverse(name, args=[missing]), {"notes": "x"})
        assert response.status_code == 404
    response = farm_admin.post(
        reverse("web:agent_action", args=[missing]), {"action": "disable"}
    )
    assert "No such agent" in texts(response)[0]


def test_notes_are_saved(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    farm_admin.post(agent_url(agent, "web:agent_notes"), {"notes": "New PSU\r\nok"})
    agent.refresh_from_db()
    assert agent.notes == "New PSU\nok"


def test_tags_are_replaced_and_created(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    agent.tags.add(TagFactory.create(tag="old"))
    response = farm_admin.post(
        agent_url(agent, "web:agent_tags"), {"tags": "gpu, fast,,gpu"}
    )
    assert sorted(agent.tags.values_list("tag", flat=True)) == ["fast", "gpu"]
    assert Tag.objects.filter(tag="old").exists()
    assert texts(response) == ["Tags saved: gpu, fast."]


def test_a_too_long_tag_is_refused_with_a_message(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    response = farm_admin.post(agent_url(agent, "web:agent_tags"), {"tags": "x" * 200})
    assert "Tags not saved" in texts(response)[0]
    assert not agent.tags.exists()


def test_software_is_added_and_removed(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    version = SoftwareVersionFactory.create()
    farm_admin.post(agent_url(agent, "web:agent_software_add"), {"version": version.pk})
    assert list(agent.software_versions.all()) == [version]
    farm_admin.post(
        agent_url(agent, "web:agent_software_remove"), {"version": version.pk}
    )
    assert not agent.software_versions.exists()


def test_adding_unknown_software_shows_a_message(farm_admin: Client) -> None:
    agent = AgentFactory.create()
    response = farm_admin.post(
        agent_url(agent, "web:agent_software_add"), {"version": "abc"}
    )
    assert "not in the catalog" in texts(response)[0]


# --- template filters -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [(Decimal("10.0000"), "10"), (Decimal("2.5000"), "2.5"), (3, "3")],
)
def test_frame_filter_writes_frames_as_people_do(value: Any, shown: str) -> None:
    assert frame(value) == shown


def test_ago_filter_says_how_long_ago() -> None:
    assert ago(timezone.now() - timedelta(minutes=4, seconds=9)) == "4m 09s ago"
    assert ago(None) == ""


def test_iso_filter_writes_utc() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert iso(moment) == "2026-01-02T03:04:05+00:00"


def test_out_of_range_version_ids_are_a_message_not_an_error(
    farm_admin: Client,
) -> None:
    agent = AgentFactory.create()
    response = farm_admin.post(
        agent_url(agent, "web:agent_software_add"), {"version": 10**20}
    )
    assert "not in the catalog" in texts(response)[0]
