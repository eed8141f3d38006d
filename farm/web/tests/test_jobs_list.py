"""The jobs list (``/jobs/``): rows, filters, sorting, pages, counts, refresh."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserFactory
from farm.choices import WorkState
from farm.models import Job
from farm.tests.factories import (
    JobFactory,
    JobGroupFactory,
    JobQueueFactory,
    JobTypeVersionFactory,
    TagFactory,
    TaskFactory,
)
from farm.web.queries_jobs import PAGE_SIZE, TaskSummary

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

    from accounts.models import User

pytestmark = pytest.mark.django_db

URL = "/jobs/"


def _ids(response: Response) -> list[int]:
    """The ids of the jobs listed, in the page's order."""
    return [int(pk) for pk in re.findall(r'<tr id="job-(\d+)"', response.text)]


def _checkbox(response: Response, job: Job) -> str:
    match = re.search(rf'<input[^>]*id="select-job-{job.pk}"[^>]*>', response.text)
    assert match, f"no checkbox for job {job.pk}"
    return match.group(0)


def _row(response: Response, job: Job) -> str:
    match = re.search(rf'<tr id="job-{job.pk}".*?</tr>', response.text, re.S)
    assert match, f"no row for job {job.pk}"
    return match.group(0)


def _count(response: Response, state: str) -> int:
    match = re.search(
        rf'data-state="{state}".*?<strong class="count">(\d+)</strong>',
        response.text,
        re.S,
    )
    assert match
    return int(match.group(1))


@pytest.fixture
def owner(db: None) -> User:
    return UserFactory.create(username="owner")


@pytest.fixture
def other(db: None) -> User:
    return UserFactory.create(username="other")


# --- who sees what --------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_log_in(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/jobs/"


def test_a_refresh_after_logging_out_reloads_the_page(client: Client) -> None:
    """Not the login form swapped into the table: the page reloads to log in."""
    response = client.get(URL, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"


def test_the_list_shows_the_visible_jobs_only(admin_client: Client) -> None:
    shown = JobFactory.create(title="shot 010")
    JobFactory.create(title="hidden one", hidden=True)
    JobFactory.create(title="being deleted", to_be_deleted=True)

    response = admin_client.get(URL)

    assert response.status_code == 200
    assert _ids(response) == [shown.pk]
    assert "hidden one" not in response.text


def test_a_row_shows_the_jobs_columns(admin_client: Client, owner: User) -> None:
    version = JobTypeVersionFactory.create(jobtype__name="Blender", version=3)
    queue = JobQueueFactory.create(name="lighting")
    job = JobFactory.create(
        title="shot 010",
        jobtype_version=version,
        queue=queue,
        user=owner,
        priority=7,
        weight=3,
    )
    job.tags.add(TagFactory.create(tag="hero"))

    row = _row(admin_client.get(URL), job)

    for text in ("shot 010", "Blender", "v3", "lighting", "owner", "hero", ">7<"):
        assert text in row
    assert f'href="/jobs/{job.pk}/"' in row


def test_a_farm_admin_may_select_every_job(admin_client: Client, owner: User) -> None:
    job = JobFactory.create(user=owner)
    assert "disabled" not in _checkbox(admin_client.get(URL), job)


def test_a_user_with_the_admin_role_may_select_every_job(
    client: Client, owner: User
) -> None:
    user = UserFactory.create()
    user.roles.add(RoleFactory.create(name="admin"))
    client.force_login(user)
    job = JobFactory.create(user=owner)
    assert "disabled" not in _checkbox(client.get(URL), job)


def test_the_owner_may_select_their_job(client: Client, owner: User) -> None:
    job = JobFactory.create(user=owner)
    client.force_login(owner)
    assert "disabled" not in _checkbox(client.get(URL), job)


def test_another_user_sees_the_job_but_may_not_select_it(
    client: Client, owner: User, other: User
) -> None:
    job = JobFactory.create(user=owner)
    own = JobFactory.create(user=other)
    client.force_login(other)

    response = client.get(URL)

    assert set(_ids(response)) == {job.pk, own.pk}
    assert "disabled" in _checkbox(response, job)
    assert "disabled" not in _checkbox(response, own)


def test_a_user_who_may_change_none_of_the_jobs_gets_no_enabled_actions(
    client: Client, owner: User, other: User
) -> None:
    JobFactory.create(user=owner)
    client.force_login(other)

    response = client.get(URL)

    assert re.search(r'<fieldset class="bulk-controls" disabled', response.text)


def test_a_user_who_owns_a_listed_job_gets_the_actions(
    client: Client, owner: User
) -> None:
    JobFactory.create(user=owner)
    client.force_login(owner)

    response = client.get(URL)

    assert '<fieldset class="bulk-controls">' in response.text
    assert 'value="delete"' in response.text


# --- tasks: progress, frames, times -------------------------------------------


def test_a_row_shows_frames_done_of_total_and_the_progress(
    admin_client: Client,
) -> None:
    job = JobFactory.create(state=WorkState.RUNNING)
    TaskFactory.create_batch(3, job=job, done=True)
    TaskFactory.create(job=job, failed=True)
    TaskFactory.create(job=job, running=True)
    TaskFactory.create_batch(2, job=job)

    row = _row(admin_client.get(URL), job)

    assert "3 / 7" in row
    assert 'aria-label="3 done, 1 failed, 1 running, 2 queued"' in row


def test_elapsed_runs_from_the_start_to_the_finish(admin_client: Client) -> None:
    start = timezone.now() - timedelta(hours=3)
    job = JobFactory.create(
        state=WorkState.DONE,
        time_started=start,
        time_finished=start + timedelta(hours=2, minutes=5),
    )
    row = _row(admin_client.get(URL), job)
    assert '<td class="num elapsed">2h 05m</td>' in row


def test_elapsed_of_a_running_job_runs_to_now(admin_client: Client) -> None:
    job = JobFactory.create(
        state=WorkState.RUNNING, time_started=timezone.now() - timedelta(minutes=4)
    )
    row = _row(admin_client.get(URL), job)
    assert re.search(r'<td class="num elapsed">4m 0\ds</td>', row)


def test_time_left_comes_from_the_mean_time_of_the_done_tasks(
    admin_client: Client,
) -> None:
    job = JobFactory.create(state=WorkState.RUNNING)
    start = timezone.now() - timedelta(hours=1)
    for seconds in (10, 20):
        TaskFactory.create(
            job=job,
            done=True,
            time_started=start,
            time_finished=start + timedelta(seconds=seconds),
        )
    TaskFactory.create_batch(2, job=job, running=True)
    TaskFactory.create_batch(4, job=job)

    row = _row(admin_client.get(URL), job)

    # 15 s a task x 6 tasks left / 2 running at a time.
    assert '<td class="num left">45s</td>' in row


def test_time_left_without_done_tasks_is_a_dash(admin_client: Client) -> None:
    job = JobFactory.create()
    TaskFactory.create_batch(2, job=job)
    row = _row(admin_client.get(URL), job)
    assert '<td class="num left">—</td>' in row
    assert '<td class="num elapsed">—</td>' in row


def test_the_estimate_counts_paused_tasks_as_waiting() -> None:
    summary = TaskSummary(timed_done=1, done_time=timedelta(seconds=30))
    summary.counts[WorkState.PAUSED] = 2
    assert summary.time_left() == timedelta(seconds=60)


# --- counts per state ---------------------------------------------------------


def test_the_counts_per_state_are_shown_with_links(admin_client: Client) -> None:
    JobFactory.create_batch(2, state=WorkState.RUNNING)
    JobFactory.create(state=WorkState.FAILED)

    response = admin_client.get(URL)

    assert _count(response, "running") == 2
    assert _count(response, "failed") == 1
    assert _count(response, "done") == 0
    assert 'href="?state=failed" data-state="failed"' in response.text


def test_the_counts_follow_the_other_filters_but_not_the_state(
    admin_client: Client,
) -> None:
    queue = JobQueueFactory.create()
    JobFactory.create(state=WorkState.RUNNING, queue=queue)
    JobFactory.create(state=WorkState.DONE, queue=queue)
    JobFactory.create(state=WorkState.DONE)

    response = admin_client.get(URL, {"queue": queue.pk, "state": "running"})

    assert _count(response, "running") == 1
    assert _count(response, "done") == 1


# --- filters ----------------------------------------------------------------------


def test_the_state_filter_takes_several_states(admin_client: Client) -> None:
    running = JobFactory.create(state=WorkState.RUNNING)
    failed = JobFactory.create(state=WorkState.FAILED)
    JobFactory.create(state=WorkState.DONE)

    response = admin_client.get(URL, {"state": ["running", "failed"]})

    assert set(_ids(response)) == {running.pk, failed.pk}
    assert "2 jobs" in response.text


def test_mine_shows_only_the_users_jobs(client: Client, owner: User) -> None:
    own = JobFactory.create(user=owner)
    JobFactory.create(user=UserFactory.create())
    client.force_login(owner)

    assert len(_ids(client.get(URL))) == 2
    assert _ids(client.get(URL, {"mine": "1"})) == [own.pk]


def test_mine_false_shows_everyones_jobs(client: Client, owner: User) -> None:
    JobFactory.create(user=owner)
    JobFactory.create(user=UserFactory.create())
    client.force_login(owner)

    response = client.get(URL, {"mine": "false"})

    assert len(_ids(response)) == 2
    assert "Show only my jobs" in response.text


def test_the_toggle_links_to_mine_and_back(client: Client, owner: User) -> None:
    client.force_login(owner)
    assert 'href="?mine=1" id="mine-toggle"' in client.get(URL).text
    assert 'href="?" id="mine-toggle"' in client.get(URL, {"mine": "1"}).text


@pytest.mark.parametrize(
    ("parameter", "value_of"),
    [
        ("queue", lambda job: job.queue.pk),
        ("group", lambda job: job.group.pk),
        ("jobtype", lambda job: job.jobtype_version.jobtype.pk),
        ("tag", lambda job: job.tags.get().tag),
        ("q", lambda job: "SHOT 0"),
    ],
)
def test_a_filter_narrows_the_list(
    admin_client: Client, parameter: str, value_of: Any
) -> None:
    wanted = JobFactory.create(
        title="shot 010",
        queue=JobQueueFactory.create(),
        group=JobGroupFactory.create(),
    )
    wanted.tags.add(TagFactory.create(tag="hero"))
    JobFactory.create(title="other", queue=JobQueueFactory.create())

    response = admin_client.get(URL, {parameter: value_of(wanted)})

    assert _ids(response) == [wanted.pk]


def test_a_bad_filter_value_is_reported_and_left_out(admin_client: Client) -> None:
    job = JobFactory.create()

    response = admin_client.get(URL, {"state": "lost", "queue": "x"})

    assert response.status_code == 200
    assert _ids(response) == [job.pk]
    assert "Some filters were left out" in response.text


# --- sorting ----------------------------------------------------------------------


def test_the_default_order_is_newest_first(admin_client: Client) -> None:
    jobs = JobFactory.create_batch(3)
    assert _ids(admin_client.get(URL)) == [job.pk for job in reversed(jobs)]


@pytest.mark.parametrize(
    ("key", "field", "values"),
    [
        ("title", "title", ["a", "b", "c"]),
        ("state", "state", ["done", "queued", "running"]),
        ("priority", "priority", [1, 2, 3]),
        ("weight", "weight", [1, 2, 3]),
        ("submitted", "time_submitted", [1, 2, 3]),
        ("started", "time_started", [1, 2, 3]),
        ("finished", "time_finished", [1, 2, 3]),
    ],
)
def test_a_column_sorts_both_ways(
    admin_client: Client, key: str, field: str, values: list[Any]
) -> None:
    now = timezone.now()
    jobs = []
    for value in values:
        if field.startswith("time_"):
            value = now - timedelta(days=10 - value)
        job = JobFactory.create()
        Job.objects.filter(pk=job.pk).update(**{field: value})
        jobs.append(job.pk)

    assert _ids(admin_client.get(URL, {"sort": key})) == jobs
    assert _ids(admin_client.get(URL, {"sort": f"-{key}"})) == jobs[::-1]


@pytest.mark.parametrize(
    ("key", "make"),
    [
        ("queue", lambda name: {"queue": JobQueueFactory.create(name=name)}),
        (
            "jobtype",
            lambda name: {
                "jobtype_version": JobTypeVersionFactory.create(jobtype__name=name)
            },
        ),
        ("user", lambda name: {"user": UserFactory.create(username=name)}),
    ],
)
def test_a_related_column_sorts_by_name(
    admin_client: Client, key: str, make: Any
) -> None:
    jobs = [JobFactory.create(**make(name)).pk for name in ("alpha", "beta")]
    assert _ids(admin_client.get(URL, {"sort": key})) == jobs
    assert _ids(admin_client.get(URL, {"sort": f"-{key}"})) == jobs[::-1]


def test_an_unknown_sort_is_the_default_order(admin_client: Client) -> None:
    JobFactory.create_batch(2)
    default = _ids(admin_client.get(URL))
    assert _ids(admin_client.get(URL, {"sort": "password"})) == default


def test_the_sorted_column_links_to_the_other_direction(
    admin_client: Client,
) -> None:
    response = admin_client.get(URL, {"sort": "-priority", "state": "queued"})
    assert 'href="?state=queued&amp;sort=priority" class="sorted desc"' in (
        response.text
    )


# --- pages ------------------------------------------------------------------------


def test_a_page_has_fifty_jobs(admin_client: Client) -> None:
    JobFactory.create_batch(PAGE_SIZE + 2)

    first = admin_client.get(URL)
    second = admin_client.get(URL, {"page": 2})

    assert len(_ids(first)) == PAGE_SIZE
    assert len(_ids(second)) == 2
    assert not set(_ids(first)) & set(_ids(second))
    assert "Page 1 of 2 · 52 jobs" in first.text
    assert 'href="?page=2" rel="next"' in first.text


def test_the_page_links_keep_the_filters(admin_client: Client) -> None:
    JobFactory.create_batch(PAGE_SIZE + 1, state=WorkState.QUEUED)
    response = admin_client.get(URL, {"state": "queued", "sort": "title"})
    assert 'href="?state=queued&amp;sort=title&amp;page=2" rel="next"' in (
        response.text
    )


@pytest.mark.parametrize(("page", "expected"), [("x", 1), ("99", 2), ("-1", 2)])
def test_a_bad_page_number_shows_a_page(
    admin_client: Client, page: str, expected: int
) -> None:
    JobFactory.create_batch(PAGE_SIZE + 1)
    response = admin_client.get(URL, {"page": page})
    assert response.status_code == 200
    assert f"Page {expected} of 2" in response.text


# --- the refresh ------------------------------------------------------------------


def test_the_refresh_answers_the_rows_and_the_counts_only(
    admin_client: Client,
) -> None:
    job = JobFactory.create(state=WorkState.RUNNING)

    response = admin_client.get(URL, {"state": "running"}, HTTP_HX_REQUEST="true")

    assert response.text.lstrip().startswith('<tbody id="job-rows"')
    assert 'hx-get="/jobs/?state=running"' in response.text
    assert _ids(response) == [job.pk]
    assert '<ul id="state-counts" class="counts" hx-swap-oob="true"' in response.text
    assert "<html" not in response.text
    assert "bulk-controls" not in response.text


def test_the_refreshed_checkboxes_keep_their_ids(admin_client: Client) -> None:
    """The page's script checks the same boxes again after a refresh, by id."""
    job = JobFactory.create()
    response = admin_client.get(URL, HTTP_HX_REQUEST="true")
    assert f'id="select-job-{job.pk}"' in _checkbox(response, job)
    assert "farm/js/jobs.js" in admin_client.get(URL).text


# --- query counts -----------------------------------------------------------------


def _jobs_with_tasks(count: int, user: User | None = None) -> None:
    queue = JobQueueFactory.create()
    for _ in range(count):
        job = JobFactory.create(user=user, queue=queue, state=WorkState.RUNNING)
        job.tags.add(TagFactory.create())
        TaskFactory.create(job=job, done=True)
        TaskFactory.create(job=job, running=True)


# session, user, the user's roles (can they log in), counts per state, the
# page's job ids, those jobs, their tags, their tasks; then, on the full
# page, the filter form's queues, groups, job types and tags (twice: the
# select and the bulk bar's list of known tags) and the bulk bar's queues.
FULL_PAGE_QUERIES = 14
REFRESH_QUERIES = 8


@pytest.mark.parametrize("jobs", [3, 30])
def test_the_page_costs_the_same_queries_for_3_or_30_jobs(
    admin_client: Client, django_assert_num_queries: Any, jobs: int
) -> None:
    _jobs_with_tasks(jobs)
    with django_assert_num_queries(FULL_PAGE_QUERIES):
        response = admin_client.get(URL)
    assert len(_ids(response)) == jobs


@pytest.mark.parametrize("jobs", [3, 30])
def test_the_refresh_costs_the_same_queries_for_3_or_30_jobs(
    admin_client: Client, django_assert_num_queries: Any, jobs: int
) -> None:
    _jobs_with_tasks(jobs)
    with django_assert_num_queries(REFRESH_QUERIES):
        admin_client.get(URL, HTTP_HX_REQUEST="true")


@pytest.mark.parametrize("jobs", [3, 30])
def test_a_users_page_costs_the_same_queries_for_3_or_30_jobs(
    client: Client, owner: User, django_assert_num_queries: Any, jobs: int
) -> None:
    _jobs_with_tasks(jobs, user=owner)
    client.force_login(owner)
    # One more: the user's roles again (a farm admin or not).
    with django_assert_num_queries(FULL_PAGE_QUERIES + 1):
        client.get(URL, {"mine": "1"})
