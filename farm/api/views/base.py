"""Shared view behaviour: name-or-id lookups and legacy status codes."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound


def get_by_name_or_id(
    queryset: QuerySet[Any], value: str, *, name_field: str, label: str
) -> Model:
    """The object whose id is ``value`` (when it is a number) or whose name is.

    The original's URLs take either (``/jobs/12`` or ``/jobs/shot%20010``); a
    number is tried as an id first, then as a name.
    """
    obj = None
    if value.isascii() and value.isdigit() and len(value) <= 18:
        obj = queryset.filter(pk=int(value)).first()
    if obj is None:
        obj = queryset.filter(**{name_field: value}).first()
    if obj is None:
        raise NotFound(f"{label} {value!r} not found")
    return obj
