"""Task log workflows: registration by the agents, states, and the files.

An agent writes one log per assignment and registers it under every task of
the batch (one `TaskLog`, one `TaskTaskLogAssociation` per task attempt). When
the assignment ends it uploads the file once, under the first task; the file
is kept in ``tasklogs_dir`` under the log's identifier, possibly gzipped
later (``<identifier>.gz``). Until it arrives the agent itself serves it.

Identifiers come from the network: they are checked before they get near the
file system, and every path is resolved and checked to stay inside
``tasklogs_dir``.
"""

from __future__ import annotations

import gzip
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, transaction

from farm.choices import TERMINAL_WORK_STATES
from farm.models import Agent, Task, TaskLog, TaskTaskLogAssociation
from farm.services.errors import ConflictError
from farm.validators import parse_id
from pyfarm_site.conf import farm_config

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "CHUNK_SIZE",
    "LogExcerpt",
    "UploadTooLarge",
    "find_log_association",
    "find_task_attempt",
    "logfile_path",
    "open_logfile",
    "read_logfile",
    "register_task_log",
    "set_log_state",
    "store_logfile",
    "validate_log_identifier",
]

# Uploads and downloads move through memory this many bytes at a time.
CHUNK_SIZE = 64 * 1024
# The largest attempt number the database column holds.
MAX_ATTEMPT = 2**31 - 1
GZIP_SUFFIX = ".gz"
# Uploads land in a hidden temporary file first; identifiers never start with
# a dot, so these names cannot collide with a log.
UPLOAD_PREFIX = ".upload-"


class UploadTooLarge(Exception):
    """The uploaded file is larger than ``max_upload_size``."""


def validate_log_identifier(identifier: str) -> str:
    """Return ``identifier`` if it is a plain file name, else raise ValidationError.

    Path separators, ``..``, control characters (NUL included) and a leading
    dot are refused: identifiers become file names in ``tasklogs_dir``.
    """
    max_length = TaskLog._meta.get_field("identifier").max_length or 255
    problem = None
    if not identifier:
        problem = "must not be empty"
    elif len(identifier) > max_length:
        problem = f"is longer than {max_length} characters"
    elif "/" in identifier or "\\" in identifier:
        problem = "must not contain path separators"
    elif ".." in identifier:
        problem = "must not contain '..'"
    elif identifier.startswith("."):
        problem = "must not start with '.'"
    elif any(ord(char) < 32 or ord(char) == 127 for char in identifier):
        problem = "must not contain control characters"
    if problem:
        raise ValidationError({"identifier": f"{identifier!r} {problem}"})
    return identifier


def _tasklogs_dir() -> Path:
    return Path(farm_config("tasklogs_dir")).resolve()


def _inside(directory: Path, name: str) -> Path:
    """``directory / name``, refusing anything that resolves elsewhere."""
    path = (directory / name).resolve()
    if path.parent != directory or path.name != name:
        raise ValidationError({"identifier": f"{name!r} is not an acceptable name"})
    return path


def logfile_path(identifier: str) -> Path:
    """Where the log ``identifier`` is stored (it need not exist yet)."""
    validate_log_identifier(identifier)
    return _inside(_tasklogs_dir(), identifier)


def find_task_attempt(*, job_id: str, task_id: str, attempt: str) -> tuple[Task, int]:
    """The task and attempt number a log URL names.

    The parts come straight from the URL: ids and attempts that are not
    numbers, or a task of another job, raise ObjectDoesNotExist.
    """
    numbers: dict[str, int] = {}
    for label, value in (("job", job_id), ("task", task_id), ("attempt", attempt)):
        number = parse_id(value)
        if number is None:
            raise ObjectDoesNotExist(f"{label} {value!r} not found")
        numbers[label] = number
    attempt_number = numbers["attempt"]
    if attempt_number > MAX_ATTEMPT:
        raise ObjectDoesNotExist(f"attempt {attempt!r} not found")
    task = Task.objects.filter(pk=numbers["task"], job_id=numbers["job"]).first()
    if task is None:
        raise Task.DoesNotExist(f"task {task_id} of job {job_id} not found")
    return task, attempt_number


def find_log_association(
    *, job_id: str, task_id: str, attempt: str, identifier: str
) -> TaskTaskLogAssociation:
    """The registration of log ``identifier`` for the attempt a log URL names.

    Raises ValidationError for an unacceptable identifier (before any query)
    and ObjectDoesNotExist when the task, or the log in this attempt, is
    unknown.
    """
    logfile_path(identifier)
    task, attempt_number = find_task_attempt(
        job_id=job_id, task_id=task_id, attempt=attempt
    )
    association = (
        TaskTaskLogAssociation.objects.select_related("log", "log__agent")
        .filter(task=task, attempt=attempt_number, log__identifier=identifier)
        .first()
    )
    if association is None:
        raise TaskTaskLogAssociation.DoesNotExist(
            f"log {identifier!r} is not registered for attempt {attempt_number}"
            f" of task {task.pk}"
        )
    return association


def register_task_log(
    *, task: Task, attempt: int, identifier: str, agent_id: uuid.UUID | None
) -> TaskLog:
    """Register the log ``identifier`` for one attempt of ``task`` (R5).

    The same identifier registered under another task of the batch is the
    same log, associated again. Raises ConflictError when this attempt
    already has it, ObjectDoesNotExist for an unknown agent and
    ValidationError for an unacceptable identifier.
    """
    logfile_path(identifier)
    if agent_id is not None and not Agent.objects.filter(pk=agent_id).exists():
        raise Agent.DoesNotExist(f"agent {agent_id} not found")
    with transaction.atomic():
        # get_or_create copes with the agent registering the batch's tasks
        # in parallel: the loser of the race reads the winner's row.
        log, _ = TaskLog.objects.get_or_create(
            identifier=identifier, defaults={"agent_id": agent_id}
        )
        if TaskTaskLogAssociation.objects.filter(
            task=task, log=log, attempt=attempt
        ).exists():
            raise ConflictError(
                f"log {identifier!r} is already registered for attempt {attempt}"
                f" of task {task.pk}"
            )
        try:
            with transaction.atomic():
                TaskTaskLogAssociation.objects.create(
                    task=task, log=log, attempt=attempt
                )
        except IntegrityError:
            raise ConflictError(
                f"log {identifier!r} is already registered for attempt {attempt}"
                f" of task {task.pk}"
            ) from None
    return log


def set_log_state(*, association: TaskTaskLogAssociation, state: str) -> bool:
    """Record the state an attempt reached in its log association (R7).

    done and failed close the attempt: a "running" or "queued" arriving
    later (the agent's requests are not ordered) changes nothing. Returns
    whether the state changed.
    """
    rows = TaskTaskLogAssociation.objects.filter(pk=association.pk)
    if state not in TERMINAL_WORK_STATES:
        rows = rows.exclude(state__in=TERMINAL_WORK_STATES)
    changed = rows.exclude(state=state).update(state=state)
    association.refresh_from_db(fields=["state"])
    return bool(changed)


def store_logfile(*, log: TaskLog, stream: IO[bytes], size_hint: int | None) -> int:
    """Write an uploaded log file (R8) into ``tasklogs_dir``; returns its size.

    The body is copied in chunks into a temporary file that replaces the log
    only when complete, so a reader never sees half a file. Raises
    UploadTooLarge, before writing anything when the announced size is
    already over ``max_upload_size``.
    """
    limit = farm_config("max_upload_size")
    if limit is not None and size_hint is not None and size_hint > limit:
        raise UploadTooLarge(f"the log file is larger than {limit} bytes")
    target = logfile_path(log.identifier)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below)
        dir=target.parent, prefix=UPLOAD_PREFIX, delete=False
    )
    try:
        with handle:
            while chunk := stream.read(CHUNK_SIZE):
                written += len(chunk)
                if limit is not None and written > limit:
                    raise UploadTooLarge(f"the log file is larger than {limit} bytes")
                handle.write(chunk)
        Path(handle.name).replace(target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return written


def _chunks(handle: IO[bytes] | gzip.GzipFile) -> Iterator[bytes]:
    """Read ``handle`` in chunks and close it when done (or abandoned)."""
    try:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk
    finally:
        handle.close()


def open_logfile(identifier: str) -> Iterator[bytes] | None:
    """The stored log's content in chunks, ungzipped if needed; None if absent."""
    path = logfile_path(identifier)
    if path.is_file():
        return _chunks(path.open("rb"))
    compressed = _inside(path.parent, identifier + GZIP_SUFFIX)
    if compressed.is_file():
        return _chunks(gzip.open(compressed, "rb"))
    return None


# --- reading a part of a log (the dashboard's viewer) ---------------------------


@dataclass(frozen=True)
class LogExcerpt:
    """A part of a stored log, in bytes of its uncompressed content.

    ``data`` is the content from ``start`` to ``end``; ``size`` is how much
    the log held when it was read. ``start`` is past the offset asked for
    when bytes were skipped to keep the excerpt within its limit.
    """

    data: bytes
    start: int
    end: int
    size: int
    compressed: bool

    @property
    def text(self) -> str:
        """The excerpt decoded as UTF-8 (undecodable bytes replaced)."""
        return self.data.decode("utf-8", errors="replace")


def _complete_utf8(data: bytes) -> int:
    """The length of ``data`` without a trailing, incomplete UTF-8 character.

    A log still being written may end half-way through a character; the
    rest follows in the next read.
    """
    lead = len(data) - 1
    # Continuation bytes are 10xxxxxx; a character has at most three.
    while lead >= 0 and len(data) - lead <= 3 and data[lead] & 0xC0 == 0x80:
        lead -= 1
    if lead < 0:
        return len(data)
    byte = data[lead]
    expected = 1
    if byte & 0xE0 == 0xC0:
        expected = 2
    elif byte & 0xF0 == 0xE0:
        expected = 3
    elif byte & 0xF8 == 0xF0:
        expected = 4
    return lead if lead + expected > len(data) else len(data)


def _excerpt(
    data: bytes, *, start: int, size: int, skipped: bool, compressed: bool
) -> LogExcerpt:
    """Cut ``data`` (read from ``start``) to whole lines in front, whole characters
    at the end."""
    if skipped:
        # The excerpt begins in the middle of the log: start on a line.
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1 :]
            start += newline + 1
    data = data[: _complete_utf8(data)]
    return LogExcerpt(
        data=data,
        start=start,
        end=start + len(data),
        size=size,
        compressed=compressed,
    )


def _read_plain(path: Path, offset: int | None, limit: int) -> LogExcerpt:
    """Seek to the part wanted: a plain file is never read whole."""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        wanted = 0 if offset is None else min(offset, size)
        start = max(wanted, size - limit)
        handle.seek(start)
        data = handle.read(size - start)
    return _excerpt(
        data,
        start=start,
        size=size,
        skipped=start > wanted,
        compressed=False,
    )


def _read_stream(chunks: Iterator[bytes], offset: int | None, limit: int) -> LogExcerpt:
    """Stream through a gzipped log, keeping only the last ``limit`` bytes wanted."""
    wanted = 0 if offset is None else offset
    kept = bytearray()
    kept_start = 0
    position = 0
    for chunk in chunks:
        chunk_start, position = position, position + len(chunk)
        if position <= wanted:
            continue
        if not kept:
            kept_start = max(chunk_start, wanted)
            chunk = chunk[kept_start - chunk_start :]
        kept += chunk
        if len(kept) > 2 * limit:
            # Drop the front now and then: memory stays within 2 * limit.
            drop = len(kept) - limit
            del kept[:drop]
            kept_start += drop
    if len(kept) > limit:
        drop = len(kept) - limit
        del kept[:drop]
        kept_start += drop
    if not kept:
        kept_start = position
    return _excerpt(
        bytes(kept),
        start=kept_start,
        size=position,
        skipped=kept_start > min(wanted, position),
        compressed=True,
    )


def read_logfile(
    identifier: str, *, offset: int | None = None, limit: int = 256 * 1024
) -> LogExcerpt | None:
    """A bounded part of the stored log ``identifier``; None when it is absent.

    Without ``offset``, the tail: the last ``limit`` bytes, from the start
    of a line. With ``offset``, what follows it; when more than ``limit``
    bytes follow, only the last ``limit`` of them (``start`` tells where
    they begin). An offset past the end gives an empty excerpt at the end.
    A plain file is read by seeking; a gzipped one is streamed through with
    memory bounded by ``limit``. Raises ValidationError for an unacceptable
    identifier.
    """
    if offset is not None and offset < 0:
        raise ValueError("offset must not be negative")
    path = logfile_path(identifier)
    try:
        return _read_plain(path, offset, limit)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        # Not there, or compressed (and removed) since: try the gzipped copy.
        pass
    chunks = open_logfile(identifier)
    if chunks is None:
        return None
    return _read_stream(chunks, offset, limit)
