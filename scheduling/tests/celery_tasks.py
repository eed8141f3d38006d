"""A task for the tests only: workers started by the tests include this module."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task


@shared_task(name="scheduling.tests.ping")
def ping(path: str, text: str) -> None:
    """Write ``text`` to ``path``: the test sees the task ran in the worker."""
    Path(path).write_text(text)
