"""Fault injection: the master recovers by itself, and nothing runs twice.

Run by ``make faults`` (and CI), not by the plain suite: the master runs as
operators run it (``runmaster``: gunicorn, a Celery worker and beat) on a
throwaway PostgreSQL and a Redis server of its own, with three stand-in
agents (`harness.StandInAgent`); the periodic tick is set to 10 minutes so
that it cannot hide a stall. Then, one after the other:

1. the broker (Redis) is stopped for 15 s and started again, empty: requests
   still answer at once, the log stays short, and the next assignment comes
   within seconds of its return;
2. Redis is frozen (SIGSTOP) for 12 s: every request answers within about
   two seconds, a job submitted meanwhile exists once, and work resumes
   after the thaw;
3. PostgreSQL is stopped for 10 s: the API answers 503 with ``Retry-After``
   and no traceback is logged, and work resumes once it is back.

After each, every job finishes with every task sent to an agent once. The
figures (recovery time, longest request, log lines) are printed (``-s``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.faults.harness import FaultFarm, fault_farm

#: Seconds to wait for a job to finish once the fault is over.
FINISH = 120.0
#: The longest a request may take while Redis is frozen, in seconds.
FROZEN_REQUEST_LIMIT = 2.5
#: The longest from the broker's return to the next assignment, in seconds.
RESUME_LIMIT = 10.0


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultFarm]:
    """The master on PostgreSQL and Redis, three stand-in agents."""
    with fault_farm(tmp_path_factory.mktemp("faults")) as farm:
        farm.add_agents(3, seconds=1.0)
        yield farm


def _finish(farm: FaultFarm, *job_ids: int) -> None:
    """Every job done, and no task sent to an agent twice."""
    farm.wait_for(
        f"jobs {job_ids} done",
        lambda: all(farm.job_state(job_id) == "done" for job_id in job_ids),
        FINISH,
    )
    sent = farm.sent_task_ids()
    assert len(sent) == len(set(sent)), "a task was sent twice"
    for job_id in job_ids:
        tasks = farm.call("GET", f"/jobs/{job_id}/tasks/").json()
        assert {task["attempts"] for task in tasks} == {1}, tasks


def _figure(name: str, value: str) -> None:
    print(f"\n[fault figures] {name}: {value}")  # noqa: T201 -- the run's report


def _assigned(farm: FaultFarm, job_id: int) -> bool:
    return any(a.job_id == job_id for a in farm.assignments())


def test_work_resumes_within_seconds_after_the_broker_returns(farm: FaultFarm) -> None:
    job = farm.submit("before the broker outage", 12)
    farm.wait_for("the job to start", lambda: _assigned(farm, job), 60)
    offset = farm.log_size()
    stopped = time.monotonic()
    farm.redis.stop()

    time.sleep(2)
    submitted = time.monotonic()
    during = farm.submit("during the broker outage", 3)
    submit_seconds = time.monotonic() - submitted
    answer = farm.session.get(farm.base + "/health/", timeout=10)
    time.sleep(max(0.0, 15 - (time.monotonic() - stopped)))
    outage = time.monotonic() - stopped
    log = farm.log_since(offset)

    farm.redis.start()
    back = time.monotonic()
    farm.wait_for(
        "an assignment after the broker's return",
        lambda: any(a.at > back for a in farm.assignments()),
        60,
    )
    resumed = min(a.at for a in farm.assignments() if a.at > back) - back
    lines = log.count("\n")
    _figure("broker back -> next assignment", f"{resumed:.1f} s")
    _figure(
        "log during the broker outage",
        f"{lines} lines in {outage:.0f} s ({lines / outage * 60:.0f}/min), "
        f"{log.count('Traceback')} tracebacks",
    )

    assert resumed < RESUME_LIMIT
    assert submit_seconds < FROZEN_REQUEST_LIMIT
    assert answer.status_code == 503
    assert answer.json()["checks"]["broker"] == {"ok": False, "detail": "unreachable"}
    assert "Traceback" not in log, log
    assert lines < 60, log
    _finish(farm, job, during)


def test_requests_answer_within_two_seconds_while_redis_is_frozen(
    farm: FaultFarm,
) -> None:
    job = farm.submit("before the freeze", 9)
    farm.wait_for("the job to start", lambda: _assigned(farm, job), 60)
    frozen = time.monotonic()
    farm.redis.freeze()
    try:
        time.sleep(1)
        submitted = time.monotonic()
        response = farm.call("POST", "/jobs/", _job_body("during the freeze"))
        submit_seconds = time.monotonic() - submitted
        checked = time.monotonic()
        answer = farm.session.get(farm.base + "/health/", timeout=30)
        health_seconds = time.monotonic() - checked
        time.sleep(max(0.0, 12 - (time.monotonic() - frozen)))
    finally:
        farm.redis.thaw()
    reports = [
        seconds
        for agent in farm.agents
        for started, seconds, _ in agent.report_times
        if started >= frozen
    ]
    longest = max([submit_seconds, *reports])
    _figure(
        "longest request while Redis is frozen",
        f"{longest:.1f} s (job submission {submit_seconds:.1f} s, "
        f"{len(reports)} agent reports, /health/ {health_seconds:.1f} s)",
    )

    assert response.status_code == 201, response.text
    assert longest < FROZEN_REQUEST_LIMIT
    assert health_seconds < 2 * FROZEN_REQUEST_LIMIT
    assert answer.status_code == 503
    titles = [j["title"] for j in farm.call("GET", "/jobs/").json()]
    assert titles.count("during the freeze") == 1
    _finish(farm, job, int(response.json()["id"]))


def test_a_database_restart_answers_503_then_every_job_finishes(
    farm: FaultFarm,
) -> None:
    job = farm.submit("before the database restart", 9)
    farm.wait_for("the job to start", lambda: _assigned(farm, job), 60)
    offset = farm.log_size()
    farm.postgres.stop()
    try:
        time.sleep(1)
        api = farm.call("GET", "/jobs/", timeout=10)
        answer = farm.session.get(farm.base + "/health/", timeout=10)
        time.sleep(9)
    finally:
        farm.postgres.start()
    log = farm.log_since(offset)
    _figure(
        "log during the database outage",
        f"{log.count(chr(10))} lines, {log.count('Traceback')} tracebacks",
    )

    assert api.status_code == 503
    assert api.headers["Retry-After"] == "5"
    assert api.json() == {"error": "database unavailable, try again shortly"}
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == {
        "ok": False,
        "detail": "unreachable",
    }
    assert "Traceback" not in log, log
    _finish(farm, job)


def _job_body(title: str) -> dict[str, object]:
    return {
        "jobtype": "FaultShell",
        "title": title,
        "start": 1,
        "end": 3,
        "batch": 1,
        "cpus": 1,
        "ram": 16,
        "requeue": 0,
    }
