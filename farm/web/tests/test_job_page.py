"""A job's page (``/jobs/<id>/``): what it shows, its actions, who may use them."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import Job, JobNotifiedUser, JobTagRequirement, Tag, Task
from farm.services import create_job, refresh_job_states
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    JobTypeVersionFactory,
    TagFactory,
)
from farm.web.queries_job import progress_over_time, task_counts

if TYPE_CHECKING:
    from django.http import HttpResponse
    from django.test import Client

    from accounts.models import User

pytestmark = pytest.mark.django_db

REFUSAL = "Only the job's owner or a farm admin may change this job."


@pytest.fixture(autouse=True)
def _no_shared_explanations() -> None:
    """Explanations are cached by job id; ids come back in another test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def owner() -> User:
    return UserFactory.create(username="owner")


@pytest.fixture
def other() -> User:
    return UserFactory.create(username="other")


def _job(owner: Any = None, frames: int = 3, **fields: Any) -> Job:
    return create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title=fields.pop("title", "shot 010"),
        start=1,
        end=frames,
        user=owner,
        **fields,
    )


@pytest.fixture
def job(owner: User) -> Job:
    return _job(owner)


def _as(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def _messages(response: HttpResponse) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _url(name: str, job: Job, *args: Any) -> str:
    return reverse(f"web:{name}", args=[job.pk, *args])


def _snapshot(job: Job) -> dict[str, Any]:
    """Everything an action could change, to compare before and after."""
    fresh = Job.objects.get(pk=job.pk)
    return {
        "job": {
            field.attname: getattr(fresh, field.attname)
            for field in Job._meta.concrete_fields
        },
        "tasks": list(
            Task.objects.filter(job=job)
            .order_by("pk")
            .values_list("pk", "frame", "state", "failures")
        ),
        "tags": list(fresh.tags.values_list("tag", flat=True)),
        "requirements": list(
            JobTagRequirement.objects.filter(job=job).values_list("tag__tag", "negate")
        ),
        "notified": list(
            JobNotifiedUser.objects.filter(job=job).values_list("user__username")
        ),
    }


# --- who sees what ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["job", "job_live", "job_explain", "job_chart"])
def test_anonymous_visitor_is_sent_to_log_in(
    client: Client, job: Job, name: str
) -> None:
    """Every read of the page needs a login."""
    url = _url(name, job)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"


def test_anonymous_post_is_sent_to_log_in_and_changes_nothing(
    client: Client, job: Job
) -> None:
    """An action without a login changes nothing."""
    before = _snapshot(job)
    response = client.post(_url("job_pause", job))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]
    assert _snapshot(job) == before


def test_owner_sees_the_controls(client: Client, job: Job, owner: User) -> None:
    """Pause, rerun, delete, the edit forms and the per-task rerun."""
    content = _as(client, owner).get(_url("job", job)).content.decode()
    for name in (
        "job_pause",
        "job_rerun",
        "job_delete",
        "job_scheduling",
        "job_frames",
    ):
        assert f'action="{_url(name, job)}"' in content
    assert 'data-action="delete"' in content
    task = job.tasks.first()
    assert f'formaction="{_url("task_rerun", job, task.pk)}"' in content


def test_farm_admin_sees_the_controls_of_anyone_s_job(
    admin_client: Client, job: Job
) -> None:
    """A farm admin changes every job."""
    content = admin_client.get(_url("job", job)).content.decode()
    assert 'data-action="delete"' in content


def test_admin_role_makes_a_farm_admin(client: Client, job: Job) -> None:
    """A user with the ``admin`` role, not a superuser, has the controls too."""
    from accounts.models import Role

    user = UserFactory.create(username="boss")
    user.roles.add(Role.objects.get_or_create(name="admin")[0])
    content = _as(client, user).get(_url("job", job)).content.decode()
    assert 'data-action="delete"' in content


def test_other_user_reads_the_page_without_controls(
    client: Client, job: Job, other: User
) -> None:
    """Everyone reads every job, but only sees controls they may use."""
    response = _as(client, other).get(_url("job", job))
    content = response.content.decode()
    assert response.status_code == 200
    assert "shot 010" in content
    assert 'data-action="delete"' not in content
    assert _url("job_pause", job) not in content
    assert _url("job_scheduling", job) not in content
    assert "/rerun/" not in content


def test_unknown_job_is_the_404_page(client: Client, owner: User) -> None:
    """A job that does not exist: the 404 page, never a 500."""
    _as(client, owner)
    assert client.get("/jobs/999999/").status_code == 404
    assert client.get("/jobs/999999/live/").status_code == 404
    assert client.post("/jobs/999999/pause/").status_code == 404


def test_page_shows_every_field(client: Client, owner: User) -> None:
    """Title, state, owner, job type and version, frames, data as JSON, notes…"""
    job = _job(
        owner,
        title="shot 020",
        priority=7,
        data={"scene": "/mnt/a.blend", "n": 1},
        environ={"PATH": "/bin"},
        notes="needs love",
        output_link="https://example.com/out",
        num_tiles=None,
        ram_max=4096,
    )
    content = _as(client, owner).get(_url("job", job)).content.decode()
    for text in (
        "shot 020",
        'class="badge state-queued"',
        "owner",
        f"{job.jobtype_version.jobtype.name}</a> v1",
        "1 to 3 by 1",
        "&quot;scene&quot;: &quot;/mnt/a.blend&quot;",
        "&quot;PATH&quot;: &quot;/bin&quot;",
        "needs love",
        "https://example.com/out",
        "4096 MB",
    ):
        assert text in content, text


def test_page_counts_tasks_per_state(client: Client, job: Job, owner: User) -> None:
    """Per-state counts and the progress bar's segments."""
    first, second, _ = job.tasks.order_by("frame")
    first.mark_done()
    second.mark_failed("boom")
    Job.objects.filter(pk=job.pk).update(requeue=0)
    content = _as(client, owner).get(_url("job", job)).content.decode()
    assert '<b data-count="done">1</b>' in content
    assert '<b data-count="queued">' in content
    assert 'class="progress large"' in content


def test_page_links_parents_and_children(client: Client, owner: User) -> None:
    """Dependencies both ways, linked to their pages."""
    parent = _job(owner, title="parent")
    child = _job(owner, title="child")
    job = _job(owner, title="middle")
    job.parents.add(parent)
    child.parents.add(job)
    content = _as(client, owner).get(_url("job", job)).content.decode()
    assert f'href="{_url("job", parent)}">parent</a>' in content
    assert f'href="{_url("job", child)}">child</a>' in content


def test_page_lists_the_agents_tasks_failed_on(
    client: Client, job: Job, owner: User
) -> None:
    """Failed-on agents with links to their pages."""
    agent = AgentFactory.create(hostname="render07")
    job.tasks.first().failed_in_agents.add(agent)
    content = _as(client, owner).get(_url("job", job)).content.decode()
    assert f'href="{reverse("web:agent", args=[agent.pk])}">render07</a>' in content


def test_task_table_links_agent_and_logs(client: Client, job: Job, owner: User) -> None:
    """Each task row links its agent and its logs."""
    agent = AgentFactory.create(hostname="render08")
    task = job.tasks.first()
    Task.objects.filter(pk=task.pk).update(agent=agent)
    content = _as(client, owner).get(_url("job", job)).content.decode()
    assert f'href="{reverse("web:agent", args=[agent.pk])}">render08</a>' in content
    assert f'href="{reverse("web:task_logs", args=[task.pk])}"' in content


def test_task_table_filters_by_state(client: Client, job: Job, owner: User) -> None:
    """``?task_state=done`` lists the done tasks only."""
    done = job.tasks.order_by("frame").first()
    done.mark_done()
    response = _as(client, owner).get(_url("job", job), {"task_state": "done"})
    assert [task.pk for task in response.context["page"].tasks] == [done.pk]


def test_bad_task_state_lists_every_task(client: Client, job: Job, owner: User) -> None:
    """An unknown state is ignored, not an error."""
    response = _as(client, owner).get(_url("job", job), {"task_state": "bogus"})
    assert response.status_code == 200
    assert len(response.context["page"].tasks) == 3


@pytest.mark.parametrize(
    ("page", "number", "rows"),
    [("1", 1, 100), ("3", 3, 50), ("abc", 1, 100), ("999", 3, 50), ("-2", 1, 100)],
)
def test_task_table_paginates(
    client: Client, owner: User, page: str, number: int, rows: int
) -> None:
    """100 tasks a page; a bad or too high page number shows a real page."""
    job = _job(owner, frames=250)
    response = _as(client, owner).get(_url("job", job), {"page": page})
    task_page = response.context["page"]
    assert (task_page.number, task_page.pages, len(task_page.tasks)) == (
        number,
        3,
        rows,
    )


def test_live_part_swaps_state_and_actions_out_of_band(
    client: Client, job: Job, owner: User
) -> None:
    """The refresh carries the task table, the badge and the actions."""
    content = _as(client, owner).get(_url("job_live", job)).content.decode()
    assert content.lstrip().startswith('<section id="job-live"')
    assert '<span id="job-state" hx-swap-oob="true">' in content
    assert 'id="job-actions" hx-swap-oob="true"' in content
    assert "<html" not in content


def test_page_polls_while_visible(client: Client, job: Job, owner: User) -> None:
    """The live part refreshes every 5 s while the tab is visible."""
    content = _as(client, owner).get(_url("job", job)).content.decode()
    assert (
        f'hx-get="{_url("job_live", job)}" hx-trigger="every 5s '
        "[document.visibilityState === 'visible']" in content
    )


def test_explainer_says_why_a_queued_job_waits(
    client: Client, job: Job, owner: User
) -> None:
    """Queued with nothing running: the explainer's answer (here: no agents)."""
    content = _as(client, owner).get(_url("job_explain", job)).content.decode()
    assert "Why is this job not running?" in content
    assert 'data-constraint="no_idle_agents"' in content


def test_explanation_is_shared_for_a_while(
    client: Client, job: Job, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The explainer reads the whole farm: viewers share its answer for 20 s."""
    from farm.web.views import job as views
    from scheduling.explain import explain

    calls = []

    def counted(job_id: int) -> Any:
        calls.append(job_id)
        return explain(job_id)

    monkeypatch.setattr(views, "explain", counted)
    _as(client, owner)
    for _ in range(3):
        assert b"not running" in client.get(_url("job_explain", job)).content
    assert calls == [job.pk]


def test_explainer_is_silent_while_a_task_runs(
    client: Client, job: Job, owner: User
) -> None:
    """A running task: no panel."""
    task = job.tasks.first()
    Task.objects.filter(pk=task.pk).update(agent=AgentFactory.create())
    task.mark_running()
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    content = _as(client, owner).get(_url("job_explain", job)).content.decode()
    assert content.strip() == ""


def test_chart_data_is_cumulative(client: Client, owner: User) -> None:
    """Done and failed tasks add up over the buckets; at most 100 of them."""
    job = _job(owner, frames=5, requeue=0)
    tasks = list(job.tasks.order_by("frame"))
    for task in tasks[:3]:
        task.mark_done()
    tasks[3].mark_failed("x")
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    chart = progress_over_time(
        Job.objects.get(pk=job.pk), total=sum(task_counts(job.pk).values())
    )
    assert chart.done[-1] == 3
    assert chart.failed[-1] == 1
    assert len(chart.labels) <= 100
    assert chart.done == sorted(chart.done)
    response = _as(client, owner).get(_url("job_chart", job))
    assert b'id="job-chart-json"' in response.content


def test_chart_of_a_job_not_started_is_empty(job: Job) -> None:
    """Nothing finished, nothing to draw."""
    assert progress_over_time(job, total=3).labels == []


def _page_queries(client: Client, job: Job) -> None:
    response = client.get(_url("job", job))
    assert response.status_code == 200


@pytest.mark.parametrize("frames", [3, 300])
def test_page_takes_a_fixed_number_of_queries(
    admin_client: Client, django_assert_num_queries: Any, frames: int
) -> None:
    """The same for 3 and 300 tasks.

    Session, user, the user's roles (the login check), job, five lists,
    counts, a page of tasks, failed-on agents.
    """
    job = _job(None, frames=frames)
    job.tasks.first().mark_done()
    with django_assert_num_queries(12):
        _page_queries(admin_client, job)


@pytest.mark.parametrize("frames", [3, 300])
def test_live_part_takes_a_fixed_number_of_queries(
    admin_client: Client, django_assert_num_queries: Any, frames: int
) -> None:
    """Session, user, roles, job, counts, a page of tasks."""
    job = _job(None, frames=frames)
    with django_assert_num_queries(6):
        assert admin_client.get(_url("job_live", job)).status_code == 200


@pytest.mark.parametrize("frames", [3, 300])
def test_chart_takes_a_fixed_number_of_queries(
    admin_client: Client, django_assert_num_queries: Any, frames: int
) -> None:
    """Session, user, roles, job, counts, one grouped query into buckets."""
    job = _job(None, frames=frames)
    for task in job.tasks.all()[:2]:
        task.mark_done()
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    with django_assert_num_queries(6):
        assert admin_client.get(_url("job_chart", job)).status_code == 200


# --- refusals ----------------------------------------------------------------------

ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("job_pause", {}),
    ("job_unpause", {}),
    ("job_rerun", {}),
    ("job_rerun_failed", {}),
    ("job_delete", {}),
    ("job_upgrade", {}),
    (
        "job_scheduling",
        {
            "priority": 5,
            "weight": 3,
            "batch": 2,
            "minimum_agents": "",
            "maximum_agents": "",
        },
    ),
    ("job_frames", {"start": 1, "end": 10, "by": 1}),
    ("job_notes", {"notes": "mine now"}),
    ("job_autodelete", {"days": 1}),
    ("job_tags", {"tag": "new", "operation": "add"}),
    ("job_tag_requirements", {"tag": "gpu", "operation": "add"}),
    ("job_notified_user_add", {"username": "other"}),
    ("job_notified_user_remove", {"username": "owner"}),
]


@pytest.mark.parametrize(("name", "data"), ACTIONS)
def test_other_user_is_refused_and_nothing_changes(
    client: Client, job: Job, owner: User, other: User, name: str, data: dict[str, Any]
) -> None:
    """A forged POST by someone else: a message, no change."""
    JobNotifiedUser.objects.create(job=job, user=owner)
    JobTypeVersionFactory.create(jobtype=job.jobtype_version.jobtype, version=2)
    before = _snapshot(job)
    response = _as(client, other).post(_url(name, job), data)
    assert response.status_code == 302
    assert response["Location"] == _url("job", job)
    assert _messages(response) == [REFUSAL]
    assert _snapshot(job) == before


def test_other_user_may_not_rerun_a_task(client: Client, job: Job, other: User) -> None:
    """The per-task rerun is the owner's too."""
    task = job.tasks.first()
    task.mark_done()
    response = _as(client, other).post(_url("task_rerun", job, task.pk))
    assert _messages(response) == [REFUSAL]
    task.refresh_from_db()
    assert task.state == WorkState.DONE


@pytest.mark.parametrize(("name", "data"), ACTIONS[:3])
def test_get_on_an_action_changes_nothing(
    client: Client, job: Job, owner: User, name: str, data: dict[str, Any]
) -> None:
    """GET leads back to the page."""
    before = _snapshot(job)
    response = _as(client, owner).get(_url(name, job))
    assert response["Location"] == _url("job", job)
    assert _snapshot(job) == before


# --- single-job actions ---------------------------------------------------------------


def test_owner_pauses_and_unpauses(client: Client, job: Job, owner: User) -> None:
    _as(client, owner)
    response = client.post(_url("job_pause", job))
    assert _messages(response) == ["The job is paused."]
    assert Job.objects.get(pk=job.pk).state == WorkState.PAUSED
    response = client.post(_url("job_unpause", job))
    assert _messages(response)[-1] == "The job is resumed."
    assert Job.objects.get(pk=job.pk).state == WorkState.QUEUED


def test_pausing_a_done_job_says_so(client: Client, job: Job, owner: User) -> None:
    for task in job.tasks.all():
        task.mark_done()
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    response = _as(client, owner).post(_url("job_pause", job))
    assert _messages(response) == ["Only a queued or running job can be paused."]


def test_farm_admin_pauses_someone_else_s_job(admin_client: Client, job: Job) -> None:
    admin_client.post(_url("job_pause", job))
    assert Job.objects.get(pk=job.pk).state == WorkState.PAUSED


def test_owner_reruns_the_job(client: Client, job: Job, owner: User) -> None:
    for task in job.tasks.all():
        task.mark_done()
    response = _as(client, owner).post(_url("job_rerun", job))
    assert _messages(response) == ["Queued 3 tasks again."]
    assert set(job.tasks.values_list("state", flat=True)) == {WorkState.QUEUED}


def test_rerunning_says_how_many_dependent_jobs_were_rerun(
    client: Client, job: Job, owner: User
) -> None:
    for task in job.tasks.all():
        task.mark_done()
    children = [_job(owner), _job(owner)]
    for child in children:
        child.parents.add(job)
    response = _as(client, owner).post(_url("job_rerun", job))
    assert _messages(response) == [
        "Queued 9 tasks again, in this job and the 2 jobs that depend on it."
    ]


def test_owner_reruns_the_failed_tasks(client: Client, owner: User) -> None:
    job = _job(owner, requeue=0)
    first, second, _ = job.tasks.order_by("frame")
    first.mark_failed("x")
    second.mark_done()
    response = _as(client, owner).post(_url("job_rerun_failed", job))
    assert _messages(response) == ["Queued 1 failed task again."]
    second.refresh_from_db()
    assert second.state == WorkState.DONE
    first.refresh_from_db()
    assert first.state == WorkState.QUEUED


def test_owner_deletes_the_job(client: Client, job: Job, owner: User) -> None:
    response = _as(client, owner).post(_url("job_delete", job))
    assert response["Location"] == reverse("web:jobs")
    assert Job.objects.get(pk=job.pk).to_be_deleted


def test_owner_upgrades_the_job(client: Client, job: Job, owner: User) -> None:
    newer = JobTypeVersionFactory.create(jobtype=job.jobtype_version.jobtype, version=4)
    content = _as(client, owner).get(_url("job", job)).content.decode()
    assert "Upgrade to v4" in content
    response = client.post(_url("job_upgrade", job))
    assert Job.objects.get(pk=job.pk).jobtype_version == newer
    assert _messages(response) == [f"The job now runs {newer.jobtype.name} v4."]


def test_upgrading_a_job_on_the_latest_version_says_so(
    client: Client, job: Job, owner: User
) -> None:
    response = _as(client, owner).post(_url("job_upgrade", job))
    assert _messages(response) == [
        "The job already runs its job type's latest version."
    ]


def test_owner_reruns_one_task(client: Client, job: Job, owner: User) -> None:
    task = job.tasks.first()
    task.mark_done()
    response = _as(client, owner).post(
        _url("task_rerun", job, task.pk), {"next": _url("job", job) + "?page=1"}
    )
    assert response["Location"] == _url("job", job) + "?page=1"
    task.refresh_from_db()
    assert task.state == WorkState.QUEUED
    assert _messages(response) == ["Frame 1 is queued again."]


def test_a_running_task_is_not_rerun(client: Client, job: Job, owner: User) -> None:
    task = job.tasks.first()
    task.mark_running()
    response = _as(client, owner).post(_url("task_rerun", job, task.pk))
    assert _messages(response) == ["Frame 1 is running: it was left alone."]


def test_a_task_of_another_job_is_not_found(
    client: Client, job: Job, owner: User
) -> None:
    stranger = _job(owner, title="another")
    task = stranger.tasks.first()
    task.mark_done()
    response = _as(client, owner).post(_url("task_rerun", job, task.pk))
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.state == WorkState.DONE


# --- edits ----------------------------------------------------------------------


def test_owner_changes_scheduling_parameters(
    client: Client, job: Job, owner: User
) -> None:
    response = _as(client, owner).post(
        _url("job_scheduling", job),
        {
            "priority": 12,
            "weight": 3,
            "minimum_agents": 1,
            "maximum_agents": 4,
            "batch": 5,
        },
    )
    assert _messages(response) == ["Scheduling parameters saved."]
    fresh = Job.objects.get(pk=job.pk)
    assert (
        fresh.priority,
        fresh.weight,
        fresh.minimum_agents,
        fresh.maximum_agents,
        fresh.batch,
    ) == (12, 3, 1, 4, 5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"priority": "high", "weight": 1, "batch": 1},
            "Priority: Enter a whole number.",
        ),
        ({"priority": 1, "weight": -1, "batch": 1}, "Weight: Ensure this value is"),
        ({"priority": 1, "weight": 1, "batch": 0}, "Batch: Ensure this value is"),
        ({"priority": 1, "weight": 1, "batch": 99999999999}, "Batch: Ensure"),
        (
            {
                "priority": 1,
                "weight": 1,
                "batch": 1,
                "minimum_agents": 5,
                "maximum_agents": 2,
            },
            "Maximum agents: must not be lower than minimum_agents",
        ),
        ({"priority": 10**6, "weight": 1, "batch": 1}, "Priority: must be between"),
    ],
)
def test_bad_scheduling_parameters_are_a_message(
    client: Client, job: Job, owner: User, data: dict[str, Any], message: str
) -> None:
    before = _snapshot(job)
    response = _as(client, owner).post(_url("job_scheduling", job), data)
    assert response.status_code == 302
    (text,) = _messages(response)
    assert text.startswith(message), text
    assert _snapshot(job) == before


def test_owner_changes_the_frame_range(client: Client, job: Job, owner: User) -> None:
    response = _as(client, owner).post(
        _url("job_frames", job), {"start": 2, "end": 6, "by": 2}
    )
    assert _messages(response) == ["Frame range changed."]
    assert list(job.tasks.order_by("frame").values_list("frame", flat=True)) == [
        Decimal(2),
        Decimal(4),
        Decimal(6),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"start": 5, "end": 1, "by": 1}, "End: must not be lower than start"),
        ({"start": 1, "end": 5, "by": 0}, "By: Ensure this value is greater"),
        ({"start": "x", "end": 5, "by": 1}, "Start: Enter a number."),
        ({"start": 1, "end": 10**9, "by": 1}, "End: Ensure"),
        ({"start": 0, "end": 999999, "by": "0.0001"}, "By: the range has"),
    ],
)
def test_bad_frame_range_is_a_message(
    client: Client, job: Job, owner: User, data: dict[str, Any], message: str
) -> None:
    before = _snapshot(job)
    response = _as(client, owner).post(_url("job_frames", job), data)
    (text,) = _messages(response)
    assert text.startswith(message), text
    assert _snapshot(job) == before


def test_owner_edits_the_notes(client: Client, job: Job, owner: User) -> None:
    _as(client, owner).post(_url("job_notes", job), {"notes": "render at 2k"})
    assert Job.objects.get(pk=job.pk).notes == "render at 2k"


def test_owner_sets_and_clears_the_autodelete_time(
    client: Client, job: Job, owner: User
) -> None:
    _as(client, owner).post(_url("job_autodelete", job), {"days": 1, "hours": 2})
    assert Job.objects.get(pk=job.pk).autodelete_time == 93600
    response = client.post(_url("job_autodelete", job), {"days": "", "hours": ""})
    assert Job.objects.get(pk=job.pk).autodelete_time is None
    assert _messages(response)[-1] == "The job is never deleted automatically."


def test_bad_autodelete_time_is_a_message(
    client: Client, job: Job, owner: User
) -> None:
    before = _snapshot(job)
    response = _as(client, owner).post(_url("job_autodelete", job), {"days": -1})
    assert _messages(response)[0].startswith("Days: Ensure")
    response = client.post(_url("job_autodelete", job), {"days": 10**9 // 86400 * 3})
    assert _messages(response)[-1] == "The delay is too long."
    assert _snapshot(job) == before


def test_owner_adds_and_removes_tags(client: Client, job: Job, owner: User) -> None:
    _as(client, owner)
    response = client.post(_url("job_tags", job), {"tag": "urgent", "operation": "add"})
    assert _messages(response) == ["Tag 'urgent' added."]
    assert list(job.tags.values_list("tag", flat=True)) == ["urgent"]
    response = client.post(
        _url("job_tags", job), {"tag": "urgent", "operation": "remove"}
    )
    assert _messages(response)[-1] == "Tag 'urgent' removed."
    assert not job.tags.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tag": "nope", "operation": "remove"}, "The job has no tag 'nope'."),
        ({"tag": "  ", "operation": "add"}, "Tag: This field is required."),
        ({"tag": "x" * 200, "operation": "add"}, "Tag 'xxxx"),
        ({"tag": "a", "operation": "explode"}, "Operation: Select a valid choice."),
    ],
)
def test_bad_tag_edits_are_a_message(
    client: Client, job: Job, owner: User, data: dict[str, Any], message: str
) -> None:
    before = _snapshot(job)
    response = _as(client, owner).post(_url("job_tags", job), data)
    (text,) = _messages(response)
    assert text.startswith(message), text
    assert _snapshot(job) == before
    assert not Tag.objects.filter(tag__startswith="xxxx").exists()


def test_owner_requires_forbids_and_drops_a_tag(
    client: Client, job: Job, owner: User
) -> None:
    _as(client, owner)
    url = _url("job_tag_requirements", job)
    client.post(url, {"tag": "gpu", "operation": "add"})
    assert list(job.tag_requirements.values_list("tag__tag", "negate")) == [
        ("gpu", False)
    ]
    response = client.post(url, {"tag": "gpu", "operation": "add", "negate": "on"})
    assert _messages(response)[-1] == "The job's agents must not have the tag 'gpu'."
    assert list(job.tag_requirements.values_list("tag__tag", "negate")) == [
        ("gpu", True)
    ]
    response = client.post(url, {"tag": "gpu", "operation": "remove"})
    assert _messages(response)[-1] == "Requirement of tag 'gpu' removed."
    assert not job.tag_requirements.exists()


def test_removing_an_unknown_tag_requirement_is_a_message(
    client: Client, job: Job, owner: User
) -> None:
    TagFactory.create(tag="cpu")
    response = _as(client, owner).post(
        _url("job_tag_requirements", job), {"tag": "cpu", "operation": "remove"}
    )
    assert _messages(response) == ["The job has no requirement of tag 'cpu'."]


def test_owner_adds_and_removes_a_notified_user(
    client: Client, job: Job, owner: User, other: User
) -> None:
    _as(client, owner)
    response = client.post(
        _url("job_notified_user_add", job),
        {"username": "other", "on_failure": "on"},
    )
    assert _messages(response) == ["other is notified about this job."]
    notified = JobNotifiedUser.objects.get(job=job, user=other)
    assert (notified.on_success, notified.on_failure, notified.on_deletion) == (
        False,
        True,
        False,
    )
    content = client.get(_url("job", job)).content.decode()
    assert "<td>other</td>" in content
    response = client.post(_url("job_notified_user_remove", job), {"username": "other"})
    assert _messages(response)[-1] == "other is no longer notified about this job."
    assert not JobNotifiedUser.objects.filter(job=job).exists()


@pytest.mark.parametrize("name", ["job_notified_user_add", "job_notified_user_remove"])
def test_unknown_notified_user_is_a_message(
    client: Client, job: Job, owner: User, name: str
) -> None:
    response = _as(client, owner).post(_url(name, job), {"username": "ghost"})
    assert _messages(response) == ["There is no user 'ghost'."]
    assert not JobNotifiedUser.objects.filter(job=job).exists()


def test_removing_a_user_who_is_not_notified_is_a_message(
    client: Client, job: Job, owner: User, other: User
) -> None:
    response = _as(client, owner).post(
        _url("job_notified_user_remove", job), {"username": "other"}
    )
    assert _messages(response) == ["other was not notified about this job."]


def test_a_job_marked_for_deletion_shows_no_controls(
    client: Client, job: Job, owner: User
) -> None:
    Job.objects.filter(pk=job.pk).update(to_be_deleted=True)
    content = _as(client, owner).get(_url("job", job)).content.decode()
    assert "marked for deletion" in content
    assert 'data-action="delete"' not in content


def test_a_job_without_owner_is_only_changed_by_farm_admins(
    client: Client, other: User
) -> None:
    job = JobFactory.create(user=None)
    response = _as(client, other).post(_url("job_pause", job))
    assert _messages(response) == [REFUSAL]


@pytest.mark.parametrize(("name", "data"), ACTIONS)
def test_anonymous_actions_lead_to_log_in_and_change_nothing(
    client: Client, job: Job, name: str, data: dict[str, Any]
) -> None:
    """Every action of the page needs a login first."""
    before = _snapshot(job)
    response = client.post(_url(name, job), data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert _snapshot(job) == before


def test_the_notify_form_starts_with_the_viewers_own_defaults(
    client: Client, job: Job, other: User
) -> None:
    """ "Notify" names the viewer, ticked as their account's defaults say."""
    other.notify_on_success = False
    other.notify_on_deletion = True
    other.save(update_fields=["notify_on_success", "notify_on_deletion"])
    client.force_login(other)
    form = client.get(reverse("web:job", args=[job.pk])).context["notified_form"]
    assert form.initial == {
        "username": "other",
        "on_success": False,
        "on_failure": True,
        "on_deletion": True,
    }
