"""The health endpoint (``/health/``) for load balancers and operators."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from pyfarm_site.outages import mark_logged
from scheduling.health import CHECKS, recent_health


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """200 if every check passes, else 503; the checks' results as JSON.

    ``?check=database&check=broker`` runs only those checks (a load balancer
    that should not take web servers out when only the scheduler is down).
    No credentials needed; nothing sensitive is shown. A result is reused
    for a few seconds (`scheduling.health.recent_health`).
    """
    names = request.GET.getlist("check") or list(CHECKS)
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        known = ", ".join(CHECKS)
        return JsonResponse(
            {"error": f"unknown check: {', '.join(unknown)} (known: {known})"},
            status=400,
        )
    result = recent_health.get(dict.fromkeys(names))
    # A failing check is the answer, not an error of the server: the log has
    # the details once per minute (scheduling.health), not once per poll.
    return mark_logged(JsonResponse(result.as_dict(), status=200 if result.ok else 503))
