"""Benchmarks at a tiny size, so that they cannot rot.

The dashboard benchmark's farm builder (benchmarks/dashboard.py): forty
jobs, every state comes round (the state follows the job's number modulo
20). The heartbeat A/B against a bare Django view (benchmarks/heartbeat_ab.py).
The tick benchmark (benchmarks/tick.py): a farm of four agents, ticks
publishing to the test's broker. The A/B against the original master
(benchmarks/original_ab.py): the parts that run without the original.
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
    # The read error is the sync worker closing the connection, not a failure.
    assert (load.requests, load.seconds, load.errors) == (40, 5.0, 6)
    assert (load.p50_ms, load.p99_ms) == (0.85, 90_000.0)
    assert load.rate == (40 - 6) / 5.0


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
