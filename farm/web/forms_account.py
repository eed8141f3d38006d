"""Forms of the account page: a new API token, the notification defaults."""

from __future__ import annotations

from django import forms

from accounts.models import ApiToken


class NewTokenForm(forms.Form):
    """The name of a new API token (where it will be used)."""

    name = forms.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="Where the key will be used, e.g. 'render submit script'.",
    )


class NotificationDefaultsForm(forms.Form):
    """Which events of a job the user wants an email about, by default."""

    on_success = forms.BooleanField(required=False, label="When a job succeeds")
    on_failure = forms.BooleanField(required=False, label="When a job fails")
    on_deletion = forms.BooleanField(required=False, label="When a job is deleted")
