"""The farm's periodic maintenance: deleting jobs, task log files, statistics.

Each function here is one unit of work that a Celery task
(`scheduling.tasks.maintenance`) runs on beat; operators and tests call them
directly. All are idempotent: running one twice, or two at once on two
workers, does no harm.

Task log files live in ``tasklogs_dir`` under their log's identifier, or
gzipped as ``<identifier>.gz`` (`farm.services.logs` serves both). Names
starting with a dot are temporary files of uploads and compressions in
progress and are never touched here. Symbolic links and directories in
``tasklogs_dir`` are never touched either: nothing here follows a link.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import logging
import os
import shutil
import stat
import tempfile
import uuid
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from farm.choices import TERMINAL_WORK_STATES, AgentState, WorkState
from farm.models import (
    Agent,
    AgentCount,
    Job,
    Task,
    TaskCount,
    TaskLog,
    TaskTaskLogAssociation,
)
from farm.services.jobs import delete_tasks
from farm.services.logs import validate_log_identifier
from farm.services.notifications import deletion_mails, mail_enabled
from pyfarm_site.conf import farm_config
from scheduling import notifications
from scheduling.stopping import stop_tasks_on_agents, stops_by_agent

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "COMPRESS_LOGS_AFTER",
    "JOBS_PER_DELETION",
    "ORPHANED_LOG_GRACE",
    "autodelete_old_jobs",
    "cleanup_orphaned_logs",
    "compress_logs",
    "count_agents",
    "count_tasks",
    "delete_jobs",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Jobs deleted per transaction: a backlog of flagged jobs is worked off in
# several short transactions instead of one that locks everything.
JOBS_PER_DELETION = 500
# Rows named per ``IN (...)`` list, under every driver's parameter limit.
_CHUNK = 2_000
# A log file is compressed once its log was created this long ago and every
# attempt it belongs to ended. An hour keeps the logs people read right after
# a task ended (mostly the failures) plain, and compresses the bulk soon
# enough; reading a compressed log through the API costs little anyway.
COMPRESS_LOGS_AFTER = timedelta(hours=1)
# A file without a log row is only removed once it is this old (by its
# modification time), so that nothing racing with a registration or an
# upload is ever removed.
ORPHANED_LOG_GRACE = timedelta(hours=1)
GZIP_SUFFIX = ".gz"
# Temporary names of the compression; hidden (leading dot) like the uploads'.
_COMPRESS_PREFIX = ".compress-"


def _chunks(items: list[_T], size: int = _CHUNK) -> Iterator[list[_T]]:
    """``items`` in lists of at most ``size``."""
    for index in range(0, len(items), size):
        yield items[index : index + size]


def _tasklogs_dir() -> Path:
    """``tasklogs_dir``, resolved once (it may itself be a link, its entries not)."""
    return Path(farm_config("tasklogs_dir")).resolve()


def _regular_file(path: Path) -> os.stat_result | None:
    """The status of ``path`` if it is a regular file, not a link; else None."""
    try:
        status = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return status if stat.S_ISREG(status.st_mode) else None


# --- deleting jobs ------------------------------------------------------------


def _remove_log_files(identifiers: Iterable[str]) -> int:
    """Remove the files (plain and gzipped) of the named logs; returns the count.

    Links and anything that is not a regular file are left alone, as are
    names that are not acceptable identifiers (they cannot be our files). A
    file that cannot be removed is logged and skipped.
    """
    directory = _tasklogs_dir()
    removed = 0
    for identifier in identifiers:
        try:
            validate_log_identifier(identifier)
        except ValidationError:
            continue
        for name in (identifier, identifier + GZIP_SUFFIX):
            if _unlink_regular_file(directory / name):
                removed += 1
    return removed


def _unlink_regular_file(path: Path, *, modified_before: float | None = None) -> bool:
    """Remove ``path`` if it is a regular file (not a link); returns whether.

    With ``modified_before``, only a file last modified at or before that
    timestamp is removed. Errors other than the file being gone are logged.
    """
    status = _regular_file(path)
    if status is None:
        return False
    if modified_before is not None and status.st_mtime > modified_before:
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        logger.exception("cannot remove task log file %s", path)
        return False
    return True


def delete_jobs() -> int:
    """Delete the jobs flagged ``to_be_deleted``; returns how many were deleted.

    With each job go its tasks, their log associations and failed-on-agent
    rows, its requirements, notified users, tags and dependencies (a child
    of a deleted job no longer waits for it). Logs that only these jobs'
    tasks used lose their row, and their files are removed after the commit;
    a log shared with a task of another job stays. The notified users who
    asked (``on_deletion``) are mailed after the commit, from what the rows
    held before they went (two queries per batch when mail is on). If the
    process dies
    between the commit and the file removal, `cleanup_orphaned_logs` removes
    the files later.

    Tasks an agent runs (or was sent) are stopped on it first, with
    ``DELETE /tasks/<id>`` (`scheduling.stopping`), outside any transaction.
    An agent that cannot be told is logged and the rows go anyway: its
    later reports for the task (state, log state, log upload) get a JSON
    404, which the agent gives up on without retrying (agent-protocol.md
    R6-R8), and its next poll stops a task it still runs.

    Costs a constant number of statements per `JOBS_PER_DELETION` jobs (plus
    one per 2,000 logs), whatever the number of tasks: the tasks and the rows
    pointing at them are deleted by job id, never loaded.
    """
    deleted = 0
    while True:
        count = _delete_job_batch()
        deleted += count
        if count < JOBS_PER_DELETION:
            return deleted


def _delete_job_batch() -> int:
    """Stop the work of up to `JOBS_PER_DELETION` flagged jobs, then delete them.

    The agents are contacted before the transaction; the deletion takes the
    jobs that are still flagged and not locked by another worker.
    """
    candidates = list(
        Job.objects.filter(to_be_deleted=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:JOBS_PER_DELETION]
    )
    if not candidates:
        return 0
    stop_tasks_on_agents(stops_by_agent(Task.objects.filter(job_id__in=candidates)))
    with transaction.atomic():
        # skip_locked: a second worker deleting at the same time takes other
        # jobs instead of waiting for these.
        job_ids = list(
            Job.objects.filter(pk__in=candidates, to_be_deleted=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        if not job_ids:
            return 0
        tasks = Task.objects.filter(job_id__in=job_ids)
        associations = TaskTaskLogAssociation.objects.filter(task__job_id__in=job_ids)
        used_elsewhere = TaskTaskLogAssociation.objects.filter(
            log_id=OuterRef("pk")
        ).exclude(task__job_id__in=job_ids)
        logs = list(
            TaskLog.objects.filter(pk__in=associations.values("log_id"))
            .exclude(Exists(used_elsewhere))
            .values_list("pk", "identifier")
        )
        # The mails need the rows: rendered now, queued after the commit.
        mails = deletion_mails(job_ids=job_ids) if mail_enabled() else []
        delete_tasks(tasks)
        for chunk in _chunks([pk for pk, _ in logs]):
            orphans = TaskLog.objects.filter(pk__in=chunk)
            orphans._raw_delete(orphans.db)
        # The cascade over the remaining relations (requirements, notified
        # users, tags, dependencies) costs one statement each, and finds no
        # task left to load.
        Job.objects.filter(pk__in=job_ids).delete()
        identifiers = [identifier for _, identifier in logs]
        transaction.on_commit(partial(_remove_log_files, identifiers))
        if mails:
            transaction.on_commit(partial(notifications.queue_mails, mails))
    logger.info("deleted %d jobs and %d task logs", len(job_ids), len(logs))
    return len(job_ids)


def autodelete_old_jobs() -> int:
    """Flag done jobs whose time is up for deletion; returns how many.

    A done job is flagged ``autodelete_time`` seconds after its
    ``time_finished``; a job without ``autodelete_time`` uses
    ``default_job_delete_time`` when that is set, and is kept otherwise.
    Failed jobs are never flagged (as in the original): they stay for a
    person to look at. One UPDATE.
    """
    default = farm_config("default_job_delete_time")
    seconds = (
        Coalesce(F("autodelete_time"), Value(int(default)))
        if default is not None
        else F("autodelete_time")
    )
    # A plain integer type: SQLite's duration arithmetic refuses "positive
    # integer" operands.
    delay = ExpressionWrapper(
        Value(timedelta(seconds=1))
        * ExpressionWrapper(seconds, output_field=IntegerField()),
        output_field=DurationField(),
    )
    deadline = ExpressionWrapper(
        F("time_finished") + delay, output_field=DateTimeField()
    )
    return (
        Job.objects.filter(
            state=WorkState.DONE,
            to_be_deleted=False,
            time_finished__isnull=False,
        )
        .alias(deadline=deadline)
        .filter(deadline__lte=timezone.now())
        .update(to_be_deleted=True)
    )


# --- task log files -----------------------------------------------------------


def _log_files(directory: Path) -> Iterator[tuple[str, float]]:
    """Name and modification time of every regular, non-hidden file in ``directory``."""
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_file(follow_symlinks=False):
                yield entry.name, entry.stat(follow_symlinks=False).st_mtime


def cleanup_orphaned_logs(*, grace: timedelta = ORPHANED_LOG_GRACE) -> dict[str, int]:
    """Remove orphaned log rows, then files no log row names; returns the counts.

    A log row is orphaned when no task attempt is associated with it any
    longer (as the original's cleanup, which deleted such rows first); rows
    created within ``grace`` are kept, for a registration in progress. Their
    files become orphaned with them.

    ``<identifier>.gz`` belongs to the log ``<identifier>`` (and a file
    ``x.gz`` is kept if a log is named ``x`` or ``x.gz``). Files modified
    within ``grace``, hidden temporary files, links and directories are left
    alone. One DELETE for the rows, one query per 2,000 files. Returns
    ``{"logs": rows removed, "files": files removed}``.
    """
    now = timezone.now()
    orphans = TaskLog.objects.filter(
        created_on__lte=now - grace, task_associations__isnull=True
    )
    logs = TaskLog.objects.filter(pk__in=orphans.values("pk"))
    removed_logs = logs._raw_delete(logs.db)
    if removed_logs:
        logger.info("removed %d orphaned task logs", removed_logs)
    return {"logs": removed_logs, "files": _cleanup_orphaned_files(now - grace)}


def _cleanup_orphaned_files(before: datetime) -> int:
    """Remove files modified before ``before`` that no log names; returns how many."""
    directory = _tasklogs_dir()
    cutoff = before.timestamp()
    candidates = [name for name, mtime in _log_files(directory) if mtime <= cutoff]
    removed = 0
    for chunk in _chunks(candidates):
        owners = {name: {name} for name in chunk}
        for name in chunk:
            if name.endswith(GZIP_SUFFIX) and len(name) > len(GZIP_SUFFIX):
                owners[name].add(name.removesuffix(GZIP_SUFFIX))
        wanted = {identifier for names in owners.values() for identifier in names}
        known = set(
            TaskLog.objects.filter(identifier__in=wanted).values_list(
                "identifier", flat=True
            )
        )
        for name, identifiers in owners.items():
            if identifiers & known:
                continue
            # Checked again: the file may have been replaced since the listing.
            if _unlink_regular_file(directory / name, modified_before=cutoff):
                removed += 1
    if removed:
        logger.info("removed %d orphaned task log files", removed)
    return removed


def _closed_logs(identifiers: list[str], created_before: datetime) -> list[str]:
    """Those of ``identifiers`` whose log is old enough and all attempts ended."""
    open_attempts = TaskTaskLogAssociation.objects.filter(
        log_id=OuterRef("pk")
    ).exclude(state__in=TERMINAL_WORK_STATES)
    return list(
        TaskLog.objects.filter(
            identifier__in=identifiers,
            created_on__lte=created_before,
            task_associations__isnull=False,
        )
        .exclude(Exists(open_attempts))
        .order_by()
        .distinct()
        .values_list("identifier", flat=True)
    )


def _gzip_file(directory: Path, identifier: str) -> bool:
    """Replace ``identifier`` by ``identifier.gz``; returns whether it did.

    The compressed copy is written to a hidden temporary file and renamed
    into place, so readers always find a whole file, plain or gzipped. Then
    the original is moved aside and removed only if it is still the file
    that was compressed: an upload that replaced it meanwhile is put back.
    """
    source = directory / identifier
    target = directory / (identifier + GZIP_SUFFIX)
    try:
        # O_NOFOLLOW: a link put in the log's place is never read through.
        handle = os.fdopen(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), "rb")
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as error:
        if error.errno == errno.ELOOP:
            return False
        raise
    with handle:
        compressed = os.fstat(handle.fileno())
        if not stat.S_ISREG(compressed.st_mode):
            return False
        temporary = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below)
            dir=directory, prefix=_COMPRESS_PREFIX, delete=False
        )
        try:
            with (
                temporary,
                gzip.GzipFile(
                    filename=identifier, mode="wb", fileobj=temporary
                ) as output,
            ):
                shutil.copyfileobj(handle, output)
            Path(temporary.name).replace(target)
        except BaseException:
            Path(temporary.name).unlink(missing_ok=True)
            raise
    aside = directory / f"{_COMPRESS_PREFIX}{uuid.uuid4().hex}"
    try:
        source.rename(aside)
    except FileNotFoundError:
        return True
    current = aside.lstat()
    if (current.st_dev, current.st_ino) == (compressed.st_dev, compressed.st_ino):
        aside.unlink()
        return True
    # A new upload arrived between the compression and the rename: keep it
    # (it is served before the stale .gz and compressed on a later run),
    # unless an even newer one already took the name.
    with contextlib.suppress(FileExistsError):
        os.link(aside, source)
    aside.unlink()
    return False


def compress_logs(*, older_than: timedelta = COMPRESS_LOGS_AFTER) -> int:
    """Gzip the log files of ended attempts; returns how many were compressed.

    A file ``<identifier>`` in ``tasklogs_dir`` is compressed to
    ``<identifier>.gz`` when its log was created more than ``older_than``
    ago and every task attempt it belongs to is done or failed. Files
    without a log row are `cleanup_orphaned_logs`' business; links, hidden
    files and files already ending in ``.gz`` are left alone. Work and
    queries grow with the number of uncompressed files only (one query per
    2,000), not with the size of the archive.
    """
    directory = _tasklogs_dir()
    plain = [name for name, _ in _log_files(directory) if not name.endswith(".gz")]
    created_before = timezone.now() - older_than
    compressed = 0
    for chunk in _chunks(plain):
        for identifier in _closed_logs(chunk, created_before):
            try:
                done = _gzip_file(directory, identifier)
            except OSError:
                # One unreadable file or a full disk must not stop the rest.
                logger.exception("cannot compress task log %s", identifier)
                continue
            compressed += done
    if compressed:
        logger.info("compressed %d task log files", compressed)
    return compressed


# --- statistics ---------------------------------------------------------------


def count_agents() -> AgentCount:
    """Record how many agents are in each state now; one aggregate query."""
    counts = Agent.objects.aggregate(
        **{
            f"num_{state}": Count("pk", filter=Q(state=state))
            for state in AgentState.values
        }
    )
    return AgentCount.objects.create(counted_time=timezone.now(), **counts)


_COUNTED_TASK_STATES = (
    WorkState.QUEUED,
    WorkState.RUNNING,
    WorkState.DONE,
    WorkState.FAILED,
)


def count_tasks() -> list[TaskCount]:
    """Record how many tasks of each queue are in each state now.

    One row per queue that has tasks, all with the same ``counted_time``,
    and always one row for the jobs without a queue (zeros when there are
    none, so that every sample leaves a trace); a queue without a row at a
    time had no tasks. Tasks of jobs flagged for deletion are not counted.
    One aggregate query and one INSERT.
    """
    rows = (
        Task.objects.filter(job__to_be_deleted=False)
        .values("job__queue")
        .annotate(
            **{
                f"total_{state}": Count("pk", filter=Q(state=state))
                for state in _COUNTED_TASK_STATES
            }
        )
        .order_by()
    )
    now = timezone.now()
    per_queue = {row.pop("job__queue"): row for row in rows}
    per_queue.setdefault(None, {})
    return TaskCount.objects.bulk_create(
        [
            TaskCount(counted_time=now, job_queue_id=queue_id, **totals)
            for queue_id, totals in per_queue.items()
        ]
    )
