"""The user's own account: API tokens, notification defaults, password."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.middleware import acting_without_login
from accounts.models import User
from accounts.services import (
    create_token,
    notification_defaults,
    revoke_token,
    set_notification_defaults,
)
from farm.models import JobNotifiedUser
from farm.web.access import refuse
from farm.web.forms_account import NewTokenForm, NotificationDefaultsForm

# The session key under which a new token's key waits for the next page view.
NEW_KEY_SESSION_KEY = "account_new_api_key"
NOTIFIED_JOBS_PER_PAGE = 25
NO_TOKEN_WITHOUT_LOGIN = (
    "No token was created: logins are disabled on this master, and a token "
    "would keep working after they are enabled again. Log in to create one."
)


def _user(request: HttpRequest) -> User:
    """The logged-in user (views here are behind `login_required`)."""
    user = request.user
    assert isinstance(user, User)
    return user


def _page(
    request: HttpRequest,
    *,
    token_form: NewTokenForm | None = None,
    notifications_form: NotificationDefaultsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The account page, with the given forms (bound when they were refused)."""
    user = _user(request)
    subscriptions = (
        JobNotifiedUser.objects.filter(user=user, job__to_be_deleted=False)
        .select_related("job")
        .order_by("-job_id")
    )
    context: dict[str, Any] = {
        "roles": list(user.roles.all()),
        "tokens": list(user.api_tokens.all()),
        "new_key": request.session.pop(NEW_KEY_SESSION_KEY, None),
        "token_form": token_form or NewTokenForm(),
        "acting_without_login": acting_without_login(request),
        "notifications_form": notifications_form
        or NotificationDefaultsForm(initial=dict(notification_defaults(user))),
        "subscriptions": Paginator(subscriptions, NOTIFIED_JOBS_PER_PAGE).get_page(
            request.GET.get("page")
        ),
    }
    response = render(request, "web/account/account.html", context, status=status)
    if context["new_key"]:
        # A page holding a secret is kept by no cache, the browser's included.
        response["Cache-Control"] = "no-store"
    return response


@require_GET
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """``/account/``: who the user is, their API tokens and notification defaults.

    A token's key is on the page once, the first time the page is shown
    after the token's creation; it is not stored anywhere after that.
    """
    return _page(request)


@require_POST
@login_required
def token_create(request: HttpRequest) -> HttpResponse:
    """Create an API token and show its key, once, on the account page.

    The key waits in the session for the redirect to the page (so that a
    reload does not create another token), which takes it out again.
    """
    if acting_without_login(request):
        return refuse(request, NO_TOKEN_WITHOUT_LOGIN, "web:account")
    form = NewTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The token was not created: give it a name.")
        return _page(request, token_form=form, status=400)
    token, key = create_token(user=_user(request), name=form.cleaned_data["name"])
    request.session[NEW_KEY_SESSION_KEY] = {"name": token.name, "key": key}
    messages.success(request, f"Created the token {token.name}.")
    return redirect("web:account")


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own API tokens; another user's is not touched."""
    if revoke_token(user=_user(request), token_id=token_id):
        messages.success(request, "The token was revoked: its key no longer works.")
    else:
        messages.error(request, "No such token of yours: nothing was revoked.")
    return redirect("web:account")


@require_POST
@login_required
def notifications_update(request: HttpRequest) -> HttpResponse:
    """Store the user's notification defaults for the jobs they are added to."""
    form = NotificationDefaultsForm(request.POST)
    if not form.is_valid():
        return _page(request, notifications_form=form, status=400)
    set_notification_defaults(user=_user(request), **form.cleaned_data)
    messages.success(request, "Your notification defaults were saved.")
    return redirect("web:account")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, in the dashboard's layout, back to the account."""

    form_class = PasswordChangeForm
    template_name = "web/account/password_change.html"
    success_url = reverse_lazy("web:account")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        """Change the password (the session stays logged in) and say so."""
        response = super().form_valid(form)
        messages.success(self.request, "Your password was changed.")
        return response
