"""The embedded broker: kombu's filesystem transport, safe for several processes.

kombu's filesystem transport (``filesystem://``) keeps each message in a file
of a folder that the web server, the worker and beat share. As shipped (kombu
5.7) it is not safe between processes:

- a sender creates the message file empty, then locks and writes it, while a
  reader neither takes the lock nor checks what it read: a worker that lists
  the folder between the two reads an empty or half-written file, and the
  ``JSONDecodeError`` stops the worker ("Unrecoverable error");
- exchange tables (the control folder) are rewritten in place, so a sender
  can read one half-written and fail in the same way.

This transport keeps kombu's folder layout and file names (processes of both
kinds can share a folder) and changes how files are written and read:

- every file is written under a temporary name in the same folder (which no
  reader picks up) and renamed into place, so it is complete or absent;
- a reader skips a message file that a writer still holds locked (kombu's own
  writers), and one that is empty or not valid JSON, and tries it again at
  its next poll; a file that stays unreadable for `UNREADABLE_GRACE` seconds,
  or that is complete JSON but no message, is moved into the ``bad_folder``
  with one log line. The worker never stops on a file, and a good message is
  delivered exactly once: readers claim it by removing it, which only one of
  them can do.

Select it with Celery's ``broker_transport`` (``pyfarm_site.settings`` does,
for ``filesystem://``); its transport options are kombu's, plus
``bad_folder`` and ``unreadable_grace``.
"""

from __future__ import annotations

import fcntl
import logging
import time
import uuid
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

logger = logging.getLogger(__name__)

#: Seconds a message file may stay unreadable (empty, incomplete) before it
#: is moved aside. kombu's own writers fill a file microseconds after they
#: create it; ours never show an incomplete file at all.
UNREADABLE_GRACE = 5.0

#: Attempts, and the pause between them, to read an exchange table that a
#: kombu writer (which rewrites it in place) may be writing.
TABLE_READ_ATTEMPTS = 5
TABLE_READ_PAUSE = 0.05


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see all of it or no file.

    The data goes to a hidden temporary file in the same folder (a name no
    reader takes for a message: it does not end in ``<queue>.msg``), which is
    then renamed over ``path``; a rename within a folder is atomic.
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("xb") as stream:
            stream.write(data)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def sort_key(name: str) -> tuple[int, str]:
    """Order message files by the number (milliseconds) their names start with.

    kombu names messages ``<monotonic ms>_<uuid>.<queue>.msg``; comparing the
    length first keeps ``999_…`` before ``1000_…``.
    """
    stamp = name.partition("_")[0]
    return len(stamp), name


class Channel(filesystem.Channel):
    """kombu's filesystem channel with atomic writes and guarded reads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Message files found unreadable, with when this channel first saw them.
        self._unreadable: dict[str, float] = {}
        # Files that could not even be moved aside: skipped for good.
        self._given_up: set[str] = set()

    # --- Options ----------------------------------------------------------------

    @cached_property
    def bad_folder(self) -> Path:
        """Where unreadable message files are moved (default: beside the queue)."""
        folder = self.transport_options.get("bad_folder")
        if folder:
            return Path(folder)
        return Path(self.data_folder_in).parent / "bad"

    @cached_property
    def unreadable_grace(self) -> float:
        """Seconds an unreadable message file is retried before it is moved."""
        return float(self.transport_options.get("unreadable_grace", UNREADABLE_GRACE))

    # --- Messages ---------------------------------------------------------------

    # kombu's virtual and filesystem channels name the second argument
    # differently; this follows the filesystem one, which it replaces.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put a message on ``queue``: one file, written atomically."""
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        path = Path(self.data_folder_out) / name
        try:
            write_atomically(path, dumps(payload).encode())
        except OSError as exc:
            raise ChannelError(f"Cannot add file {str(path)!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        """The oldest readable message of ``queue``, claimed; else `Empty`."""
        wanted = f"{queue}.msg"
        folder = Path(self.data_folder_in)
        try:
            entries = list(folder.iterdir())
        except FileNotFoundError:
            # Removed under us (a /tmp cleaner): make it again, and wait.
            folder.mkdir(parents=True, exist_ok=True)
            raise Empty() from None
        names = sorted(
            (entry.name for entry in entries if entry.name.partition(".")[2] == wanted),
            key=sort_key,
        )
        self._forget_gone(wanted, names)
        for name in names:
            if name in self._given_up:
                continue
            path = folder / name
            payload, problem, final = self._read_message(path)
            if problem is None:
                claimed, problem = self._claim(path)
                if claimed:
                    self._unreadable.pop(name, None)
                    return payload
                if problem is None:
                    continue  # another consumer took it
            if problem is not None:
                self._on_unreadable(path, problem, final=final)
        raise Empty()

    def _read_message(self, path: Path) -> tuple[Any, str | None, bool]:
        """Read one message file without taking it.

        Returns ``(payload, problem, final)``: ``problem`` is None for a good
        message, and says what is wrong otherwise; ``final`` is true when
        waiting cannot help (complete JSON that is no message).
        """
        try:
            with path.open("rb") as stream:
                try:
                    # kombu's writers hold an exclusive lock while they write.
                    fcntl.flock(stream.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return None, "", False  # being written: not a problem yet
                data = stream.read()
        except FileNotFoundError:
            return None, "", False  # claimed by another consumer meanwhile
        except OSError as exc:
            return None, f"cannot be read ({exc.strerror})", False
        if not data:
            return None, "empty", False
        try:
            payload = loads(bytes_to_str(data))
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            return None, "not complete JSON", False
        try:
            # What the consumer will do with it: fail here, not in the worker.
            self.Message(payload, channel=self)
        except Exception as exc:
            return None, f"not a message ({type(exc).__name__}: {exc})", True
        return payload, None, False

    def _claim(self, path: Path) -> tuple[bool, str | None]:
        """Take a message file out of the queue; only one consumer succeeds.

        Returns ``(claimed, problem)``.
        """
        try:
            if self.store_processed:
                Path(self.processed_folder).mkdir(parents=True, exist_ok=True)
                path.rename(Path(self.processed_folder) / path.name)
            else:
                path.unlink()
        except FileNotFoundError:
            return False, None
        except OSError as exc:
            return False, f"cannot be taken from the queue ({exc.strerror})"
        return True, None

    def _on_unreadable(self, path: Path, problem: str, *, final: bool) -> None:
        """Retry an unreadable file later; move it aside once it stays so."""
        if not problem:
            return  # being written, or gone: look again at the next poll
        now = time.monotonic()
        first_seen = self._unreadable.setdefault(path.name, now)
        if final or now - first_seen >= self.unreadable_grace:
            self._unreadable.pop(path.name, None)
            self._move_aside(path, problem)

    def _move_aside(self, path: Path, problem: str) -> None:
        """Move an unreadable message file into the bad folder, saying so once."""
        target = self.bad_folder / path.name
        try:
            self.bad_folder.mkdir(parents=True, exist_ok=True)
            path.replace(target)
        except FileNotFoundError:
            return  # another consumer moved it
        except OSError as exc:
            self._given_up.add(path.name)
            logger.error(
                "broker message %s is %s and cannot be moved to %s (%s); skipping it",
                path,
                problem,
                self.bad_folder,
                exc.strerror,
            )
            return
        logger.warning(
            "broker message %s was %s; moved it to %s", path, problem, target
        )

    def _forget_gone(self, wanted: str, names: list[str]) -> None:
        """Drop the bookkeeping of this queue's files that are gone."""
        present = set(names)
        for name in [n for n in self._unreadable if n.partition(".")[2] == wanted]:
            if name not in present:
                del self._unreadable[name]

    # --- Exchange tables (control folder) ---------------------------------------

    def get_table(self, exchange: str) -> list[filesystem.exchange_queue_t]:
        """The bindings of ``exchange``; an empty list when it has none."""
        path = self._exchange_file(exchange)
        for attempt in range(TABLE_READ_ATTEMPTS):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return []
            except OSError as exc:
                raise ChannelError(f"Cannot open {path}") from exc
            table = self._parse_table(data)
            if table is not None:
                return table
            if attempt + 1 < TABLE_READ_ATTEMPTS:
                time.sleep(TABLE_READ_PAUSE)
        raise ChannelError(
            f"broker exchange table {path} is unreadable; "
            "delete it and restart the workers to rebuild it"
        )

    @staticmethod
    def _parse_table(data: bytes) -> list[filesystem.exchange_queue_t] | None:
        """An exchange table from a file's bytes, or None if they are not one."""
        try:
            rows = loads(bytes_to_str(data))
            return [filesystem.exchange_queue_t(*row) for row in rows]
        except (ValueError, TypeError):
            return None

    def _update_table(self, exchange: str, change: Any) -> None:
        """Rewrite the table of ``exchange`` with ``change(rows)``, atomically.

        Writers of one table take turns through a lock file beside it; readers
        need no lock, since the table is replaced whole.
        """
        path = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(f"{path.name}.lock")
        try:
            with lock_path.open("ab") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    data = b"[]"
                rows = self._parse_table(data)
                if rows is None:
                    logger.warning(
                        "broker exchange table %s was unreadable; rebuilt", path
                    )
                    rows = []
                changed = change(rows)
                if changed is not None:
                    write_atomically(path, dumps(changed).encode())
        except OSError as exc:
            raise ChannelError(f"Cannot open {path}") from exc

    def _queue_bind(
        self, exchange: str, routing_key: str, pattern: str, queue: str
    ) -> None:
        """Bind ``queue`` to ``exchange`` (once)."""
        binding = filesystem.exchange_queue_t(
            routing_key or "", pattern or "", queue or ""
        )

        def add(rows: list[filesystem.exchange_queue_t]) -> list[Any] | None:
            return None if binding in rows else [binding, *rows]

        self._update_table(exchange, add)

    def _delete(
        self,
        queue: str,
        exchange: str,
        routing_key: str,
        pattern: str,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Delete ``queue`` and its binding to ``exchange``."""
        # The virtual channel's bookkeeping, not kombu's in-place rewrite.
        super(filesystem.Channel, self)._delete(
            queue, exchange, routing_key, pattern, *args, **kwargs
        )
        binding = filesystem.exchange_queue_t(
            routing_key or "", pattern or "", queue or ""
        )

        def remove(rows: list[filesystem.exchange_queue_t]) -> list[Any] | None:
            return [row for row in rows if row != binding] if binding in rows else None

        self._update_table(exchange, remove)


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the guarded `Channel`."""

    Channel = Channel
