"""Forms of the accounts app."""

from __future__ import annotations

from django.contrib.auth.forms import BaseUserCreationForm

from accounts.models import User


class FirstAdminForm(BaseUserCreationForm):
    """Username, email and a confirmed password for the first admin."""

    class Meta:
        model = User
        fields = ["username", "email"]
