"""The statistics page: filters, charts aggregated in SQL, current totals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import time_machine
from django.urls import reverse

from accounts.tests.factories import UserFactory
from farm.models import AgentCount, JobQueue, TaskCount, TaskEventCount
from farm.tests.factories import JobQueueFactory
from farm.web.queries_statistics import MAX_BUCKETS, choose_window

if TYPE_CHECKING:
    from django.test import Client
    from pytest_django.fixtures import DjangoAssertNumQueries

pytestmark = pytest.mark.django_db

URL = reverse("web:statistics")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_time() -> Any:
    """Ranges are relative to now: keep now still."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _chart(response: Any, name: str) -> dict[str, Any]:
    return response.context["charts"][name]


def _points(response: Any, name: str, key: str) -> list[list[float]]:
    for series in _chart(response, name)["series"]:
        if series["key"] == key:
            return [list(point) for point in series["points"]]
    raise KeyError(key)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _agents(minutes_ago: int, **counts: int) -> AgentCount:
    return AgentCount.objects.create(
        counted_time=NOW - timedelta(minutes=minutes_ago), **counts
    )


# --- access -------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_log_in(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("admin", [True, False])
def test_every_user_sees_the_statistics(client: Client, admin: bool) -> None:
    """Farm admins and other users alike."""
    client.force_login(UserFactory.create(admin=admin))
    response = client.get(URL)
    assert response.status_code == 200
    assert "vendor/chartjs/chart.umd.min.js" in response.content.decode()


# --- empty --------------------------------------------------------------------


def test_no_data_is_a_note_per_chart(admin_client: Client) -> None:
    """Without rows: "no data yet" three times, no canvas, no totals."""
    page = admin_client.get(URL).content.decode()
    assert page.count("No data yet for this range") == 3
    assert "<canvas" not in page
    assert "No agents counted yet." in page
    assert "No tasks counted yet." in page


# --- charts -------------------------------------------------------------------


def test_agent_chart_averages_the_samples_of_a_bucket(admin_client: Client) -> None:
    """Two samples in one five-minute bucket of the last day: their average."""
    _agents(61, num_online=2, num_running=4)
    _agents(62, num_online=4, num_running=8)
    response = admin_client.get(URL)
    chart = _chart(response, "agents")
    assert chart["bucket_seconds"] == 300
    assert not chart["empty"]
    bucket_start = _ms(NOW - timedelta(minutes=65))
    assert _points(response, "agents", "online") == [[bucket_start, 3.0]]
    assert _points(response, "agents", "running") == [[bucket_start, 6.0]]
    island = '<script id="chart-agents-data" type="application/json">'
    assert island in response.content.decode()
    assert "one point per 5 minutes" in response.content.decode()


def test_rows_outside_the_range_are_left_out(admin_client: Client) -> None:
    """The last hour leaves out a sample of two hours ago."""
    _agents(120, num_online=9)
    _agents(30, num_online=1)
    response = admin_client.get(URL, {"range": "1h"})
    assert [point[1] for point in _points(response, "agents", "online")] == [1.0]


def test_task_events_are_summed_per_bucket_and_queue(admin_client: Client) -> None:
    """Events of a queue summed; the queue selector keeps the other queue out."""
    render, comp = JobQueueFactory.create(), JobQueueFactory.create()
    for queue, done in ((render, 3), (render, 4), (comp, 100)):
        TaskEventCount.objects.create(
            time_start=NOW - timedelta(minutes=30),
            time_end=NOW - timedelta(minutes=15),
            job_queue=queue,
            num_done=done,
            num_new=1,
        )
    everything = admin_client.get(URL)
    assert [p[1] for p in _points(everything, "events", "done")] == [107.0]
    one_queue = admin_client.get(URL, {"queue": render.pk})
    assert [p[1] for p in _points(one_queue, "events", "done")] == [7.0]
    assert [p[1] for p in _points(one_queue, "events", "new")] == [2.0]


def test_task_counts_sum_queues_and_average_samples(admin_client: Client) -> None:
    """Per sample the queues add up; per bucket the samples average."""
    render = JobQueueFactory.create()
    for minutes_ago, queued in ((31, 10), (32, 20)):
        at = NOW - timedelta(minutes=minutes_ago)
        TaskCount.objects.create(counted_time=at, job_queue=render, total_queued=queued)
        TaskCount.objects.create(counted_time=at, job_queue=None, total_queued=1)
    response = admin_client.get(URL)
    assert [p[1] for p in _points(response, "tasks", "queued")] == [16.0]
    response = admin_client.get(URL, {"queue": "none"})
    assert [p[1] for p in _points(response, "tasks", "queued")] == [1.0]


def test_a_queue_without_a_row_counts_as_zero(admin_client: Client) -> None:
    """At a sample without the queue's row, the queue had no tasks."""
    render = JobQueueFactory.create()
    first, second = NOW - timedelta(minutes=31), NOW - timedelta(minutes=32)
    TaskCount.objects.create(counted_time=first, job_queue=render, total_running=8)
    TaskCount.objects.create(counted_time=first, job_queue=None)
    TaskCount.objects.create(counted_time=second, job_queue=None)
    response = admin_client.get(URL, {"queue": render.pk})
    assert [p[1] for p in _points(response, "tasks", "running")] == [4.0]


def test_a_month_of_samples_stays_within_the_bucket_limit(
    admin_client: Client,
) -> None:
    """Samples every 10 minutes for a month: at most MAX_BUCKETS points."""
    AgentCount.objects.bulk_create(
        AgentCount(counted_time=NOW - timedelta(minutes=10 * n), num_online=n % 7)
        for n in range(1, 30 * 144)
    )
    response = admin_client.get(URL, {"range": "1m"})
    points = _points(response, "agents", "online")
    assert 200 < len(points) <= MAX_BUCKETS


def test_custom_range_from_the_query_string(admin_client: Client) -> None:
    """``range=custom&start=…&end=…`` charts exactly that period."""
    _agents(60 * 24 * 3, num_online=5)
    _agents(30, num_online=1)
    response = admin_client.get(
        URL,
        {"range": "custom", "start": "2026-11-27T00:00", "end": "2026-11-28T00:00"},
    )
    assert response.status_code == 200
    assert [p[1] for p in _points(response, "agents", "online")] == [5.0]
    chart = _chart(response, "agents")
    assert chart["from"] == _ms(datetime(2026, 11, 27, tzinfo=UTC))
    assert chart["to"] == _ms(datetime(2026, 11, 28, tzinfo=UTC))


@pytest.mark.parametrize(
    "query",
    [
        {"range": "forever"},
        {"range": "custom"},
        {"range": "custom", "start": "yesterday", "end": "2026-11-28T00:00"},
        {"range": "custom", "start": "2026-11-28T00:00", "end": "2026-11-27T00:00"},
        {"range": "custom", "start": "0001-01-01T00:00", "end": "2026-11-27T00:00"},
        {"range": "custom", "start": "2026-13-45T99:99", "end": "2026-11-27T00:00"},
        {"start": "2026-11-28T00:00"},
        {"queue": "12345"},
        {"queue": "x" * 500},
    ],
)
def test_bad_filters_show_a_message_and_the_last_day(
    admin_client: Client, query: dict[str, str]
) -> None:
    """Bad ranges, dates or queues: a message, the last day's charts, no 500."""
    response = admin_client.get(URL, query)
    assert response.status_code == 200
    assert "These filters are not valid" in response.content.decode()
    chart = _chart(response, "agents")
    assert chart["to"] - chart["from"] == 24 * 3600 * 1000


def test_current_totals_come_from_the_latest_rows(admin_client: Client) -> None:
    """Agents from the latest sample; tasks summed over the latest sample's queues."""
    _agents(90, num_online=50)
    _agents(5, num_online=3, num_running=2, num_offline=1, num_disabled=4)
    render = JobQueueFactory.create()
    old, new = NOW - timedelta(minutes=40), NOW - timedelta(minutes=10)
    TaskCount.objects.create(counted_time=old, job_queue=render, total_done=1000)
    TaskCount.objects.create(counted_time=new, job_queue=render, total_done=7)
    TaskCount.objects.create(counted_time=new, job_queue=None, total_done=3)
    totals = admin_client.get(URL).context["totals"]
    assert totals.agents == {"online": 3, "running": 2, "offline": 1, "disabled": 4}
    assert totals.tasks == {"queued": 0, "running": 0, "done": 10, "failed": 0}
    assert totals.tasks_at == new


def test_page_answers_in_a_constant_number_of_queries(
    admin_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """Session, user, roles, queues, three charts, two totals: nine queries."""
    queues = JobQueueFactory.create_batch(5)
    for n in range(200):
        at = NOW - timedelta(minutes=5 * n + 1)
        _agents(5 * n + 1, num_online=n)
        for queue in [*queues, None]:
            TaskCount.objects.create(counted_time=at, job_queue=queue, total_queued=n)
            TaskEventCount.objects.create(
                time_start=at, time_end=at + timedelta(minutes=5), job_queue=queue
            )
    with django_assert_num_queries(9):
        response = admin_client.get(URL, {"range": "1w"})
    assert response.status_code == 200
    assert JobQueue.objects.count() == 5


def test_chart_data_is_a_json_island(admin_client: Client) -> None:
    """The page carries each chart's data in a ``json_script`` island."""
    _agents(10, num_online=2)
    page = admin_client.get(URL).content.decode()
    start = page.index('<script id="chart-agents-data" type="application/json">')
    body = page[start:].split(">", 1)[1].split("</script>", 1)[0]
    data = json.loads(body)
    assert data["series"][0]["key"] == "online"
    assert data["series"][0]["points"][0][1] == 2.0


# --- buckets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "width"),
    [
        (timedelta(hours=1), 60),
        (timedelta(hours=6), 120),
        (timedelta(days=1), 300),
        (timedelta(weeks=1), 3600),
        (timedelta(days=30), 10800),
        (timedelta(days=3650), 13 * 86400),
    ],
)
def test_bucket_width_keeps_charts_within_the_limit(
    span: timedelta, width: int
) -> None:
    """The finest round width that keeps a range within MAX_BUCKETS."""
    window = choose_window(NOW - span, NOW)
    assert window.width == width
    assert span.total_seconds() / window.width + 1 <= MAX_BUCKETS
