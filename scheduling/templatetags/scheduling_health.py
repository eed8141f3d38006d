"""Template tags of the scheduling app: the master's health on the admin's index."""

from __future__ import annotations

from typing import Any

from django import template

from scheduling.health import farm_health

register = template.Library()


@register.inclusion_tag("scheduling/health_module.html")
def farm_health_module() -> dict[str, Any]:
    """The checks of ``/health/`` (`scheduling.health.farm_health`), as a module."""
    return {"health": farm_health()}
