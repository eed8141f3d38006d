"""The Celery application of the scheduler.

Configured from Django's settings (the ``CELERY_`` namespace, JSON only);
tasks are discovered in each app's ``tasks`` module. Run a worker and beat
with ``manage.py runmaster``, or on their own::

    celery -A pyfarm_site worker -l INFO
    celery -A pyfarm_site beat -l INFO \\
        --scheduler django_celery_beat.schedulers:DatabaseScheduler
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

app = Celery("pyfarm_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

#: The folders of the filesystem transport (pyfarm_site.broker), which it does
#: not create.
FILESYSTEM_FOLDERS = (
    "data_folder_in",
    "data_folder_out",
    "control_folder",
    "bad_folder",
)


def prepare_broker(broker_url: str, transport_options: Mapping[str, Any]) -> None:
    """Create the folders of the embedded (filesystem) broker, if it is the one.

    Every process that talks to the broker (web, worker, beat, commands)
    configures the app first, so each of them makes sure the folders exist.
    """
    if not broker_url.startswith("filesystem:"):
        return
    for option in FILESYSTEM_FOLDERS:
        folder = transport_options.get(option)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _prepare_broker_on_configure(sender: Celery, **kwargs: Any) -> None:
    """Prepare the broker once the app has read its configuration."""
    prepare_broker(
        str(sender.conf.broker_url or ""), sender.conf.broker_transport_options or {}
    )
