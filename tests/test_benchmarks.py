"""Benchmarks at a tiny size, so that they cannot rot.

The dashboard benchmark's farm builder (benchmarks/dashboard.py): forty
jobs, every state comes round (the state follows the job's number modulo
20). The heartbeat A/B against a bare Django view (benchmarks/heartbeat_ab.py).
The tick benchmark (benchmarks/tick.py): a farm of four agents, ticks
publishing to the test's broker.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


# --- heartbeat_ab.py: the master's agent requests against a bare Django view ----

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:40123/api/v1
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.53ms  507.65us   9.28ms   80.46%
    Req/Sec     1.22k   124.69     1.47k    67.00%
  12150 requests in 5.00s, 2.99MB read
  Socket errors: connect 0, read 12150, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   2428.77
Transfer/sec:    612.32KB
"""


@pytest.fixture
def heartbeat_ab() -> Any:
    """The benchmark's module (it imports its neighbours by their own names)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("heartbeat_ab")


def test_heartbeat_ab_reads_wrks_counts(heartbeat_ab: Any) -> None:
    load = heartbeat_ab.parse_wrk(WRK_OUTPUT)
    # Read errors are the sync worker closing connections, not failures.
    assert (load.requests, load.failed, load.seconds) == (12150, 5, 5.0)
    assert load.rate == pytest.approx(2429)


def test_heartbeat_ab_wrk_script_posts_each_target_with_the_agents_headers(
    heartbeat_ab: Any,
) -> None:
    script = heartbeat_ab.wrk_script(
        "http://127.0.0.1:1/api/v1", [("/agents/a", '{"x": 1}'), ("/jobs/1", "{}")]
    )
    assert '"/api/v1/agents/a"' in script
    assert '"{\\"x\\": 1}"' in script
    assert 'wrk.headers["User-Agent"] = "PyFarm/1.0 (agent)"' in script
    assert 'wrk.headers["Content-Type"] = "application/json"' in script
    assert 'wrk.format("POST", paths[i], nil, bodies[i])' in script


def test_heartbeat_ab_serves_both_sides_with_the_same_gunicorn_options(
    heartbeat_ab: Any,
) -> None:
    master = heartbeat_ab.heartbeat.gunicorn_command(
        "127.0.0.1:1", 2, "pyfarm_site.wsgi:application", "sync"
    )
    bare = heartbeat_ab.heartbeat.gunicorn_command(
        "127.0.0.1:1", 2, "bare_wsgi:application", "sync"
    )
    assert master[master.index("--worker-class") + 1] == "sync"
    assert "--threads" not in master
    assert [arg for arg in master if arg != "pyfarm_site.wsgi:application"] == [
        arg for arg in bare if arg != "bare_wsgi:application"
    ]


@pytest.mark.parametrize("load", ["python", "wrk"])
def test_heartbeat_ab_runs_on_a_tiny_farm(tmp_path: Path, load: str) -> None:
    if load == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")
    env = {
        **os.environ,
        "PYFARM_DATABASE_URI": f"sqlite:///{tmp_path}/ab.sqlite",
        "PYFARM_SCHEDULER_BROKER_DIR": str(tmp_path / "broker"),
    }
    command = [sys.executable, str(BENCHMARKS / "heartbeat_ab.py"), "--farm", "tiny"]
    options = ["--rounds", "1", "--seconds", "1", "--clients", "2", "--load", load]
    result = subprocess.run(
        [*command, *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert f"load: {load}, 2 connections; gunicorn: 2 sync workers each" in out
    assert out.count("all rounds: master ") == 2
    assert "failed" not in out


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
