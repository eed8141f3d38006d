"""Email notifications: claimed once per job end, rendered, sent over SMTP.

The mails go to a real SMTP server on 127.0.0.1 (aiosmtpd, in a thread of the
test run); the rendering alone is checked with Django's locmem backend.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from email.message import EmailMessage
from typing import Any
from unittest import mock

import pytest
from aiosmtpd.controller import Controller
from django.core import mail as django_mail
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import Job, JobNotifiedUser, Task
from farm.services import (
    alter_frame_range,
    create_job,
    refresh_job_states,
    rerun_jobs,
)
from farm.services.jobs import _claim_completion_mails
from farm.services.notifications import completion_mail, deletion_mails, job_url
from farm.services.tasks import update_task
from farm.signals import jobs_ended
from farm.tests.factories import JobTypeVersionFactory
from scheduling import maintenance, notifications
from scheduling.tasks.notifications import (
    MAIL_ERRORS,
    MAX_RETRIES,
    send_job_completion_mail,
    send_job_mail,
)

pytestmark = pytest.mark.django_db


# --- a real SMTP server -------------------------------------------------------


class _Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(settings: Any, farm_config: Any) -> Iterator[_Inbox]:
    """An SMTP server on a free port of 127.0.0.1; the settings point at it."""
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_TIMEOUT = 5
    farm_config(
        smtp_server="127.0.0.1",
        from_email="farm@example.com",
        base_url="http://farm.example.com:5000/",
    )
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def queued() -> Iterator[mock.Mock]:
    """The completion mail's queueing, run in this process instead of a worker."""
    with mock.patch.object(
        send_job_completion_mail,
        "apply_async",
        side_effect=lambda args: send_job_completion_mail.apply(args=args),
    ) as patched:
        yield patched


# --- helpers ------------------------------------------------------------------


def _job(
    frames: int = 2, name: str = "Render", requeue: int = 3, **jobtype: Any
) -> Job:
    version = JobTypeVersionFactory.create(jobtype__name=name, **jobtype)
    return create_job(
        jobtype_version=version,
        title="Shot 10",
        start=1,
        end=frames,
        user=None,
        requeue=requeue,
    )


def _notify(job: Job, username: str, **flags: bool) -> None:
    user = UserFactory.create(username=username, email=f"{username}@example.com")
    JobNotifiedUser.objects.create(job=job, user=user, **flags)


def _tasks(job: Job) -> list[Task]:
    return list(Task.objects.filter(job=job).order_by("frame"))


def _end(job: Job, *states: str) -> None:
    for task, state in zip(_tasks(job), states, strict=True):
        update_task(task=task, state=state)


# --- completion mails over SMTP -----------------------------------------------


def test_a_done_job_mails_the_users_notified_on_success(
    smtp: _Inbox, queued: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job()
    _notify(job, "alice", on_success=True)
    _notify(job, "bob", on_success=False)
    with django_capture_on_commit_callbacks(execute=True):
        _end(job, "done", "done")
    ((to, message),) = smtp.messages
    assert to == ["alice@example.com"]
    assert message["Subject"] == "Job Shot 10 completed successfully"
    assert message["From"] == "farm@example.com"
    body = message.get_content()
    assert f"Render job Shot 10 (id {job.pk})" in body
    assert f"http://farm.example.com:5000/jobs/{job.pk}/" in body


def test_a_failed_job_mails_the_users_notified_on_failure_with_log_links(
    smtp: _Inbox, queued: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job(requeue=0)
    _notify(job, "alice", on_failure=True)
    _notify(job, "bob", on_failure=False)
    failed = _tasks(job)[1]
    with django_capture_on_commit_callbacks(execute=True):
        _end(job, "done", "failed")
    ((to, message),) = smtp.messages
    assert to == ["alice@example.com"]
    assert message["Subject"] == "Job Shot 10 failed"
    body = message.get_content()
    assert f"http://farm.example.com:5000/jobs/{job.pk}/" in body
    assert f"http://farm.example.com:5000/tasks/{failed.pk}/logs/" in body
    assert f"/tasks/{_tasks(job)[0].pk}/logs/" not in body


def test_the_job_types_own_texts_replace_the_configured_ones(
    smtp: _Inbox, queued: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job(
        jobtype__success_subject="{{ jobtype_name }}: {{ job.title }} & done",
        jobtype__success_body="See <{{ job.url }}>",
    )
    _notify(job, "alice")
    with django_capture_on_commit_callbacks(execute=True):
        _end(job, "done", "done")
    ((_, message),) = smtp.messages
    assert message["Subject"] == "Render: Shot 10 & done"
    assert message.get_content().strip() == (
        f"See <http://farm.example.com:5000/jobs/{job.pk}/>"
    )


def test_a_deleted_job_mails_the_users_notified_on_deletion(
    smtp: _Inbox, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job()
    _notify(job, "alice", on_deletion=True)
    _notify(job, "bob", on_deletion=False)
    Job.objects.filter(pk=job.pk).mark_for_deletion()
    with (
        mock.patch.object(
            send_job_mail,
            "apply_async",
            side_effect=lambda args: send_job_mail.apply(args=args),
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert maintenance.delete_jobs() == 1
    assert not Job.objects.filter(pk=job.pk).exists()
    ((to, message),) = smtp.messages
    assert to == ["alice@example.com"]
    assert message["Subject"] == "Job Shot 10 deleted"
    assert f"Render job Shot 10 (id {job.pk})" in message.get_content()


def test_a_job_with_nobody_to_tell_sends_nothing(
    smtp: _Inbox, queued: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job()
    with django_capture_on_commit_callbacks(execute=True):
        _end(job, "done", "done")
    assert queued.called
    assert smtp.messages == []


# --- exactly one mail per job end ---------------------------------------------


def test_the_completion_mail_is_claimed_once(
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = _job()
    Job.objects.filter(pk=job.pk).update(state=WorkState.DONE)
    received = mock.Mock()
    jobs_ended.connect(received, dispatch_uid="test")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _claim_completion_mails([job.pk])
            _claim_completion_mails([job.pk])
    finally:
        jobs_ended.disconnect(dispatch_uid="test")
    assert received.call_count == 1
    assert received.call_args.kwargs["job_ids"] == [job.pk]


def test_a_second_refresh_of_an_ended_job_sends_no_second_mail(
    queued: mock.Mock, farm_config: Any, django_capture_on_commit_callbacks: Any
) -> None:
    farm_config(smtp_server="127.0.0.1")
    job = _job()
    with django_capture_on_commit_callbacks(execute=True):
        _end(job, "done", "done")
        refresh_job_states(job_ids=[job.pk])
    assert queued.call_count == 1


def test_a_rerun_job_that_ends_again_mails_again(
    smtp: _Inbox, queued: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job(requeue=0)
    _notify(job, "alice")
    with django_capture_on_commit_callbacks(execute=True):
        _end(job, "done", "failed")
    rerun_jobs(jobs=Job.objects.filter(pk=job.pk), failed_only=True)
    with django_capture_on_commit_callbacks(execute=True):
        update_task(task=_tasks(job)[1], state="done")
    subjects = [message["Subject"] for _, message in smtp.messages]
    assert subjects == ["Job Shot 10 failed", "Job Shot 10 completed successfully"]


def test_a_job_that_goes_back_to_work_can_notify_again() -> None:
    job = _job()
    _end(job, "done", "done")
    job.refresh_from_db()
    assert job.completion_notify_sent
    alter_frame_range(job=job, start=Decimal(1), end=Decimal(3), by=Decimal(1))
    job.refresh_from_db()
    assert (job.state, job.completion_notify_sent) == (WorkState.RUNNING, False)


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two real connections at once"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_ending_the_last_tasks_at_once_send_one_mail() -> None:
    job = _job()
    tasks = _tasks(job)
    for task in tasks:
        update_task(task=task, state="running")
    received = mock.Mock()
    jobs_ended.connect(received, dispatch_uid="test")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(task: Task) -> None:
        try:
            barrier.wait()
            update_task(task=task, state="done")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(task,)) for task in tasks]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        jobs_ended.disconnect(dispatch_uid="test")
    assert errors == []
    assert Job.objects.get(pk=job.pk).state == WorkState.DONE
    assert received.call_count == 1


# --- a mail server that is down -----------------------------------------------


def test_the_sending_tasks_retry_smtp_and_socket_errors_with_backoff() -> None:
    for task in (send_job_completion_mail, send_job_mail):
        assert smtplib.SMTPException in task.autoretry_for
        assert OSError in task.autoretry_for  # socket errors, refused connections
        assert task.retry_backoff
        assert task.max_retries == MAX_RETRIES
    assert (smtplib.SMTPException, OSError) == MAIL_ERRORS


def test_a_mail_server_that_is_down_makes_the_task_retry(
    settings: Any, farm_config: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _free_port()  # nobody listens
    farm_config(smtp_server="127.0.0.1")
    with (
        mock.patch.object(
            send_job_mail, "retry", side_effect=RuntimeError("retry requested")
        ) as retry,
        pytest.raises(RuntimeError, match="retry requested"),
    ):
        send_job_mail.apply(args=(["alice@example.com"], "s", "b"), throw=True).get()
    assert isinstance(retry.call_args.kwargs["exc"], OSError)


def test_a_task_update_answers_200_while_the_mail_server_is_down(
    agent_client: Any,
    settings: Any,
    farm_config: Any,
    queued: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _free_port()
    farm_config(smtp_server="127.0.0.1")
    job = _job(frames=1)
    _notify(job, "alice")
    (task,) = _tasks(job)
    with (
        mock.patch.object(send_job_completion_mail, "retry") as retry,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = agent_client.post(
            f"/api/v1/jobs/{job.pk}/tasks/{task.pk}", {"state": "done"}
        )
    assert response.status_code == 200
    assert retry.called
    assert Job.objects.get(pk=job.pk).state == WorkState.DONE


def test_a_broker_that_refuses_the_mail_does_not_fail_the_task_update(
    agent_client: Any, farm_config: Any, django_capture_on_commit_callbacks: Any
) -> None:
    farm_config(smtp_server="127.0.0.1")
    job = _job(frames=1)
    (task,) = _tasks(job)
    with (
        mock.patch.object(
            send_job_completion_mail,
            "apply_async",
            side_effect=ConnectionRefusedError("broker down"),
        ) as apply_async,
        mock.patch.object(notifications.threading, "Timer") as timer,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = agent_client.post(
            f"/api/v1/jobs/{job.pk}/tasks/{task.pk}", {"state": "done"}
        )
    assert response.status_code == 200
    assert apply_async.called
    # Queued once more a few seconds later.
    assert timer.call_args.args[0] == notifications.RETRY_DELAY
    timer.return_value.start.assert_called_once()


def test_an_empty_smtp_server_queues_nothing(
    queued: mock.Mock, farm_config: Any, django_capture_on_commit_callbacks: Any
) -> None:
    farm_config(smtp_server="")
    job = _job()
    _notify(job, "alice", on_deletion=True)
    with django_capture_on_commit_callbacks(execute=True):
        _end(job, "done", "done")
    Job.objects.filter(pk=job.pk).mark_for_deletion()
    with (
        mock.patch.object(send_job_mail, "apply_async") as deletion,
        django_capture_on_commit_callbacks(execute=True),
    ):
        maintenance.delete_jobs()
    assert not queued.called
    assert not deletion.called


# --- rendering (locmem backend) -----------------------------------------------


def test_a_broken_job_type_template_falls_back_to_the_default(
    caplog: Any, farm_config: Any
) -> None:
    job = _job(jobtype__success_subject="{% if %}broken")
    _notify(job, "alice")
    _end(job, "done", "done")
    message = completion_mail(job_id=job.pk)
    assert message is not None
    assert message.subject == "Job Shot 10 completed successfully"
    assert "does not render" in caplog.text


def test_a_broken_configured_template_falls_back_to_the_shipped_one(
    farm_config: Any,
) -> None:
    farm_config(success_body="{% for %}")
    job = _job()
    _notify(job, "alice")
    _end(job, "done", "done")
    message = completion_mail(job_id=job.pk)
    assert message is not None
    assert "has completed successfully" in message.body


def test_templates_are_not_html_escaped() -> None:
    job = _job(jobtype__success_body="{{ job.title }} <&>")
    Job.objects.filter(pk=job.pk).update(title="A & B <c>")
    _notify(job, "alice")
    _end(job, "done", "done")
    message = completion_mail(job_id=job.pk)
    assert message is not None
    assert message.body == "A & B <c> <&>"


def test_the_originals_deletion_fields_still_work(farm_config: Any) -> None:
    farm_config(
        deleted_subject="Job {job_title} deleted",
        deleted_body="{jobtype_name} job {job_title} ({job_id}) has been deleted.",
    )
    job = _job()
    _notify(job, "alice", on_deletion=True)
    (message,) = deletion_mails(job_ids=[job.pk])
    assert message.subject == "Job Shot 10 deleted"
    assert message.body == f"Render job Shot 10 ({job.pk}) has been deleted."


def test_deletion_mails_cost_two_queries_whatever_the_number_of_jobs(
    django_assert_num_queries: Any,
) -> None:
    jobs = [_job(name=f"Render{number}") for number in range(3)]
    for number, job in enumerate(jobs):
        _notify(job, f"user{number}", on_deletion=True)
    with django_assert_num_queries(2):
        mails = deletion_mails(job_ids=[job.pk for job in jobs])
    assert len(mails) == 3


def test_the_job_url_is_under_base_url(farm_config: Any) -> None:
    farm_config(base_url="https://farm.example.com/")
    assert job_url(7) == "https://farm.example.com/jobs/7/"


def test_a_sent_mail_goes_through_djangos_backend(
    farm_config: Any, queued: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    farm_config(smtp_server="127.0.0.1", from_email="farm@example.com")
    job = _job()
    _notify(job, "alice")
    with django_capture_on_commit_callbacks(execute=True):
        _end(job, "done", "done")
    (sent,) = django_mail.outbox
    assert (sent.to, sent.from_email) == (["alice@example.com"], "farm@example.com")


def test_a_failure_mail_costs_three_queries(
    django_assert_num_queries: Any,
) -> None:
    job = _job(requeue=0)
    _notify(job, "alice")
    _end(job, "failed", "failed")
    with django_assert_num_queries(3):  # the job, its users, its failed tasks
        message = completion_mail(job_id=job.pk)
    assert message is not None


def test_a_job_rerun_before_its_mail_is_sent_sends_none() -> None:
    job = _job(requeue=0)
    _notify(job, "alice")
    _end(job, "done", "failed")
    rerun_jobs(jobs=Job.objects.filter(pk=job.pk), failed_only=True)
    assert completion_mail(job_id=job.pk) is None


def test_ending_a_job_claims_its_mail_with_one_conditional_update(
    farm_config: Any, django_capture_on_commit_callbacks: Any
) -> None:
    farm_config(smtp_server="")
    job = _job(frames=1)
    (task,) = _tasks(job)
    with CaptureQueriesContext(connection) as queries:
        update_task(task=task, state="done")
    claims = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("UPDATE")
        and "completion_notify_sent" in query["sql"].split("WHERE")[-1]
    ]
    assert len(claims) == 1
