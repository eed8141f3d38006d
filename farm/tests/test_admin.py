"""Admin: every page of every model, bulk actions, query counts, bounded lists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from farm.admin.base import CappedCountPaginator
from farm.admin.tasks import TASK_INLINE_LIMIT, TaskInline
from farm.choices import AgentState, WorkState
from farm.models import (
    GPU,
    Agent,
    AgentCount,
    AgentDisk,
    AgentMacAddress,
    Job,
    JobGroup,
    JobNotifiedUser,
    JobQueue,
    JobSoftwareRequirement,
    JobTagRequirement,
    JobType,
    JobTypeSoftwareRequirement,
    JobTypeVersion,
    PathMap,
    Software,
    SoftwareVersion,
    Tag,
    Task,
    TaskCount,
    TaskEventCount,
    TaskLog,
    TaskTaskLogAssociation,
)
from farm.services import create_job, refresh_job_states
from farm.tests.factories import (
    AgentDiskFactory,
    AgentFactory,
    AgentMacAddressFactory,
    GPUFactory,
    JobFactory,
    JobGroupFactory,
    JobQueueFactory,
    JobTypeFactory,
    JobTypeVersionFactory,
    PathMapFactory,
    SoftwareVersionFactory,
    TagFactory,
    TaskFactory,
    TaskLogFactory,
)

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

# Generous for a changelist; the tests that matter compare counts.
MAX_PAGE_QUERIES = 30


# --- builders --------------------------------------------------------------


def _job(tasks: int = 3, **fields: Any) -> Job:
    return create_job(
        jobtype_version=JobTypeVersionFactory(),
        title=fields.pop("title", "shot 010 beauty"),
        start=1,
        end=tasks,
        **fields,
    )


def _agent() -> Agent:
    agent = AgentFactory()
    agent.tags.set([TagFactory()])
    agent.gpus.set([GPUFactory()])
    AgentMacAddressFactory(agent=agent)
    AgentDiskFactory(agent=agent)
    TaskFactory(running=True, agent=agent)
    return agent


def _agent_count() -> AgentCount:
    return AgentCount.objects.create(num_online=3, num_running=2)


def _task_event_count() -> TaskEventCount:
    now = timezone.now()
    return TaskEventCount.objects.create(
        time_start=now - timedelta(minutes=5),
        time_end=now,
        job_queue=JobQueueFactory(),
        num_new=10,
        num_done=4,
    )


def _task_count() -> TaskCount:
    return TaskCount.objects.create(job_queue=JobQueueFactory(), total_queued=7)


BUILDERS: dict[type[Model], Callable[[], Model]] = {
    Agent: _agent,
    GPU: GPUFactory,
    Software: lambda: SoftwareVersionFactory().software,
    SoftwareVersion: SoftwareVersionFactory,
    Tag: TagFactory,
    PathMap: lambda: PathMapFactory(tag=TagFactory()),
    JobType: lambda: JobTypeVersionFactory().jobtype,
    JobTypeVersion: JobTypeVersionFactory,
    JobQueue: lambda: JobQueueFactory(parent=JobQueueFactory()),
    JobGroup: lambda: JobGroupFactory(user=UserFactory()),
    Job: _job,
    Task: lambda: TaskFactory(running=True),
    TaskLog: TaskLogFactory,
    AgentCount: _agent_count,
    TaskEventCount: _task_event_count,
    TaskCount: _task_count,
}
MODELS = list(BUILDERS)
# Rows that only link or describe another object: edited as inlines of that
# object, not registered on their own (test_admin_index.py).
LINK_TABLES = {
    AgentMacAddress,
    AgentDisk,
    JobTagRequirement,
    JobSoftwareRequirement,
    JobNotifiedUser,
    JobTypeSoftwareRequirement,
    TaskTaskLogAssociation,
}


def _model_id(model: type[Model]) -> str:
    return model._meta.model_name or model.__name__


def _url(model: type[Model], view: str, *args: object) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def _messages(response: Response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _run_action(
    client: Client, model: type[Model], action: str, objects: list[Model]
) -> Response:
    response = client.post(
        _url(model, "changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
    )
    assert response.status_code == 302
    return response


def _form_data(response: Response) -> dict[str, Any]:
    """What a browser posts back for the admin form rendered in ``response``."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.initial_forms)
    data: dict[str, Any] = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is False or value is None:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


# --- registration and pages ------------------------------------------------


def test_every_farm_model_is_registered_and_covered_here() -> None:
    farm_models = set(apps.get_app_config("farm").get_models())
    registered = {m for m in farm_models if admin.site.is_registered(m)}
    assert registered == farm_models - LINK_TABLES
    assert farm_models == set(MODELS) | LINK_TABLES


@pytest.mark.parametrize("model", MODELS, ids=_model_id)
def test_changelist_lists_the_object(admin_client: Client, model: type[Model]) -> None:
    obj = BUILDERS[model]()
    response = admin_client.get(_url(model, "changelist"))
    assert response.status_code == 200
    assert obj.pk in [row.pk for row in response.context["cl"].result_list]


@pytest.mark.parametrize("model", MODELS, ids=_model_id)
def test_changelist_search_works(admin_client: Client, model: type[Model]) -> None:
    BUILDERS[model]()
    response = admin_client.get(_url(model, "changelist"), {"q": "x"})
    assert response.status_code == 200
    assert response.context["cl"].query == "x"


@pytest.mark.parametrize("model", MODELS, ids=_model_id)
def test_add_page_renders(admin_client: Client, model: type[Model]) -> None:
    response = admin_client.get(_url(model, "add"))
    assert response.status_code == 200
    assert response.context["add"] is True


@pytest.mark.parametrize("model", MODELS, ids=_model_id)
def test_change_page_renders(admin_client: Client, model: type[Model]) -> None:
    obj = BUILDERS[model]()
    response = admin_client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert response.context["original"].pk == obj.pk


AUTOCOMPLETE_FIELDS = [
    (model, field)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label == "farm"
    for field in model_admin.autocomplete_fields
]


@pytest.mark.parametrize(
    ("model", "field"),
    AUTOCOMPLETE_FIELDS,
    ids=[f"{_model_id(model)}.{field}" for model, field in AUTOCOMPLETE_FIELDS],
)
def test_autocomplete_answers(
    admin_client: Client, model: type[Model], field: str
) -> None:
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "farm",
            "model_name": model._meta.model_name,
            "field_name": field,
            "term": "1",
        },
    )
    assert response.status_code == 200
    assert "results" in response.json()


# --- search ----------------------------------------------------------------


def test_a_number_finds_a_task_by_id_and_the_tasks_of_a_job(
    admin_client: Client,
) -> None:
    job = _job(tasks=3, title="lighting")
    other = TaskFactory()
    url = _url(Task, "changelist")

    by_job = admin_client.get(url, {"q": str(job.pk)})
    by_task = admin_client.get(url, {"q": str(other.pk)})

    found_by_job = {task.pk for task in by_job.context["cl"].result_list}
    assert set(job.tasks.values_list("pk", flat=True)) <= found_by_job
    assert other.pk in {task.pk for task in by_task.context["cl"].result_list}


def test_a_number_finds_a_job_by_id_among_annotated_jobs(
    admin_client: Client,
) -> None:
    job = _job(tasks=2, title="comp")
    response = admin_client.get(_url(Job, "changelist"), {"q": str(job.pk)})
    rows = {row.pk: row for row in response.context["cl"].result_list}
    assert rows[job.pk].tasks_total == 2


# --- job actions -----------------------------------------------------------


def test_pause_action_pauses_jobs(admin_client: Client) -> None:
    jobs = [_job(), _job()]
    response = _run_action(admin_client, Job, "pause", jobs)
    assert set(Job.objects.values_list("state", flat=True)) == {WorkState.PAUSED}
    assert _messages(response) == ["Paused 2 jobs."]


def test_pause_action_warns_when_nothing_changed(admin_client: Client) -> None:
    job = JobFactory(paused=True)
    response = _run_action(admin_client, Job, "pause", [job])
    assert _messages(response) == [
        "No job was paused: only queued or running jobs can be."
    ]


def test_unpause_action_requeues_paused_jobs(admin_client: Client) -> None:
    job = _job()
    job.pause()
    response = _run_action(admin_client, Job, "unpause", [job])
    job.refresh_from_db()
    assert job.state == WorkState.QUEUED
    assert _messages(response) == ["Unpaused 1 job."]


def test_rerun_action_queues_every_task_again(admin_client: Client) -> None:
    job = _job(tasks=3)
    tasks = Task.objects.filter(job=job)
    tasks.filter(frame=1).mark_done()
    tasks.filter(frame=2).update(state=WorkState.FAILED, failures=4)
    response = _run_action(admin_client, Job, "rerun", [job])
    assert set(tasks.values_list("state", flat=True)) == {WorkState.QUEUED}
    assert _messages(response) == [
        "Queued 3 tasks again (tasks of dependent jobs included)."
    ]


def test_rerun_failed_action_queues_only_failed_tasks(admin_client: Client) -> None:
    job = _job(tasks=3)
    tasks = Task.objects.filter(job=job)
    tasks.filter(frame=1).mark_done()
    tasks.filter(frame=2).update(state=WorkState.FAILED, failures=4)
    response = _run_action(admin_client, Job, "rerun_failed", [job])
    states = dict(tasks.values_list("frame", "state"))
    assert states[Decimal(1)] == WorkState.DONE
    assert states[Decimal(2)] == WorkState.QUEUED
    assert _messages(response) == [
        "Queued 1 failed task again (tasks of dependent jobs included)."
    ]


def test_mark_for_deletion_action_flags_jobs(admin_client: Client) -> None:
    jobs = [_job(), _job()]
    response = _run_action(admin_client, Job, "mark_for_deletion", jobs)
    assert Job.objects.filter(to_be_deleted=True).count() == 2
    assert _messages(response) == ["Marked 2 jobs for deletion."]


# --- task and agent actions ------------------------------------------------


def test_rerun_tasks_action_queues_ended_tasks(admin_client: Client) -> None:
    job = JobFactory()
    done = TaskFactory(job=job, done=True)
    failed = TaskFactory(job=job, failed=True)
    running = TaskFactory(job=job, running=True)
    response = _run_action(admin_client, Task, "rerun", [done, failed, running])
    states = dict(Task.objects.values_list("pk", "state"))
    assert states == {
        done.pk: WorkState.QUEUED,
        failed.pk: WorkState.QUEUED,
        running.pk: WorkState.RUNNING,
    }
    assert _messages(response) == ["Queued 2 tasks again."]


def test_enable_action_brings_disabled_agents_online(admin_client: Client) -> None:
    agents = [AgentFactory(disabled=True), AgentFactory(disabled=True)]
    response = _run_action(admin_client, Agent, "enable", agents)
    assert set(Agent.objects.values_list("state", flat=True)) == {AgentState.ONLINE}
    assert _messages(response) == ["Enabled 2 agents."]


def test_disable_action_disables_agents(admin_client: Client) -> None:
    agents = [AgentFactory(), AgentFactory(running=True)]
    response = _run_action(admin_client, Agent, "disable", agents)
    assert set(Agent.objects.values_list("state", flat=True)) == {AgentState.DISABLED}
    assert _messages(response) == ["Disabled 2 agents."]


def test_request_restart_action_flags_agents(admin_client: Client) -> None:
    agent = AgentFactory()
    response = _run_action(admin_client, Agent, "request_restart", [agent])
    agent.refresh_from_db()
    assert agent.restart_requested is True
    assert _messages(response) == ["Requested a restart of 1 agent."]


# --- query counts ----------------------------------------------------------


def _queries_for(client: Client, url: str, assert_max: Callable[..., Any]) -> int:
    with assert_max(MAX_PAGE_QUERIES) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_task_changelist_queries_do_not_grow_with_rows(
    admin_client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    url = _url(Task, "changelist")
    TaskFactory.create_batch(5, running=True)
    few = _queries_for(admin_client, url, django_assert_max_num_queries)
    TaskFactory.create_batch(45, running=True)
    many = _queries_for(admin_client, url, django_assert_max_num_queries)
    assert many == few


def test_job_changelist_queries_do_not_grow_with_rows(
    admin_client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    url = _url(Job, "changelist")
    for _ in range(5):
        _job(tasks=4, queue=JobQueueFactory(), user=UserFactory())
    few = _queries_for(admin_client, url, django_assert_max_num_queries)
    for _ in range(45):
        _job(tasks=4, queue=JobQueueFactory(), user=UserFactory())
    many = _queries_for(admin_client, url, django_assert_max_num_queries)
    assert many == few


def test_agent_changelist_queries_do_not_grow_with_rows(
    admin_client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    url = _url(Agent, "changelist")
    TaskFactory.create_batch(5, running=True)
    few = _queries_for(admin_client, url, django_assert_max_num_queries)
    TaskFactory.create_batch(45, running=True)
    many = _queries_for(admin_client, url, django_assert_max_num_queries)
    assert many == few


def test_job_changelist_shows_task_progress(admin_client: Client) -> None:
    job = _job(tasks=5)
    Task.objects.filter(job=job, frame__lte=2).mark_done()
    Task.objects.filter(job=job, frame=3).mark_running()
    response = admin_client.get(_url(Job, "changelist"))
    assert '<span title="1 running, 0 failed">2/5</span>' in response.text


def test_agent_changelist_counts_running_tasks(admin_client: Client) -> None:
    agent = AgentFactory()
    TaskFactory.create_batch(2, running=True, agent=agent)
    TaskFactory(done=True, agent=agent)
    response = admin_client.get(_url(Agent, "changelist"))
    (row,) = response.context["cl"].result_list
    assert row.running_task_count == 2


# --- large tables ----------------------------------------------------------


class _TinyCapPaginator(CappedCountPaginator):
    cap = 3


def test_capped_paginator_counts_exactly_below_the_cap() -> None:
    TaskFactory.create_batch(2)
    assert _TinyCapPaginator(Task.objects.all(), 10).count == 2


def test_capped_paginator_stops_counting_at_the_cap() -> None:
    TaskFactory.create_batch(5)
    assert _TinyCapPaginator(Task.objects.all(), 10).count == 3


@pytest.mark.parametrize("model", [Task, TaskLog, AgentCount], ids=_model_id)
def test_large_changelists_never_count_the_whole_table(
    admin_client: Client, model: type[Model]
) -> None:
    BUILDERS[model]()
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(_url(model, "changelist"))
    assert response.status_code == 200
    table = model._meta.db_table
    counts = [
        query["sql"]
        for query in captured.captured_queries
        if "COUNT(" in query["sql"] and f'"{table}"' in query["sql"]
    ]
    assert counts
    assert all("LIMIT" in sql for sql in counts)


@pytest.mark.parametrize("model", [Job, Agent], ids=_model_id)
def test_counting_jobs_and_agents_does_not_read_the_tasks(
    admin_client: Client, model: type[Model]
) -> None:
    _job(tasks=5)
    TaskFactory(running=True)
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(_url(model, "changelist"))
    assert response.status_code == 200
    counts = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith("SELECT COUNT(")
    ]
    assert counts
    assert not [sql for sql in counts if '"tasks"' in sql]


# --- the job page ----------------------------------------------------------


def test_job_page_lists_only_a_bounded_slice_of_tasks(admin_client: Client) -> None:
    job = _job(tasks=300)
    response = admin_client.get(_url(Job, "change", job.pk))
    assert response.status_code == 200
    (task_formset,) = [
        inline
        for inline in response.context["inline_admin_formsets"]
        if isinstance(inline.opts, TaskInline)
    ]
    frames = [form.instance.frame for form in task_formset.formset.forms]
    assert frames == [Decimal(n) for n in range(1, TASK_INLINE_LIMIT + 1)]
    assert response.text.count('class="form-row has_original"') == TASK_INLINE_LIMIT
    assert "View all 300 tasks" in response.text


def test_job_page_queries_do_not_grow_with_tasks(
    admin_client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    small = _job(tasks=10)
    big = _job(tasks=300)
    for job in (small, big):
        Task.objects.filter(job=job).update(agent=AgentFactory())
    few = _queries_for(
        admin_client, _url(Job, "change", small.pk), django_assert_max_num_queries
    )
    many = _queries_for(
        admin_client, _url(Job, "change", big.pk), django_assert_max_num_queries
    )
    assert many == few


def test_view_all_tasks_link_lists_the_jobs_tasks(admin_client: Client) -> None:
    job = _job(tasks=300)
    _job(tasks=5)
    page = admin_client.get(_url(Job, "change", job.pk))
    link = f"{_url(Task, 'changelist')}?job__id__exact={job.pk}"
    assert f'href="{link}"' in page.text
    response = admin_client.get(link)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 300


def test_adding_a_job_creates_its_tasks(admin_client: Client) -> None:
    version = JobTypeVersionFactory()
    data = _form_data(admin_client.get(_url(Job, "add")))
    data.update(title="new job", jobtype_version=version.pk, start="1", end="20")
    response = admin_client.post(_url(Job, "add"), data)
    assert response.status_code == 302
    job = Job.objects.get(title="new job")
    assert job.tasks.count() == 20
    assert job.state == WorkState.QUEUED


def test_adding_a_job_refuses_a_range_of_too_many_tasks(
    admin_client: Client,
) -> None:
    version = JobTypeVersionFactory()
    data = _form_data(admin_client.get(_url(Job, "add")))
    data.update(title="typo", jobtype_version=version.pk, start="1", end="5000000")
    response = admin_client.post(_url(Job, "add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Job.objects.filter(title="typo").exists()


def test_changing_the_frame_range_adds_tasks(admin_client: Client) -> None:
    job = _job(tasks=300)
    data = _form_data(admin_client.get(_url(Job, "change", job.pk)))
    data["end"] = "310"
    response = admin_client.post(_url(Job, "change", job.pk), data)
    assert response.status_code == 302
    assert job.tasks.count() == 310


def test_saving_a_job_does_not_write_back_its_state(admin_client: Client) -> None:
    job = _job(tasks=3)
    data = _form_data(admin_client.get(_url(Job, "change", job.pk)))
    # The scheduler starts the job while the admin's form is open.
    Task.objects.filter(job=job, frame=1).mark_running()
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    data["title"] = "renamed"
    response = admin_client.post(_url(Job, "change", job.pk), data)
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.title, job.state) == ("renamed", WorkState.RUNNING)
    assert job.tasks.count() == 3


def test_jobs_are_marked_for_deletion_not_deleted(admin_client: Client) -> None:
    job = _job()
    response = admin_client.get(_url(Job, "delete", job.pk))
    assert response.status_code == 403


def test_job_type_page_lists_its_versions(admin_client: Client) -> None:
    jobtype = JobTypeFactory()
    JobTypeVersionFactory(jobtype=jobtype, version=1)
    JobTypeVersionFactory(jobtype=jobtype, version=2)
    response = admin_client.get(_url(JobType, "change", jobtype.pk))
    (versions,) = response.context["inline_admin_formsets"]
    assert [form.instance.version for form in versions.formset.forms] == [2, 1]


def test_queue_path_is_read_only_and_follows_the_parent(admin_client: Client) -> None:
    root = JobQueueFactory(name="root")
    data = _form_data(admin_client.get(_url(JobQueue, "add")))
    data.update(name="child", parent=root.pk, fullpath="ignored")
    response = admin_client.post(_url(JobQueue, "add"), data)
    assert response.status_code == 302
    assert JobQueue.objects.get(name="child").fullpath == "root/child"


def test_adding_a_job_refuses_more_tiles_than_the_maximum(
    admin_client: Client, farm_config: Callable[..., None]
) -> None:
    farm_config(max_tasks_per_job=100)
    version = JobTypeVersionFactory()
    data = _form_data(admin_client.get(_url(Job, "add")))
    data.update(
        title="tiles", jobtype_version=version.pk, start="1", end="10", num_tiles="11"
    )
    response = admin_client.post(_url(Job, "add"), data)
    assert response.status_code == 200
    assert "max_tasks_per_job (100)" in str(response.context["adminform"].form.errors)
    assert not Job.objects.filter(title="tiles").exists()


def test_a_versions_tiling_support_is_set_in_the_admin(admin_client: Client) -> None:
    jobtype = JobTypeFactory()
    version = JobTypeVersionFactory(jobtype=jobtype, version=1)
    page = admin_client.get(_url(JobType, "change", jobtype.pk))
    (versions,) = page.context["inline_admin_formsets"]
    assert "supports_tiling" in versions.formset.forms[0].fields
    url = _url(JobTypeVersion, "change", version.pk)
    data = _form_data(admin_client.get(url))
    assert "supports_tiling" not in data
    data["supports_tiling"] = "on"
    assert admin_client.post(url, data).status_code == 302
    version.refresh_from_db()
    assert version.supports_tiling is True


def test_job_page_shows_empty_data_and_environ_empty_not_null(
    admin_client: Client,
) -> None:
    job = _job(tasks=1)
    Job.objects.filter(pk=job.pk).update(data=None, environ=None)
    response = admin_client.get(_url(Job, "change", job.pk))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form["data"].value() in (None, "")
    assert ">null</textarea>" not in response.text
    assert form.fields["data"].prepare_value(None) == ""
    assert form.fields["environ"].prepare_value({"A": "1"}) == '{"A": "1"}'
