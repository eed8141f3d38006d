"""The Celery app: its configuration, the embedded broker, and real round trips.

The round trips start a real worker process (``celery -A pyfarm_site worker``)
and send it a task with ``celery call``, through the embedded filesystem
broker and, when ``PYFARM_TEST_REDIS_URL`` names a Redis server (``make test``
starts one), through Redis too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from pyfarm_site.celery import app, prepare_broker
from pyfarm_site.config import BASE_DIR, load_config

REDIS_URL = os.environ.get("PYFARM_TEST_REDIS_URL", "")

BROKERS = [
    pytest.param(
        "filesystem://",
        # Say so when only the embedded broker is tried.
        id="filesystem" if REDIS_URL else "filesystem-only-PYFARM_TEST_REDIS_URL-unset",
    )
]
if REDIS_URL:
    BROKERS.append(pytest.param(REDIS_URL, id="redis"))

TIMEOUT = 60.0


# --- Configuration -----------------------------------------------------------------


def test_the_app_speaks_json_only() -> None:
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert app.conf.accept_content == ["json"]


def test_tasks_are_acknowledged_late_one_at_a_time_without_results() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_ignore_result is True


def test_the_app_runs_on_utc_with_the_database_scheduler() -> None:
    assert app.conf.timezone == "UTC"
    assert app.conf.enable_utc is True
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    # The database owns the schedule: nothing is fed to beat from the code.
    assert not app.conf.beat_schedule


def test_the_broker_comes_from_the_configuration() -> None:
    assert app.conf.broker_url == settings.PYFARM["scheduler_broker"]


def test_the_default_broker_is_embedded_under_the_temporary_directory() -> None:
    config = load_config(environ={})
    assert config["scheduler_broker"] == "filesystem://"
    assert config["scheduler_broker_dir"].endswith("pyfarm-broker")


def test_the_broker_and_its_folder_can_be_overridden() -> None:
    config = load_config(
        environ={
            "PYFARM_SCHEDULER_BROKER": "redis://127.0.0.1:6379/0",
            "PYFARM_SCHEDULER_BROKER_DIR": "/srv/pyfarm/broker",
        }
    )
    assert config["scheduler_broker"] == "redis://127.0.0.1:6379/0"
    assert config["scheduler_broker_dir"] == "/srv/pyfarm/broker"


def _celery_settings(tmp_path: Path, broker: str) -> dict[str, object]:
    """The app's broker settings in a fresh process configured with ``broker``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pyfarm_site.settings",
        "PYFARM_SCHEDULER_BROKER": broker,
        "PYFARM_SCHEDULER_BROKER_DIR": str(tmp_path / "broker"),
    }
    script = (
        "import json; from pyfarm_site.celery import app; "
        "print(json.dumps({'url': app.conf.broker_url, "
        "'options': app.conf.broker_transport_options}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    return json.loads(result.stdout)


def test_the_filesystem_broker_shares_one_folder_it_creates(tmp_path: Path) -> None:
    conf = _celery_settings(tmp_path, "filesystem://")
    options = conf["options"]
    assert isinstance(options, dict)
    folder = tmp_path / "broker"
    assert options["data_folder_in"] == options["data_folder_out"]
    assert Path(options["data_folder_in"]) == folder / "queue"
    assert Path(options["control_folder"]) == folder / "control"
    assert (folder / "queue").is_dir()
    assert (folder / "control").is_dir()


def test_redis_needs_no_folders(tmp_path: Path) -> None:
    conf = _celery_settings(tmp_path, "redis://127.0.0.1:6379/0")
    assert conf["url"] == "redis://127.0.0.1:6379/0"
    assert not (tmp_path / "broker").exists()


def test_a_hung_redis_broker_fails_calls_within_a_second(tmp_path: Path) -> None:
    options = _celery_settings(tmp_path, "redis://127.0.0.1:6379/0")["options"]
    assert isinstance(options, dict)
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 1.0
    # A frozen server's BRPOP connection is dropped (and the worker
    # reconnects) after brpop_timeout (1 s) + this.
    assert options["health_check_interval"] == 2


def test_preparing_the_filesystem_broker_creates_its_folders(tmp_path: Path) -> None:
    options = {
        "data_folder_in": str(tmp_path / "in"),
        "data_folder_out": str(tmp_path / "out"),
        "control_folder": str(tmp_path / "control"),
    }
    prepare_broker("filesystem://", options)
    prepare_broker("filesystem://", options)  # idempotent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["control", "in", "out"]


def test_preparing_another_broker_creates_nothing(tmp_path: Path) -> None:
    prepare_broker("redis://127.0.0.1:6379/0", {"data_folder_in": str(tmp_path / "x")})
    assert list(tmp_path.iterdir()) == []


# --- Round trips through a real worker ----------------------------------------------


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=5).ping())
    except redis.RedisError:
        return False


def _wait_for_text(path: Path, text: str, *, process: subprocess.Popen[bytes]) -> None:
    """Wait until ``path`` contains ``text``, failing if ``process`` dies first."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear in {path} within {TIMEOUT}s")


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@pytest.mark.slow
@pytest.mark.parametrize("broker", BROKERS)
def test_a_worker_runs_a_task_sent_through_the_broker(
    broker: str, tmp_path: Path
) -> None:
    if broker.startswith("redis") and not _redis_answers(broker):
        pytest.fail(f"PYFARM_TEST_REDIS_URL is set but {broker} does not answer")
    # A queue of its own: a shared Redis may have other workers and messages.
    queue = f"pyfarm-test-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pyfarm_site.settings",
        "PYFARM_SCHEDULER_BROKER": broker,
        "PYFARM_SCHEDULER_BROKER_DIR": str(tmp_path / "broker"),
    }
    celery = [sys.executable, "-m", "celery", "-A", "pyfarm_site"]
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--include",
                "scheduling.tests.celery_tasks",
                "--queues",
                queue,
                "--hostname",
                f"{queue}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_text(log, " ready.", process=worker)
        result = tmp_path / "pong.txt"
        token = uuid.uuid4().hex
        subprocess.run(
            [
                *celery,
                "call",
                "scheduling.tests.ping",
                "--args",
                json.dumps([str(result), token]),
                "--queue",
                queue,
            ],
            cwd=BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
        )
        _wait_for_text(result, token, process=worker)
        _wait_for_text(log, "succeeded", process=worker)
    finally:
        code = _stop(worker)
    assert code == 0, log.read_text(errors="replace")
    if broker.startswith("filesystem:"):
        # The message went through the folder of this test, and was consumed.
        assert (tmp_path / "broker" / "queue").is_dir()
        assert not list((tmp_path / "broker" / "queue").iterdir())


@pytest.mark.slow
def test_unreadable_message_files_do_not_stop_the_worker(tmp_path: Path) -> None:
    """An empty and a half-written message file (what kombu's own transport
    let a worker read, and die of) are skipped, then moved to the bad folder;
    the worker keeps running and a task sent afterwards runs."""
    queue = f"pyfarm-test-{uuid.uuid4().hex}"
    broker_dir = tmp_path / "broker"
    queue_dir = broker_dir / "queue"
    queue_dir.mkdir(parents=True)
    empty = queue_dir / f"1_{uuid.uuid4()}.{queue}.msg"
    empty.touch()
    half = queue_dir / f"2_{uuid.uuid4()}.{queue}.msg"
    half.write_text('{"body": "eyJ0YXNrIjog", "content-type": "application/js')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pyfarm_site.settings",
        "PYFARM_SCHEDULER_BROKER": "filesystem://",
        "PYFARM_SCHEDULER_BROKER_DIR": str(broker_dir),
    }
    celery = [sys.executable, "-m", "celery", "-A", "pyfarm_site"]
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--include",
                "scheduling.tests.celery_tasks",
                "--queues",
                queue,
                "--hostname",
                f"{queue}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_text(log, " ready.", process=worker)
        # One more, once the worker polls the folder.
        late = queue_dir / f"3_{uuid.uuid4()}.{queue}.msg"
        late.touch()
        result = tmp_path / "pong.txt"
        token = uuid.uuid4().hex
        subprocess.run(
            [
                *celery,
                "call",
                "scheduling.tests.ping",
                "--args",
                json.dumps([str(result), token]),
                "--queue",
                queue,
            ],
            cwd=BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
        )
        _wait_for_text(result, token, process=worker)
        for path in (empty, half, late):
            _wait_for_text(
                log, f"moved it to {broker_dir}/bad/{path.name}", process=worker
            )
        assert worker.poll() is None
    finally:
        code = _stop(worker)
    output_text = log.read_text(errors="replace")
    assert code == 0, output_text
    assert "Unrecoverable error" not in output_text
    assert sorted(p.name for p in (broker_dir / "bad").iterdir()) == sorted(
        p.name for p in (empty, half, late)
    )
    assert not list(queue_dir.iterdir())
