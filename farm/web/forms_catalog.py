"""Forms of the job type and software pages: they validate, services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from farm.models import JobType, Software, SoftwareVersion
from farm.services.software import MAX_RANK
from pyfarm_site.conf import (
    default_jobtype_batch_contiguous,
    default_jobtype_max_batch,
)

__all__ = [
    "JobTypeCreateForm",
    "NotificationTemplatesForm",
    "RequirementForm",
    "SoftwareForm",
    "SoftwareVersionForm",
    "VersionDefaultForm",
    "VersionRankForm",
]


class _VersionChoiceField(forms.ModelChoiceField):
    """A software version, labelled with its software's name."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.software.software} {obj.version}"


class JobTypeCreateForm(forms.Form):
    """A new job type with its first version."""

    name = forms.CharField(max_length=JobType._meta.get_field("name").max_length)
    description = forms.CharField(widget=forms.Textarea, required=False)
    classname = forms.CharField(label="Class name", max_length=64, required=False)
    code = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
        strip=False,
        help_text="Python source defining the class named above.",
    )
    max_batch = forms.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="How many tasks an agent gets at once; empty for no limit.",
    )
    batch_contiguous = forms.BooleanField(
        required=False, help_text="The frames of a batch must follow each other."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["max_batch"].initial = default_jobtype_max_batch()
        self.fields["batch_contiguous"].initial = default_jobtype_batch_contiguous()

    def clean_code(self) -> str:
        """Code that is not only blank."""
        code: str = self.cleaned_data["code"]
        if not code.strip():
            raise forms.ValidationError("This field is required.")
        return code


class RequirementForm(forms.Form):
    """A software a job type requires, optionally between two versions."""

    software = forms.ModelChoiceField(queryset=Software.objects.all())
    min_version = _VersionChoiceField(
        queryset=SoftwareVersion.objects.select_related("software").order_by(
            "software__software", "rank"
        ),
        required=False,
        label="At least",
    )
    max_version = _VersionChoiceField(
        queryset=SoftwareVersion.objects.select_related("software").order_by(
            "software__software", "rank"
        ),
        required=False,
        label="At most",
    )

    def clean(self) -> dict[str, Any]:
        """Both bounds are versions of the chosen software, the lower one first."""
        data = super().clean() or {}
        software = data.get("software")
        low, high = data.get("min_version"), data.get("max_version")
        if software is None:
            return data
        for name, version in (("min_version", low), ("max_version", high)):
            if version is not None and version.software_id != software.pk:
                self.add_error(name, f"is not a version of {software.software}")
        if (
            not self.errors
            and low is not None
            and high is not None
            and low.rank > high.rank
        ):
            self.add_error("max_version", "must not be lower than the minimum")
        return data


class NotificationTemplatesForm(forms.ModelForm):
    """The success and failure texts of a job type's notification emails."""

    class Meta:
        model = JobType
        fields = ("success_subject", "success_body", "fail_subject", "fail_body")
        widgets = {
            "success_subject": forms.TextInput(),
            "fail_subject": forms.TextInput(),
            "success_body": forms.Textarea(attrs={"rows": 5}),
            "fail_body": forms.Textarea(attrs={"rows": 5}),
        }


class SoftwareForm(forms.Form):
    """A new software, by name."""

    name = forms.CharField(max_length=Software._meta.get_field("software").max_length)


class SoftwareVersionForm(forms.Form):
    """A new version of a software; without a rank it becomes the newest."""

    version = forms.CharField(
        max_length=SoftwareVersion._meta.get_field("version").max_length
    )
    rank = forms.IntegerField(
        min_value=0,
        max_value=MAX_RANK,
        required=False,
        help_text="Higher is newer; empty: above every other version.",
    )
    default = forms.BooleanField(required=False)


class VersionRankForm(forms.Form):
    """A version's new rank."""

    rank = forms.IntegerField(min_value=0, max_value=MAX_RANK)


class VersionDefaultForm(forms.Form):
    """Make a version the default, or stop it being the default."""

    default = forms.TypedChoiceField(
        choices=(("1", "default"), ("0", "not default")),
        coerce=lambda value: value == "1",
    )
