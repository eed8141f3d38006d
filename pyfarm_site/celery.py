"""The Celery application of the scheduler.

Configured from Django's settings (the ``CELERY_`` namespace, JSON only);
tasks are discovered in each app's ``tasks.py``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

app = Celery("pyfarm_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
