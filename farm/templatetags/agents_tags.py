"""Template filters of the agents and job queues pages."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def frame(value: Decimal | float | int | None) -> str:
    """A frame number as people write it: ``10``, ``2.5`` (never ``1E+1``)."""
    if value is None:
        return ""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return f"{number.normalize():f}"
