"""Forms of the job queues page."""

from __future__ import annotations

from typing import Any

from django import forms

from farm.models import JobQueue
from pyfarm_site.conf import default_queue_priority, default_queue_weight

__all__ = ["QueueForm"]


class QueueForm(forms.Form):
    """A new queue: its name, parent and scheduling parameters.

    The service (`farm.services.queues.create_queue`) checks the rest: names
    unique among siblings, no separators, priority bounds.
    """

    name = forms.CharField(max_length=255)
    parent = forms.ModelChoiceField(
        queryset=JobQueue.objects.order_by("fullpath"),
        required=False,
        empty_label="(top level)",
        error_messages={"invalid_choice": "That parent queue does not exist."},
    )
    priority = forms.IntegerField(min_value=-(2**31), max_value=2**31 - 1)
    weight = forms.IntegerField(min_value=0, max_value=2**31 - 1)
    minimum_agents = forms.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False
    )
    maximum_agents = forms.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["priority"].initial = default_queue_priority()
        self.fields["weight"].initial = default_queue_weight()

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values as `create_queue` takes them."""
        data = dict(self.cleaned_data)
        parent = data.pop("parent")
        return {**data, "parent_id": parent.pk if parent else None}
