"""The scheduler after an outage: it resumes by itself, within seconds.

While the broker is down, nothing the master publishes arrives: the ticks
that events ask for (`scheduling.triggers`), beat's periodic tasks, and the
sending of the assignments a tick just wrote. When it is back, the Celery
worker's consumer reconnects (every few seconds: `Consumer`, instead of
Celery's back-off of up to 30 s), and each time its consumer starts, on a
first connection or a reconnection, `ResumeOnConnect` queues
``scheduling.resume_scheduling``: the assignments whose sending was lost are
sent, and a tick runs. A worker that starts does the same.

While the database is down, the scheduler's tasks fail. A task that failed
for an outage (of either server) schedules a resume a few seconds later
(`schedule_resume`); a resume that fails too schedules the next one, until
the database answers again.

`connect` (called by the app's ``ready()``) also hooks the worker's and
beat's logging (`pyfarm_site.outages.OutageLogFilter` on Celery's handlers)
and lets beat record its last run for the health check (`scheduling.health`).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from celery import Celery, bootsteps, signals
from celery.worker.consumer import Consumer as CeleryConsumer
from django.core.cache import cache

from farm.choices import AgentState, WorkState
from farm.models import Task
from pyfarm_site.outages import install_filter, is_outage

logger = logging.getLogger(__name__)

#: Seconds between the worker's attempts to reconnect to a lost broker:
#: the first wait, its growth per attempt and its maximum.
RECONNECT_INTERVALS = {"interval_start": 1, "interval_step": 1, "interval_max": 3}
#: The cache key that lets one worker at a time resend lost assignments.
RESEND_KEY = "scheduling:resume:resend"
#: Seconds during which other workers' resumes send nothing again.
RESEND_SECONDS = 10
#: The cache key of a resume scheduled after a task failed for an outage.
RESUME_PENDING_KEY = "scheduling:resume:pending"
#: Seconds after such a failure before the resume runs (and tries again).
RESUME_DELAY = 5


class Consumer(CeleryConsumer):
    """Celery's consumer, quick to notice a lost broker and to reconnect.

    Set as ``worker_consumer``, so every worker of the app uses it:

    - it retries a lost broker every 1 to 3 seconds, where Celery waits 2,
      4, 6... up to 30 s between attempts (the worker could come back half
      a minute after the broker);
    - it sends no worker heartbeat events (``--without-heartbeat``): nothing
      of the master watches them, and on a frozen broker their publish
      retries inside the worker's event loop for as long as it lasts, so
      the consumer never notices the outage, never reconnects, and never
      resumes the scheduler;
    - it does not ask the other workers for revoked tasks when it connects
      (``--without-mingle``): the master revokes none, and the question
      delays every reconnection by a second.
    """

    def __init__(
        self, *args: Any, worker_options: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        options = {
            **(worker_options or {}),
            "without_heartbeat": True,
            "without_mingle": True,
        }
        super().__init__(*args, worker_options=options, **kwargs)

    def ensure_connected(self, conn: Any) -> Any:
        """Connect as Celery does, with our intervals between attempts."""
        conn.ensure_connection = functools.partial(
            conn.ensure_connection, **RECONNECT_INTERVALS
        )
        return super().ensure_connected(conn)


class ResumeOnConnect(bootsteps.StartStopStep):
    """Queue ``scheduling.resume_scheduling`` whenever the consumer starts.

    The consumer's steps start again after each reconnection, once the
    task consumer is ready, so the message is consumed as soon as it is sent.
    Only a worker that serves the default queue (the scheduler's) resumes:
    a worker started for other queues must not leave messages behind.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent: Any) -> None:
        """Queue the resume; a broker gone again is only logged."""
        from scheduling.tasks.planning import resume_scheduling

        queues = {queue.name for queue in parent.task_consumer.queues}
        if parent.app.conf.task_default_queue not in queues:
            return
        try:
            resume_scheduling.apply_async()
        except Exception as error:
            if not is_outage(error):
                raise
            logger.warning("could not queue the resume: %s", error)
        else:
            logger.info("connected to the broker: resuming the scheduler")


def schedule_resume(reason: str) -> None:
    """Queue a resume in `RESUME_DELAY` seconds, unless one is pending already.

    For a scheduler task that failed because the database or the broker
    was unreachable: the resume sends what that task could not and ticks,
    and if it fails too, it schedules the next one; so the scheduler
    catches up within seconds of the outage's end.
    """
    from scheduling.tasks.planning import resume_scheduling

    try:
        if cache.add(RESUME_PENDING_KEY, reason, timeout=RESUME_DELAY):
            resume_scheduling.apply_async(countdown=RESUME_DELAY)
    except Exception as error:
        if not is_outage(error):
            raise
        # The worker's reconnection resumes once the broker is back.
        logger.warning("could not schedule a resume (%s): %s", reason, error)


def resume_started() -> None:
    """A resume runs: a failure from now on may schedule the next one."""
    try:
        cache.delete(RESUME_PENDING_KEY)
    except Exception as error:
        if not is_outage(error):
            raise


def claim_resend() -> bool:
    """Whether this resume sends; the others within `RESEND_SECONDS` do not.

    Several workers reconnect together; the sends of one of them are enough.
    Without a cache, every resume sends (sending twice is harmless).
    """
    try:
        return bool(cache.add(RESEND_KEY, 1, timeout=RESEND_SECONDS))
    except Exception as error:
        if not is_outage(error):
            raise
        return True


def agents_with_unsent_tasks() -> list[str]:
    """Agents holding assigned tasks that were never sent to them (one query).

    A tick sends an agent its tasks after it commits; when the broker or the
    database is down at that moment, the tasks stay assigned and unsent, and
    their agent is busy for every later tick.
    """
    agent_ids = (
        Task.objects.filter(
            agent__isnull=False,
            sent_to_agent=False,
            state=WorkState.QUEUED,
            agent__state__in=(AgentState.ONLINE, AgentState.RUNNING),
        )
        .order_by()
        .values_list("agent_id", flat=True)
        .distinct()
    )
    return [str(agent_id) for agent_id in agent_ids]


def _on_task_failure(
    sender: Any = None, exception: BaseException | None = None, **kwargs: Any
) -> None:
    """A scheduler task failed for an outage: resume once it is over."""
    name = str(getattr(sender, "name", ""))
    if exception is None or not name.startswith("scheduling."):
        return
    if is_outage(exception):
        schedule_resume(f"{name} failed")


# --- Logging and beat ----------------------------------------------------------------


def _filter_celery_handlers(logger: logging.Logger, **kwargs: Any) -> None:
    """Put the outage filter on the handlers Celery set up (worker and beat)."""
    install_filter(logger)


def _record_beat_run(**kwargs: Any) -> None:
    """In beat: a message was published, beat is alive (`scheduling.health`)."""
    from scheduling.health import record_beat_run

    record_beat_run()


def _on_beat_init(**kwargs: Any) -> None:
    """In beat only: record its start, then each message it publishes."""
    _record_beat_run()
    signals.after_task_publish.connect(
        _record_beat_run, weak=False, dispatch_uid="scheduling.beat_run"
    )


class _DropWarning(logging.Filter):
    """Drop a warning Celery repeats on every connection loss.

    It says that the default of ``worker_cancel_long_running_tasks_on_
    connection_loss`` will change; our settings set it explicitly, and
    Celery warns all the same (through the ``py.warnings`` logger).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Let every other warning through."""
        setting = "worker_cancel_long_running_tasks_on_connection_loss"
        return setting not in record.getMessage()


def connect(app: Celery) -> None:
    """Install the consumer step and the signal receivers of this module."""
    app.steps["consumer"].add(ResumeOnConnect)
    receivers = (
        (signals.after_setup_logger, _filter_celery_handlers, "logs"),
        (signals.after_setup_task_logger, _filter_celery_handlers, "task_logs"),
        (signals.beat_init, _on_beat_init, "beat_init"),
        (signals.task_failure, _on_task_failure, "task_failure"),
    )
    for signal, receiver, uid in receivers:
        signal.connect(receiver, weak=False, dispatch_uid=f"scheduling.{uid}")
    warnings = logging.getLogger("py.warnings")
    if not any(isinstance(f, _DropWarning) for f in warnings.filters):
        warnings.addFilter(_DropWarning())
