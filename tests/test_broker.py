"""The embedded broker (pyfarm_site.broker): atomic writes and guarded reads.

These drive the transport's channel directly, through a kombu connection on
folders of the test; scheduling/tests/test_celery.py runs a real worker on it.
"""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError

from pyfarm_site import broker
from pyfarm_site.broker import Channel, Transport, sort_key, write_atomically

QUEUE = "celery"


def _options(folder: Path, **extra: Any) -> dict[str, Any]:
    (folder / "queue").mkdir(exist_ok=True)
    (folder / "control").mkdir(exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "bad_folder": str(folder / "bad"),
        **extra,
    }


@pytest.fixture
def make_channel(tmp_path: Path) -> Iterator[Any]:
    """``make_channel(**options)``: a channel of the transport on ``tmp_path``."""
    connections: list[Connection] = []

    def make(**extra: Any) -> Channel:
        connection = Connection(
            "filesystem://",
            transport=Transport,
            transport_options=_options(tmp_path, **extra),
        )
        connections.append(connection)
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        return channel

    yield make
    for connection in connections:
        connection.release()


def _message(channel: Channel, text: str) -> dict[str, Any]:
    """A message as kombu stores it, with ``text`` as its body."""
    message = channel.prepare_message(text, content_type="text/plain")
    message["properties"]["delivery_tag"] = text
    return message


def _queue_files(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in (tmp_path / "queue").iterdir())


def _bad_files(tmp_path: Path) -> list[str]:
    folder = tmp_path / "bad"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# --- Writing ---------------------------------------------------------------------


def test_a_message_is_one_complete_file_named_as_kombu_names_it(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel()

    channel._put(QUEUE, _message(channel, "hello"))

    [name] = _queue_files(tmp_path)
    stamp, _, rest = name.partition("_")
    assert stamp.isdigit()
    assert rest.partition(".")[2] == f"{QUEUE}.msg"
    content = json.loads((tmp_path / "queue" / name).read_text())
    assert content["body"] == "hello"


def test_a_write_that_fails_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "1_x.celery.msg"

    def fail(self: Path, other: Any) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        write_atomically(target, b"{}")

    assert list(tmp_path.iterdir()) == []


def test_the_file_appears_only_once_written(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "1_x.celery.msg"
    seen_during_write: list[list[str]] = []
    original = Path.replace

    def replace(self: Path, other: Any) -> Path:
        seen_during_write.append(sorted(p.name for p in tmp_path.iterdir()))
        return original(self, other)

    monkeypatch.setattr(Path, "replace", replace)
    write_atomically(target, b'{"a": 1}')

    # While it was written, only a hidden name that no reader takes existed.
    [names] = seen_during_write
    assert target.name not in names
    assert all(name.startswith(".") and name.endswith(".tmp") for name in names)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# --- Reading -------------------------------------------------------------------


def test_a_message_is_read_once_and_removed(make_channel: Any, tmp_path: Path) -> None:
    channel = make_channel()
    channel._put(QUEUE, _message(channel, "hello"))

    assert channel._get(QUEUE)["body"] == "hello"
    with pytest.raises(Empty):
        channel._get(QUEUE)
    assert _queue_files(tmp_path) == []


def test_messages_come_out_oldest_first_even_across_a_digit(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel()
    for stamp, text in [("1000", "second"), ("999", "first")]:
        path = tmp_path / "queue" / f"{stamp}_x.{QUEUE}.msg"
        path.write_text(json.dumps(_message(channel, text)))

    assert [channel._get(QUEUE)["body"] for _ in range(2)] == ["first", "second"]
    assert sorted(["1000_b", "999_a"], key=sort_key) == ["999_a", "1000_b"]


def test_an_empty_file_is_skipped_and_the_next_message_delivered(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel(unreadable_grace=60)
    (tmp_path / "queue" / f"1_empty.{QUEUE}.msg").touch()
    channel._put(QUEUE, _message(channel, "good"))

    assert channel._get(QUEUE)["body"] == "good"
    with pytest.raises(Empty):
        channel._get(QUEUE)
    # Within its grace period, the empty file stays where it is.
    assert _queue_files(tmp_path) == [f"1_empty.{QUEUE}.msg"]


def test_a_half_written_message_is_delivered_once_complete(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel(unreadable_grace=60)
    text = json.dumps(_message(channel, "late"))
    path = tmp_path / "queue" / f"1_half.{QUEUE}.msg"
    path.write_text(text[: len(text) // 2])

    with pytest.raises(Empty):
        channel._get(QUEUE)
    path.write_text(text)

    assert channel._get(QUEUE)["body"] == "late"
    assert _bad_files(tmp_path) == []


def test_a_file_that_stays_unreadable_is_moved_aside_with_one_log_line(
    make_channel: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    channel = make_channel(unreadable_grace=0)
    (tmp_path / "queue" / f"1_empty.{QUEUE}.msg").touch()
    (tmp_path / "queue" / f"2_half.{QUEUE}.msg").write_text('{"body": "x", "pro')

    with caplog.at_level(logging.WARNING, logger="pyfarm_site.broker"):
        with pytest.raises(Empty):
            channel._get(QUEUE)
        with pytest.raises(Empty):
            channel._get(QUEUE)

    assert _queue_files(tmp_path) == []
    assert _bad_files(tmp_path) == [f"1_empty.{QUEUE}.msg", f"2_half.{QUEUE}.msg"]
    assert [record.getMessage().split(" was ")[1] for record in caplog.records] == [
        f"empty; moved it to {tmp_path}/bad/1_empty.{QUEUE}.msg",
        f"not complete JSON; moved it to {tmp_path}/bad/2_half.{QUEUE}.msg",
    ]


def test_json_that_is_no_message_is_moved_aside_at_once(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel(unreadable_grace=60)
    (tmp_path / "queue" / f"1_list.{QUEUE}.msg").write_text("[1, 2]")
    (tmp_path / "queue" / f"2_props.{QUEUE}.msg").write_text('{"body": "x"}')

    with pytest.raises(Empty):
        channel._get(QUEUE)

    assert _bad_files(tmp_path) == [f"1_list.{QUEUE}.msg", f"2_props.{QUEUE}.msg"]


def test_a_file_its_writer_holds_locked_is_left_alone(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel(unreadable_grace=0)
    path = tmp_path / "queue" / f"1_locked.{QUEUE}.msg"
    # What kombu's own writer does: create the file, lock it, then write.
    with path.open("wb") as stream:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
        with pytest.raises(Empty):
            channel._get(QUEUE)
        assert _queue_files(tmp_path) == [path.name]
        stream.write(json.dumps(_message(channel, "written")).encode())
        stream.flush()

    assert channel._get(QUEUE)["body"] == "written"


def test_the_grace_period_counts_from_when_the_file_was_first_seen(
    make_channel: Any, tmp_path: Path, monkeypatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(broker.time, "monotonic", lambda: now[0])
    channel = make_channel(unreadable_grace=5)
    (tmp_path / "queue" / f"1_empty.{QUEUE}.msg").touch()

    for moment in (1000.0, 1004.9):
        now[0] = moment
        with pytest.raises(Empty):
            channel._get(QUEUE)
        assert _bad_files(tmp_path) == []
    now[0] = 1005.0
    with pytest.raises(Empty):
        channel._get(QUEUE)

    assert _bad_files(tmp_path) == [f"1_empty.{QUEUE}.msg"]


def test_a_message_another_consumer_took_is_not_delivered_again(
    make_channel: Any, tmp_path: Path, monkeypatch
) -> None:
    channel = make_channel()
    channel._put(QUEUE, _message(channel, "once"))
    assert len(_queue_files(tmp_path)) == 1
    read = Channel._read_message

    def read_then_lose_the_race(self: Channel, path: Path) -> Any:
        result = read(self, path)
        path.unlink()  # the other consumer claims it between read and claim
        return result

    monkeypatch.setattr(Channel, "_read_message", read_then_lose_the_race)

    with pytest.raises(Empty):
        channel._get(QUEUE)
    assert _bad_files(tmp_path) == []


def test_a_queue_folder_removed_under_the_worker_is_made_again(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel()
    (tmp_path / "queue").rmdir()

    with pytest.raises(Empty):
        channel._get(QUEUE)
    assert (tmp_path / "queue").is_dir()


# --- Exchange tables ---------------------------------------------------------------


def test_bindings_are_written_whole_and_read_back(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel()

    channel._queue_bind("jobs", "a", "", "qa")
    channel._queue_bind("jobs", "b", "", "qb")
    channel._queue_bind("jobs", "a", "", "qa")  # once only

    assert [tuple(row) for row in channel.get_table("jobs")] == [
        ("b", "", "qb"),
        ("a", "", "qa"),
    ]
    assert json.loads((tmp_path / "control" / "jobs.exchange").read_text()) == [
        ["b", "", "qb"],
        ["a", "", "qa"],
    ]
    assert not [p for p in (tmp_path / "control").iterdir() if p.suffix == ".tmp"]


def test_deleting_a_queue_removes_its_binding(make_channel: Any) -> None:
    channel = make_channel()
    channel._queue_bind("jobs", "a", "", "qa")
    channel._queue_bind("jobs", "b", "", "qb")

    channel._delete("qa", "jobs", "a", "")

    assert [row.queue for row in channel.get_table("jobs")] == ["qb"]


def test_an_unknown_exchange_has_no_bindings(make_channel: Any) -> None:
    assert make_channel().get_table("nothing") == []


def test_an_unreadable_table_is_an_error_naming_the_file(
    make_channel: Any, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(broker, "TABLE_READ_PAUSE", 0)
    channel = make_channel()
    (tmp_path / "control" / "jobs.exchange").write_text("")

    with pytest.raises(ChannelError, match=r"jobs\.exchange is unreadable"):
        channel.get_table("jobs")


def test_binding_rebuilds_an_unreadable_table(
    make_channel: Any, tmp_path: Path
) -> None:
    channel = make_channel()
    (tmp_path / "control" / "jobs.exchange").write_text('[["a", ')

    channel._queue_bind("jobs", "b", "", "qb")

    assert [row.queue for row in channel.get_table("jobs")] == ["qb"]
