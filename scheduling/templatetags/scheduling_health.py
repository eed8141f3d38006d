"""Template tags of the scheduling app: the master's health on the admin's index."""

from __future__ import annotations

from typing import Any

from django import template

from scheduling.health import recent_health

register = template.Library()


@register.inclusion_tag("scheduling/health_module.html")
def farm_health_module() -> dict[str, Any]:
    """The checks of ``/health/`` (`scheduling.health.recent_health`), as a module."""
    return {"health": recent_health.get()}
