"""Which requests are the API's: `is_api_path`, the one test of the whole site.

The request guard, the error handlers (``pyfarm_site.urls``) and the outage
answers (``pyfarm_site.outages``) answer JSON under the API and pages
elsewhere; they all ask this.
"""

from __future__ import annotations

from django.conf import settings

__all__ = ["is_api_path"]


def is_api_path(path: str) -> bool:
    """Whether ``path`` (a request's path) is under the API's prefix."""
    return path.lstrip("/").startswith(settings.API_PREFIX)
