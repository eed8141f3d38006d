"""The agents pages and the job queues page, in chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from accounts.tests.factories import UserFactory
from farm.choices import AgentState
from farm.models import Agent
from farm.tests.factories import (
    AgentDiskFactory,
    AgentFactory,
    AgentMacAddressFactory,
    GPUFactory,
    JobFactory,
    JobQueueFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
    TagFactory,
    TaskFactory,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)


def _farm() -> list[Agent]:
    """A few agents with tags, tasks and software, as a small farm has."""
    gpu = TagFactory.create(tag="gpu")
    job = JobFactory.create(title="Forest shot 12")
    agents = [
        AgentFactory.create(hostname=f"render{n:02d}", version="0.8.7")
        for n in range(1, 5)
    ]
    agents[0].tags.add(gpu)
    TaskFactory.create(job=job, agent=agents[0], running=True, frame=12)
    TaskFactory.create(job=job, agent=agents[1], running=True, frame=13)
    Agent.objects.filter(pk=agents[3].pk).update(state=AgentState.OFFLINE)
    return agents


def test_bulk_disable_changes_the_states_on_the_page(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[Any], None],
    screenshot: Callable[..., Any],
) -> None:
    """A farm admin ticks two agents, disables them, and sees them disabled."""
    agents = _farm()
    login_as(UserFactory.create(admin=True))
    page.goto(f"{live_server.url}/agents/")
    assert page.locator("tr[data-agent]").count() == 4
    assert "Forest shot 12 frame 12" in page.locator("table.agents").inner_text()
    screenshot(page, "agents-list")
    for agent in agents[:2]:
        page.check(f"input[name=agent][value='{agent.pk}']")
    page.click("button[name=action][value=disable]")
    page.wait_for_load_state("networkidle")
    assert "Disabled 2 of 2 agent(s)." in page.locator("#messages").inner_text()
    for agent in agents[:2]:
        row = page.locator(f"tr[data-agent='{agent.pk}']")
        assert row.locator(".badge").inner_text() == "disabled"
    third = page.locator(f"tr[data-agent='{agents[2].pk}']")
    assert third.locator(".badge").inner_text() == "online"


def test_the_list_refreshes_itself_keeping_the_ticked_agents(
    page: Page, live_server: LiveServer, login_as: Callable[[Any], None]
) -> None:
    """A state change appears without reloading; the ticked box stays ticked."""
    agents = _farm()
    login_as(UserFactory.create(admin=True))
    page.goto(f"{live_server.url}/agents/")
    box = f"input[name=agent][value='{agents[2].pk}']"
    page.check(box)
    Agent.objects.filter(pk=agents[2].pk).update(state=AgentState.RUNNING)
    badge = page.locator(f"tr[data-agent='{agents[2].pk}'] .badge")
    badge.filter(has_text="running").wait_for(timeout=12_000)
    assert page.is_checked(box)


def test_a_plain_user_sees_no_admin_controls(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[Any], None],
) -> None:
    """No checkboxes, bulk buttons or forms on the list and an agent's page."""
    agents = _farm()
    login_as(UserFactory.create())
    page.goto(f"{live_server.url}/agents/")
    assert page.locator("tr[data-agent]").count() == 4
    assert page.locator("input[name=agent]").count() == 0
    assert page.locator("button[name=action]").count() == 0
    page.click(f"text={agents[0].hostname}")
    page.wait_for_load_state("networkidle")
    assert page.locator("main h1").inner_text().startswith("Agents / render01")
    assert page.locator("main form").count() == 0


def test_the_agent_page_shows_its_parts(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[Any], None],
    screenshot: Callable[..., Any],
) -> None:
    """A farm admin's view of an agent: fields, tasks, software, controls."""
    agents = _farm()
    agent = agents[0]
    agent.notes = "Rack 4, slot 2. Replaced the PSU in May."
    agent.cpu_name = "AMD EPYC 7543"
    agent.save()
    agent.gpus.add(GPUFactory.create(fullname="NVIDIA RTX A6000"))
    AgentDiskFactory.create(agent=agent, mountpoint="/", size=500 * 2**30, free=2**37)
    AgentMacAddressFactory.create(agent=agent, mac_address="02:95:a1:86:4b:03")
    blender = SoftwareFactory.create(software="blender")
    agent.software_versions.add(
        SoftwareVersionFactory.create(software=blender, version="4.2", rank=1)
    )
    SoftwareVersionFactory.create(software=blender, version="4.3", rank=2)
    login_as(UserFactory.create(admin=True))
    page.goto(f"{live_server.url}/agents/{agent.pk}/")
    text = page.locator("main").inner_text()
    for part in ("NVIDIA RTX A6000", "02:95:a1:86:4b:03", "blender 4.2"):
        assert part in text
    assert page.input_value("textarea[name=notes]").startswith("Rack 4")
    assert page.locator("button", has_text="Check software").count() == 1
    screenshot(page, "agent-page")


def test_the_queues_page_shows_the_tree(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[Any], None],
    screenshot: Callable[..., Any],
) -> None:
    """Queues below their parents, with counts; a farm admin creates one."""
    film = JobQueueFactory.create(name="film", priority=8, weight=3)
    lighting = JobQueueFactory.create(name="lighting", parent=film, minimum_agents=2)
    JobQueueFactory.create(name="ads", maximum_agents=10)
    job = JobFactory.create(queue=lighting)
    TaskFactory.create_batch(3, job=job, running=True)
    TaskFactory.create_batch(5, job=job)
    login_as(UserFactory.create(admin=True))
    page.goto(f"{live_server.url}/queues/")
    names = page.locator("table.queues td.name a").all_inner_texts()
    assert names == ["ads", "film", "lighting"]
    row = page.locator(f"tr[data-queue='{lighting.pk}'] td.num")
    assert row.all_inner_texts()[:2] == ["3", "5"]
    page.fill("#create-queue input[name=name]", "comp")
    page.select_option("#create-queue select[name=parent]", str(film.pk))
    page.click("#create-queue button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "Created job queue film/comp." in page.locator("#messages").inner_text()
    screenshot(page, "queues")
