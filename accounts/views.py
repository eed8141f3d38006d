"""Login, logout and the first-run setup page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import FirstAdminForm
from accounts.models import User
from accounts.services import SetupAlreadyDone, create_first_admin


@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """Create the first admin while the farm has no user, then refuse (403)."""
    if User.objects.exists():
        return render(request, "accounts/setup_done.html", status=403)
    form = FirstAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            create_first_admin(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except SetupAlreadyDone:
            return render(request, "accounts/setup_done.html", status=403)
        messages.success(request, "The first admin was created. Please log in.")
        return redirect("accounts:login")
    return render(request, "accounts/setup.html", {"form": form})


class LogoutView(auth_views.LogoutView):
    """Log out on POST; a GET (a typed or bookmarked URL) asks to confirm.

    Django's view answers a GET with a blank 405; a page with the button is
    what a person who typed ``/logout/`` expects.
    """

    http_method_names = ["get", "post", "options"]

    def get(
        self, request: HttpRequest, *args: object, **kwargs: object
    ) -> HttpResponse:
        """The confirmation page (or the login page for anonymous visitors)."""
        if not request.user.is_authenticated:
            return redirect("accounts:login")
        return render(request, "registration/logout_confirm.html")
