"""The dashboard benchmark's farm builder, at a tiny size (benchmarks/dashboard.py).

Forty jobs: every state comes round (the state follows the job's number
modulo 20).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.db.models import Count
from django.urls import reverse

from benchmarks.dashboard import (
    BIG_JOB_TITLE,
    Farm,
    Size,
    build,
    existing_farm,
    measure_pages,
    pages,
    report,
)
from farm.models import Agent, AgentCount, Job, Task, TaskCount, TaskEventCount

if TYPE_CHECKING:
    from pytest_django.fixtures import SettingsWrapper

pytestmark = pytest.mark.django_db

TINY = Size(
    jobs=40,
    tasks=410,
    agents=5,
    big_job=20,
    log_mb=0.001,
    agent_count_samples=12,
    task_count_samples=6,
)


@pytest.fixture
def farm(settings: SettingsWrapper, tmp_path: Path) -> Farm:
    settings.PYFARM = {**settings.PYFARM, "tasklogs_dir": str(tmp_path)}
    return build(TINY)[0]


def test_builder_makes_the_jobs_and_the_big_job(farm: Farm) -> None:
    assert Job.objects.count() == TINY.jobs
    big = Job.objects.get(title=BIG_JOB_TITLE)
    assert big.tasks.count() == TINY.big_job


def test_builder_spreads_the_other_tasks_over_the_jobs(farm: Farm) -> None:
    per_job = (TINY.tasks - TINY.big_job) // (TINY.jobs - 1)
    counts = (
        Task.objects.exclude(job__title=BIG_JOB_TITLE)
        .values("job")
        .annotate(n=Count("*"))
        .values_list("n", flat=True)
    )
    assert set(counts) == {per_job}


def test_builder_gives_running_tasks_to_agents(farm: Farm) -> None:
    running = Task.objects.filter(state="running")
    assert running.exists()
    assert not running.filter(agent__isnull=True).exists()
    assert Agent.objects.count() == TINY.agents


def test_builder_makes_every_job_state(farm: Farm) -> None:
    states = set(Job.objects.values_list("state", flat=True))
    assert states == {"done", "failed", "queued", "paused", "running"}


def test_builder_fills_the_statistics(farm: Farm) -> None:
    assert AgentCount.objects.count() == TINY.agent_count_samples
    assert TaskCount.objects.exists()
    assert TaskEventCount.objects.exists()


def test_the_built_farm_is_found_again_for_reuse(farm: Farm) -> None:
    assert existing_farm() == farm


def test_every_measured_url_answers_on_the_tiny_farm(farm: Farm) -> None:
    urls = pages(farm)
    assert len(urls) == len(set(urls))
    results = measure_pages(farm, urls, warmup=0, repeat=1)
    assert [(r.url, r.status) for r in results if r.status != 200] == []


def test_measuring_reports_a_page_that_does_not_answer_200(farm: Farm) -> None:
    [missing, account] = measure_pages(
        farm, ["/no-such-page/", reverse("web:account")], warmup=0, repeat=2
    )
    assert missing.status == 404
    assert (account.status, account.queries > 0) == (200, True)
    assert report([missing, account]) is False


# --- benchmarks/original_ab.py: what runs without the original master ----------


WRK_REPORT = """Running 5s test @ http://127.0.0.1:1/api/v1/agents/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.23s   114.62ms   2.32s    75.00%
    Req/Sec     1.00      1.73     3.00     66.67%
  Latency Distribution
     50%  850.00us|
     75%    2.32s|
     90%    2.32s|
     99%    1.50m|
  40 requests in 5.00s, 5.68MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:      8.00
""".replace("|", " ")  # wrk ends the percentiles' lines with a space


def test_the_wrk_report_is_read() -> None:
    from benchmarks.original_ab import parse_wrk

    load = parse_wrk(WRK_REPORT)
    assert (load.requests, load.seconds, load.errors) == (40, 5.0, 7)
    assert (load.p50_ms, load.p99_ms) == (0.85, 90_000.0)
    assert load.rate == (40 - 7) / 5.0


def test_answers_compare_by_row_and_name_their_differences() -> None:
    from benchmarks.original_ab import compare_answers

    ours = [{"id": 1, "frame": 0.0, "tile": None, "state": "queued"}]
    original = [{"frame": 0.0, "id": 1, "state": "running"}]
    notes = compare_answers(ours, original, "frame")
    assert notes == [
        "keys only in ours: ['tile']; only in the original's: []",
        "state differs in 1 rows, e.g. ours 'queued', original 'running'",
    ]
    assert compare_answers(ours, ours, "id") == []


@pytest.mark.django_db
def test_the_bench_farm_answers_as_the_original_would(api_client) -> None:
    """Our agent list of the tiny bench farm has the rows the original lists."""
    from benchmarks.original_ab import compare_answers, farm_agents, fill_ours

    _, job_id = fill_ours(3, 5, migrate=False)

    agents = api_client.get("/api/v1/agents/").json()
    # The original's answer: its rows of the same agents (id, host, port, ip).
    original = [
        {key: row[key] for key in ("id", "hostname", "port", "remote_ip")}
        for row in farm_agents(3)
    ]
    assert compare_answers(agents, original, "id") == []
    tasks = api_client.get(f"/api/v1/jobs/{job_id}/tasks/").json()
    assert [task["frame"] for task in tasks] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert {task["time_submitted"] for task in tasks} == {"2026-01-02T03:04:05.678901Z"}


@pytest.mark.django_db
def test_our_lists_are_measured_in_process() -> None:
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from benchmarks.original_ab import cpu_in_process, fill_ours

    token, job_id = fill_ours(2, 3, migrate=False)
    # As Django's test client does: the test's transaction stays open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        for path in ("/api/v1/agents/", f"/api/v1/jobs/{job_id}/tasks/"):
            median, best, size = cpu_in_process(path, token, 2)
            assert median >= best >= 0
            assert size > 2
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
