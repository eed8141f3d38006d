"""The site's root: first-run setup, then the jobs list."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def index(request: HttpRequest) -> HttpResponse:
    """``/``: the setup page while no user exists, else the jobs list.

    Anonymous visitors are sent on to the jobs list too, whose login check
    brings them to the login page and back.
    """
    if not request.user.is_authenticated and not get_user_model().objects.exists():
        return redirect("accounts:setup")
    return redirect("web:jobs")
