"""Forms of the agents pages: bulk actions, notes, tags and software."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms

from farm.models import SoftwareVersion

__all__ = [
    "AGENT_ACTIONS",
    "AgentActionForm",
    "AgentNotesForm",
    "AgentSoftwareForm",
    "AgentTagsForm",
    "BulkAgentsForm",
]

#: What farm admins may do to agents, single or in bulk, with its button text.
AGENT_ACTIONS = {
    "enable": "Enable",
    "disable": "Disable",
    "restart": "Restart",
    "check_software": "Check software",
    "delete": "Delete",
}


class UUIDListField(forms.Field):
    """Several agent ids (checkboxes of one name), each a UUID."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[uuid.UUID]:
        """The ids as UUIDs; a validation error naming a malformed one."""
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        ids = []
        for item in values:
            try:
                ids.append(uuid.UUID(str(item)))
            except ValueError:
                raise forms.ValidationError(
                    f"{str(item)[:40]!r} is not an agent id."
                ) from None
        return list(dict.fromkeys(ids))


class AgentActionForm(forms.Form):
    """One action on one agent; ``version`` narrows a software check."""

    action = forms.ChoiceField(choices=list(AGENT_ACTIONS.items()))
    version = forms.ModelChoiceField(
        queryset=SoftwareVersion.objects.all(),
        required=False,
        error_messages={
            "invalid_choice": "That software version is not in the catalog."
        },
    )


class BulkAgentsForm(AgentActionForm):
    """One action on the agents ticked in the list."""

    agent = UUIDListField(
        error_messages={"required": "Select at least one agent."},
    )


class AgentNotesForm(forms.Form):
    """An agent's free-text notes."""

    notes = forms.CharField(required=False, widget=forms.Textarea, max_length=65536)


class AgentTagsForm(forms.Form):
    """An agent's tags, separated by commas (or new lines)."""

    tags = forms.CharField(required=False, max_length=4096)

    def clean_tags(self) -> list[str]:
        """The tag names, stripped, without blanks or repeats."""
        names = re.split(r"[,\n]", self.cleaned_data.get("tags") or "")
        return list(dict.fromkeys(name.strip() for name in names if name.strip()))


class AgentSoftwareForm(forms.Form):
    """A software version of the catalog, to add to or remove from an agent."""

    version = forms.ModelChoiceField(
        queryset=SoftwareVersion.objects.select_related("software"),
        error_messages={
            "invalid_choice": "That software version is not in the catalog."
        },
    )
