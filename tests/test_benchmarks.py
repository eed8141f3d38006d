"""The benchmarks at a tiny size, so that they cannot rot.

The dashboard benchmark's farm builder (benchmarks/dashboard.py): forty
jobs, every state comes round (the state follows the job's number modulo
20). The tick benchmark (benchmarks/tick.py): a farm of four agents, ticks
publishing to the test's broker.
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


# --- benchmarks/tick.py ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the messages are published on commit
@pytest.mark.parametrize("publish", [True, False])
def test_the_tick_benchmark_times_each_phase_and_counts_messages(
    publish: bool,
) -> None:
    from benchmarks import tick

    tick.build(4, 2, 5, 2, analyze=False, migrate=False)

    measurements = tick.measure(2, publish=publish)
    lines = tick.report("tiny", measurements, "a broker")

    assert [m.assignments for m in measurements] == [4, 4]
    assert [m.messages for m in measurements] == [1, 1]  # one chunk, one message
    # The snapshot (11), the tasks handed out (1), one chunk (4 in a test).
    assert [m.statements for m in measurements] == [16, 16]
    assert all(m.publish_ms >= 0 and m.total_ms > 0 for m in measurements)
    assert lines[0] == (
        "tiny: 4 idle agents, 2 jobs, 10 runnable tasks, 4 assignments per tick;"
        " a broker"
    )
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "load",
        "plan",
        "apply",
        "publish",
        "total",
        "cpu",
        "SQL statements per tick",
        "messages per tick",
    ]
    assert not Task.objects.filter(agent__isnull=False).exists()  # undone
