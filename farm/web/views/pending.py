"""Placeholder while the dashboard is being built (issue #10): must be gone."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse


@login_required
def pending(request: HttpRequest, **kwargs: object) -> HttpResponse:
    """Not built yet."""
    raise Http404("This page is not built yet.")
