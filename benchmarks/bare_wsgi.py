"""The yardstick of ``heartbeat_ab.py``: a bare Django view answering small JSON.

A project of one module: its own minimal settings and URL conf, one view that
answers any path and method with a small JSON object (about the size of a
heartbeat's answer). Served by gunicorn as ``bare_wsgi:application``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="benchmark-only",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
)


@csrf_exempt
def answer(request: HttpRequest, path: str) -> JsonResponse:
    """A small JSON answer, whatever was asked."""
    return JsonResponse(
        {"id": "4f6e2c1a-0000-4000-8000-000000000000", "state": "online"}
    )


urlpatterns: list[Any] = [re_path(r"^(?P<path>.*)$", answer)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
