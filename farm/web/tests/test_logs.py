"""The task log viewer: the page, its tail -f endpoint and the download."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import Task, TaskTaskLogAssociation
from farm.services.logs import read_logfile
from farm.tests.factories import (
    JobFactory,
    TaskFactory,
    TaskLogFactory,
    TaskTaskLogAssociationFactory,
)
from farm.web.views.logs import TAIL_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.test import Client
    from pytest_django.fixtures import DjangoAssertNumQueries

    from accounts.models import User

pytestmark = pytest.mark.django_db

LINES = b"".join(b"frame 1 line %d\n" % number for number in range(1, 6))


@pytest.fixture
def logs_dir(tmp_path: Path, farm_config: Callable[..., None]) -> Path:
    """``tasklogs_dir`` below pytest's tmp_path, created."""
    directory = tmp_path / "task_logs"
    directory.mkdir()
    farm_config(tasklogs_dir=str(directory))
    return directory


@pytest.fixture
def owner() -> User:
    return UserFactory.create(username="owner")


@pytest.fixture
def running_task(owner: User) -> Task:
    """A running task (attempt 1) of the owner's job."""
    return TaskFactory.create(running=True, job=JobFactory.create(user=owner))


def _log(task: Task, attempt: int = 1, **kwargs: Any) -> TaskTaskLogAssociation:
    return TaskTaskLogAssociationFactory.create(task=task, attempt=attempt, **kwargs)


def _url(task: Task, **query: object) -> str:
    url = reverse("web:task_logs", args=[task.pk])
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


def _more(association: TaskTaskLogAssociation, offset: object) -> str:
    url = reverse("web:task_log_more", args=[association.task_id, association.log_id])
    return f"{url}?offset={offset}"


def _text(response: Any) -> str:
    return response.content.decode()


# --- who may read -------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_log_in(
    client: Client, running_task: Task
) -> None:
    """The viewer needs a login."""
    response = client.get(_url(running_task))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("who", ["admin", "owner", "other"])
def test_every_user_reads_the_log(
    client: Client, logs_dir: Path, running_task: Task, owner: User, who: str
) -> None:
    """Farm admins, the job's owner and other users all read logs (as in the API)."""
    user = {
        "admin": UserFactory.create(admin=True),
        "owner": owner,
        "other": UserFactory.create(),
    }[who]
    association = _log(running_task)
    (logs_dir / association.log.identifier).write_bytes(LINES)
    client.force_login(user)
    response = client.get(_url(running_task))
    assert response.status_code == 200
    assert "frame 1 line 5" in _text(response)


def test_anonymous_visitor_cannot_poll_or_download(
    client: Client, running_task: Task
) -> None:
    """The tail -f endpoint and the download need a login too."""
    association = _log(running_task)
    download = reverse(
        "web:task_log_download", args=[running_task.pk, association.log_id]
    )
    for url in (_more(association, 0), download):
        assert client.get(url).status_code == 302


def test_a_poll_after_the_session_ended_reloads_the_page(
    client: Client, running_task: Task
) -> None:
    """htmx would append a login page to the log: it reloads the page instead."""
    association = _log(running_task)
    response = client.get(_more(association, 0), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"


# --- the page -----------------------------------------------------------------


def test_page_shows_the_task_job_state_and_logs(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """The job (a link back), the frame, the state, the logs with state and agent."""
    association = _log(running_task, state=WorkState.RUNNING)
    (logs_dir / association.log.identifier).write_bytes(LINES)
    response = admin_client.get(_url(running_task))
    page = _text(response)
    assert reverse("web:job", args=[running_task.job_id]) in page
    assert running_task.job.title in page
    assert "badge state-running" in page
    assert association.log.identifier in page
    assert association.log.agent.hostname in page
    assert '<pre class="log" id="log-text"' in page
    assert "frame 1 line 1\nframe 1 line 2" in page


def test_frame_ten_is_not_shown_as_an_exponent(
    admin_client: Client, logs_dir: Path
) -> None:
    """Frame 10 reads "frame 10", not "frame 1E+1"."""
    task = TaskFactory.create(frame=10)
    response = admin_client.get(_url(task))
    assert "frame 10 of" in _text(response)


def test_page_without_logs_says_so(admin_client: Client, logs_dir: Path) -> None:
    """A task that never ran has no log: a note, not an error."""
    task = TaskFactory.create()
    response = admin_client.get(_url(task))
    assert response.status_code == 200
    assert "No log has been registered for this task yet" in _text(response)


def test_unknown_task_is_a_404_page(admin_client: Client) -> None:
    """A task id that does not exist, even a huge one, is a 404 page."""
    for task_id in (999999, 10**30):
        response = admin_client.get(f"/tasks/{task_id}/logs/")
        assert response.status_code == 404


def test_latest_attempt_is_shown_by_default(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """Without a selection, the page shows the latest attempt's log."""
    first = _log(running_task, attempt=1, state=WorkState.FAILED)
    second = _log(running_task, attempt=2)
    (logs_dir / first.log.identifier).write_bytes(b"first attempt\n")
    (logs_dir / second.log.identifier).write_bytes(b"second attempt\n")
    page = _text(admin_client.get(_url(running_task)))
    assert "second attempt" in page
    assert "first attempt" not in page


def test_attempt_and_log_are_selected_in_the_query_string(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """``?attempt=N&log=ID`` shows that log (bookmarkable)."""
    first = _log(running_task, attempt=1, state=WorkState.FAILED)
    second = _log(running_task, attempt=2)
    (logs_dir / first.log.identifier).write_bytes(b"first attempt\n")
    (logs_dir / second.log.identifier).write_bytes(b"second attempt\n")
    page = _text(admin_client.get(_url(running_task, attempt=1, log=first.log_id)))
    assert "first attempt" in page
    assert "second attempt" not in page
    page = _text(admin_client.get(_url(running_task, attempt=1)))
    assert "first attempt" in page
    page = _text(admin_client.get(_url(running_task, log=first.log_id)))
    assert "first attempt" in page


@pytest.mark.parametrize(
    "query",
    [
        {"attempt": "7"},
        {"attempt": "x"},
        {"attempt": "-1"},
        {"attempt": "9" * 40},
        {"attempt": "1", "log": "123456"},
        {"attempt": "1", "log": "abc"},
        {"log": "9" * 40},
    ],
)
def test_bad_selection_is_a_404_page_with_a_message(
    admin_client: Client, logs_dir: Path, running_task: Task, query: dict[str, str]
) -> None:
    """An attempt or log that the task does not have: a message, the list, a 404."""
    association = _log(running_task)
    response = admin_client.get(_url(running_task, **query))
    assert response.status_code == 404
    page = _text(response)
    assert "has no log" in page
    assert association.log.identifier in page
    assert 'id="log-text"' not in page


def test_gzipped_log_reads_transparently(admin_client: Client, logs_dir: Path) -> None:
    """A log compressed by the upkeep (``<identifier>.gz``) shows its text."""
    task = TaskFactory.create(done=True)
    association = _log(task, state=WorkState.DONE)
    with gzip.open(logs_dir / (association.log.identifier + ".gz"), "wb") as handle:
        handle.write(LINES)
    page = _text(admin_client.get(_url(task)))
    assert "frame 1 line 1\nframe 1 line 2" in page


def test_missing_file_is_a_note_not_an_error(
    admin_client: Client, logs_dir: Path
) -> None:
    """A registered log whose file is not on the master: a clear note."""
    task = TaskFactory.create(done=True)
    _log(task, state=WorkState.DONE)
    response = admin_client.get(_url(task))
    assert response.status_code == 200
    page = _text(response)
    assert "The log file is not on the master" in page
    assert "Ask the agent for its copy" in page
    assert 'id="log-text"' not in page


def test_missing_file_of_a_running_task_waits_for_it(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """While the attempt runs, the page polls from offset 0 until the file comes."""
    association = _log(running_task)
    page = _text(admin_client.get(_url(running_task)))
    assert "not on the master yet" in page
    assert _more(association, 0) in page


def test_big_log_shows_only_its_tail_from_a_line_start(
    admin_client: Client, logs_dir: Path
) -> None:
    """A 5 MB log: the last 256 KiB from a line's start, a note and the download."""
    task = TaskFactory.create(done=True)
    association = _log(task, state=WorkState.DONE)
    path = logs_dir / association.log.identifier
    with path.open("wb") as handle:
        for number in range(200_000):
            handle.write(b"rendering tile %07d of frame 1\n" % number)
    response = admin_client.get(_url(task))
    page = _text(response)
    text = response.context["excerpt"].text
    assert TAIL_BYTES - 40 < len(text) <= TAIL_BYTES
    assert text.startswith("rendering tile ")
    assert text.endswith("rendering tile 0199999 of frame 1\n")
    assert "rendering tile 0000000 " not in page
    assert "only its last" in page
    download = reverse("web:task_log_download", args=[task.pk, association.log_id])
    assert download in page


def test_big_gzipped_log_shows_only_its_tail(
    admin_client: Client, logs_dir: Path
) -> None:
    """A compressed big log is streamed through; the page gets its tail."""
    task = TaskFactory.create(done=True)
    association = _log(task, state=WorkState.DONE)
    with gzip.open(logs_dir / (association.log.identifier + ".gz"), "wb") as handle:
        for number in range(200_000):
            handle.write(b"rendering tile %07d of frame 1\n" % number)
    response = admin_client.get(_url(task))
    excerpt = response.context["excerpt"]
    assert excerpt.compressed
    assert excerpt.size == 200_000 * 34
    assert len(excerpt.data) <= TAIL_BYTES
    assert excerpt.text.endswith("rendering tile 0199999 of frame 1\n")
    assert "only its last" in _text(response)


def test_page_of_a_running_task_polls_for_more(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """A running attempt's log polls from the end of what the page shows."""
    association = _log(running_task, state=WorkState.RUNNING)
    (logs_dir / association.log.identifier).write_bytes(LINES)
    page = _text(admin_client.get(_url(running_task)))
    assert _more(association, len(LINES)) in page
    assert 'hx-swap="beforeend"' in page
    assert "[document.visibilityState === 'visible']" in page


def test_page_of_an_ended_task_does_not_poll(
    admin_client: Client, logs_dir: Path
) -> None:
    """Done, or an older attempt of a running task: nothing to follow."""
    task = TaskFactory.create(done=True)
    association = _log(task, state=WorkState.DONE)
    (logs_dir / association.log.identifier).write_bytes(LINES)
    page = _text(admin_client.get(_url(task)))
    assert "hx-get" not in page


def test_page_answers_in_a_constant_number_of_queries(
    admin_client: Client,
    logs_dir: Path,
    running_task: Task,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """Session, user, roles; the task with job and agent; its logs: five queries."""
    for attempt in (1, 2, 3):
        for _ in range(3):
            _log(running_task, attempt=attempt)
    with django_assert_num_queries(5):
        response = admin_client.get(_url(running_task))
    assert response.status_code == 200


# --- tail -f ------------------------------------------------------------------


def test_more_returns_the_bytes_after_the_offset(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """The text after the offset, and a follower polling from the new end."""
    association = _log(running_task)
    path = logs_dir / association.log.identifier
    path.write_bytes(LINES + b"appended line\n")
    response = admin_client.get(_more(association, len(LINES)))
    assert response.status_code == 200
    body = _text(response)
    assert body.endswith("appended line\n")
    assert "frame 1 line" not in body
    assert 'hx-swap-oob="true"' in body
    assert _more(association, len(LINES) + 14) in body


def test_more_at_the_end_returns_no_text(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """Nothing new: no text, the same offset."""
    association = _log(running_task)
    (logs_dir / association.log.identifier).write_bytes(LINES)
    body = _text(admin_client.get(_more(association, len(LINES))))
    assert body.endswith("</span>")
    assert _more(association, len(LINES)) in body


def test_more_beyond_the_end_continues_from_the_end(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """An offset past the end (a file replaced by a shorter one) brings nothing."""
    association = _log(running_task)
    (logs_dir / association.log.identifier).write_bytes(LINES)
    response = admin_client.get(_more(association, 10**9))
    assert response.status_code == 200
    assert _more(association, len(LINES)) in _text(response)


@pytest.mark.parametrize("offset", ["-1", "abc", "", "1.5", "9" * 40, "²"])
def test_more_with_a_bad_offset_is_a_400(
    admin_client: Client, logs_dir: Path, running_task: Task, offset: str
) -> None:
    """Negative, fractional, huge or garbage offsets: a 400, never a 500."""
    association = _log(running_task)
    response = admin_client.get(_more(association, offset))
    assert response.status_code == 400


def test_more_for_an_unknown_log_is_a_404(
    admin_client: Client, running_task: Task
) -> None:
    """A log that is not the task's: 404."""
    other = _log(TaskFactory.create())
    url = reverse("web:task_log_more", args=[running_task.pk, other.log_id])
    assert admin_client.get(f"{url}?offset=0").status_code == 404


def test_more_stops_polling_once_the_task_ended(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """After the task ended, the last bytes come with a follower that stops."""
    association = _log(running_task)
    (logs_dir / association.log.identifier).write_bytes(LINES + b"last line\n")
    Task.objects.filter(pk=running_task.pk).update(state=WorkState.DONE)
    body = _text(admin_client.get(_more(association, len(LINES))))
    assert body.endswith("last line\n")
    assert "hx-get" not in body
    assert "The attempt has ended." in body
    assert "badge state-done" in body


def test_more_skips_ahead_when_too_much_arrived(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """Megabytes appended between two polls: a note, and only their tail."""
    association = _log(running_task)
    path = logs_dir / association.log.identifier
    with path.open("wb") as handle:
        for number in range(100_000):
            handle.write(b"line %07d\n" % number)
    body = _text(admin_client.get(_more(association, 0)))
    assert "skipped: download the whole log" in body
    assert "line 0000000" not in body
    assert body.endswith("line 0099999\n")


def test_more_waits_for_a_missing_file(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """No file yet: no text, the follower keeps polling from the same offset."""
    association = _log(running_task)
    body = _text(admin_client.get(_more(association, 0)))
    assert _more(association, 0) in body


def test_more_drops_the_missing_note_when_the_file_arrives(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """The first bytes of a file that was missing remove the page's note."""
    association = _log(running_task)
    (logs_dir / association.log.identifier).write_bytes(LINES)
    body = _text(admin_client.get(_more(association, 0)))
    assert '<p id="log-missing" hx-swap-oob="delete"></p>' in body
    assert body.endswith("frame 1 line 5\n")


def test_more_does_not_split_a_character(
    admin_client: Client, logs_dir: Path, running_task: Task
) -> None:
    """A log written half-way through a UTF-8 character: the rest comes later."""
    association = _log(running_task)
    path = logs_dir / association.log.identifier
    path.write_bytes("caf\u00e9".encode()[:-1])
    body = _text(admin_client.get(_more(association, 0)))
    assert body.endswith("caf")
    assert _more(association, 3) in body


# --- download -----------------------------------------------------------------


def test_download_streams_the_whole_gzipped_log(
    admin_client: Client, logs_dir: Path
) -> None:
    """The download is the whole, ungzipped log, as an attachment."""
    task = TaskFactory.create(done=True)
    association = _log(task)
    content = LINES * 50_000
    with gzip.open(logs_dir / (association.log.identifier + ".gz"), "wb") as handle:
        handle.write(content)
    response = admin_client.get(
        reverse("web:task_log_download", args=[task.pk, association.log_id])
    )
    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == content
    assert response["Content-Disposition"].startswith("attachment;")
    assert association.log.identifier in response["Content-Disposition"]


def test_download_of_a_missing_file_returns_to_the_viewer(
    admin_client: Client, logs_dir: Path
) -> None:
    """No file: back to the viewer, on that log, with a message."""
    task = TaskFactory.create(done=True)
    association = _log(task)
    response = admin_client.get(
        reverse("web:task_log_download", args=[task.pk, association.log_id]),
        follow=True,
    )
    assert response.status_code == 200
    assert "is not on the master" in _text(response)


def test_download_of_another_tasks_log_is_a_404(
    admin_client: Client, running_task: Task
) -> None:
    """The log must belong to the task in the URL."""
    other = _log(TaskFactory.create())
    url = reverse("web:task_log_download", args=[running_task.pk, other.log_id])
    assert admin_client.get(url).status_code == 404


# --- the reading service ----------------------------------------------------------


def test_read_logfile_refuses_a_negative_offset(logs_dir: Path) -> None:
    """Offsets count bytes from the start."""
    log = TaskLogFactory.create()
    with pytest.raises(ValueError):
        read_logfile(log.identifier, offset=-1)


def test_read_logfile_streams_gzip_in_bounded_memory(logs_dir: Path) -> None:
    """The gzipped reader keeps the tail only, whatever the offset."""
    log = TaskLogFactory.create()
    content = b"".join(b"%06d\n" % number for number in range(100_000))
    with gzip.open(logs_dir / (log.identifier + ".gz"), "wb") as handle:
        handle.write(content)
    for offset in (None, 0, 7, 599_990, 700_000):
        excerpt = read_logfile(log.identifier, offset=offset, limit=1000)
        assert excerpt is not None
        assert excerpt.data == content[excerpt.start : excerpt.end]
        assert excerpt.end == len(content)
        assert len(excerpt.data) <= 1000


def test_more_answers_in_a_constant_number_of_queries(
    admin_client: Client,
    logs_dir: Path,
    running_task: Task,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """Session, user, roles, the log with its task: four queries per poll."""
    association = _log(running_task)
    (logs_dir / association.log.identifier).write_bytes(LINES)
    with django_assert_num_queries(4):
        response = admin_client.get(_more(association, 0))
    assert response.status_code == 200
