"""The quick select renders what Django's select renders."""

from __future__ import annotations

import pytest
from django import forms

from farm.models import JobQueue
from farm.tests.factories import JobQueueFactory
from farm.web.widgets import QuickSelect

pytestmark = pytest.mark.django_db


class _Form(forms.Form):
    quick = forms.ModelChoiceField(
        queryset=JobQueue.objects.order_by("pk"),
        empty_label="All queues",
        widget=QuickSelect(attrs={"class": "x"}),
    )
    plain = forms.ModelChoiceField(
        queryset=JobQueue.objects.order_by("pk"), empty_label="All queues"
    )


def _normalised(html: str) -> str:
    return " ".join(html.replace('id="id_plain"', "").split()).replace("> <", "><")


def test_it_renders_the_same_options_as_djangos_select() -> None:
    """Same values, labels and selected option; labels are escaped."""
    JobQueueFactory.create(name="<b>render</b>")
    chosen = JobQueueFactory.create(name="comp")
    form = _Form(data={"quick": chosen.pk, "plain": chosen.pk})
    quick = str(form["quick"])
    plain = str(form["plain"])
    assert "<b>" not in quick
    assert f'<option value="{chosen.pk}" selected>comp</option>' in quick
    assert 'class="x"' in quick
    assert _normalised(plain.replace('name="plain"', 'name="quick"')).count(
        "<option"
    ) == quick.count("<option")
    for line in _normalised(plain).split("<option")[1:]:
        assert "<option" + line.split("</option>")[0] + "</option>" in quick
