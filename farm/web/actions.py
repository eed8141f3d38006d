"""The dashboard's changes: POST a form, call a service, say how it went, redirect.

Every change of the catalog pages (job types, software) and of an agent's
page goes the same way: the form is checked, the service is called, a
refusal (an invalid form or the service's error) becomes an error message on
the page the user came from (`farm.web.access.refuse`) and changes nothing,
a success a message and a redirect. `service_action` does that once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from farm.services.errors import ConflictError
from farm.web.access import refuse

__all__ = ["error_text", "form_errors", "service_action"]

T = TypeVar("T")

#: What a service raises when it refuses a change.
REFUSALS: tuple[type[Exception], ...] = (ConflictError, ValidationError)


def error_text(error: Exception) -> str:
    """A service's refusal as one sentence for a message."""
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return "; ".join(
                f"{name}: {' '.join(texts)}" if name != "__all__" else " ".join(texts)
                for name, texts in error.message_dict.items()
            )
        return " ".join(error.messages)
    return str(error)


def form_errors(form: Any) -> str:
    """A bound form's errors as one sentence for a message."""
    return "; ".join(
        f"{form.fields[name].label or name}: {' '.join(errors)}"
        if name in form.fields
        else " ".join(errors)
        for name, errors in form.errors.items()
    )


def service_action(
    request: HttpRequest,
    call: Callable[[], T],
    *,
    done: str | Callable[[T], str],
    failed: str,
    to: str,
    form: forms.BaseForm | None = None,
    refusals: tuple[type[Exception], ...] = REFUSALS,
    then: Callable[[T], HttpResponse] | None = None,
    **kwargs: Any,
) -> HttpResponse:
    """Check ``form``, run ``call``, then show ``done`` and redirect to ``to``.

    ``failed`` is the refusal's message with ``{}`` where the form's or the
    service's errors go (``"Not added: {}"``); a refusal leads back to the
    page the user came from (else ``to``) and changes nothing. ``done`` is
    the success message, or makes it from what ``call`` returned; ``then``
    (given that too) answers instead of the redirect to ``to``. ``kwargs``
    are the URL's arguments.
    """
    if form is not None and not form.is_valid():
        return refuse(request, failed.format(form_errors(form)), to, **kwargs)
    try:
        result = call()
    except refusals as error:
        return refuse(request, failed.format(error_text(error)), to, **kwargs)
    messages.success(request, done if isinstance(done, str) else done(result))
    return then(result) if then is not None else redirect(to, **kwargs)
