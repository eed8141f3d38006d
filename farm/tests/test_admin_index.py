"""The admin's index and "View site": main models on it, link tables as inlines."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib import admin
from django.db.models import Model
from django.urls import reverse

from accounts.tests.factories import UserFactory
from farm.models import (
    Agent,
    AgentDisk,
    AgentMacAddress,
    Job,
    JobNotifiedUser,
    JobSoftwareRequirement,
    JobTagRequirement,
    JobTypeSoftwareRequirement,
    JobTypeVersion,
    Task,
    TaskLog,
    TaskTaskLogAssociation,
)
from farm.tests.factories import (
    AgentDiskFactory,
    AgentFactory,
    AgentMacAddressFactory,
    JobFactory,
    JobTypeVersionFactory,
    SoftwareVersionFactory,
    TagFactory,
    TaskFactory,
    TaskLogFactory,
    TaskTaskLogAssociationFactory,
)
from farm.tests.test_admin import LINK_TABLES

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db


def _software_requirement(**parent: Any) -> dict[str, Any]:
    version = SoftwareVersionFactory()
    return {"software": version.software, "min_version": version, **parent}


# Each link table: how to make a row, and the object whose page edits it.
LINK_ROWS: dict[type[Model], Callable[[], tuple[Model, Model]]] = {
    AgentMacAddress: lambda: (row := AgentMacAddressFactory(), row.agent),
    AgentDisk: lambda: (row := AgentDiskFactory(), row.agent),
    JobTagRequirement: lambda: (
        row := JobTagRequirement.objects.create(job=JobFactory(), tag=TagFactory()),
        row.job,
    ),
    JobSoftwareRequirement: lambda: (
        row := JobSoftwareRequirement.objects.create(
            **_software_requirement(job=JobFactory())
        ),
        row.job,
    ),
    JobNotifiedUser: lambda: (
        row := JobNotifiedUser.objects.create(job=JobFactory(), user=UserFactory()),
        row.job,
    ),
    JobTypeSoftwareRequirement: lambda: (
        row := JobTypeSoftwareRequirement.objects.create(
            **_software_requirement(jobtype_version=JobTypeVersionFactory())
        ),
        row.jobtype_version,
    ),
    TaskTaskLogAssociation: lambda: (
        row := TaskTaskLogAssociationFactory(),
        row.log,
    ),
}


def _url(model: type[Model], view: str, *args: object) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def _index_models(response: Response) -> set[str]:
    return {
        entry["object_name"]
        for app in response.context["app_list"]
        for entry in app["models"]
    }


def test_view_site_leads_to_the_dashboard(admin_client: Client) -> None:
    response = admin_client.get(reverse("admin:index"))
    assert response.context["site_url"] == reverse("web:jobs")
    assert f'<a href="{reverse("web:jobs")}">View site</a>' in response.text


def test_view_site_on_the_admins_other_pages_too(admin_client: Client) -> None:
    response = admin_client.get(_url(Job, "changelist"))
    assert f'<a href="{reverse("web:jobs")}">View site</a>' in response.text


def test_index_keeps_the_main_models(admin_client: Client) -> None:
    names = _index_models(admin_client.get(reverse("admin:index")))
    assert {"Job", "Agent", "Task", "TaskLog", "JobType", "User"} <= names


def test_index_lists_no_link_table(admin_client: Client) -> None:
    names = _index_models(admin_client.get(reverse("admin:index")))
    assert names.isdisjoint(model.__name__ for model in LINK_TABLES)


def test_the_farm_app_page_lists_no_link_table(admin_client: Client) -> None:
    response = admin_client.get(reverse("admin:app_list", args=["farm"]))
    assert _index_models(response).isdisjoint(m.__name__ for m in LINK_TABLES)


def test_every_link_table_has_a_row_builder_here() -> None:
    assert set(LINK_ROWS) == LINK_TABLES


@pytest.mark.parametrize("model", list(LINK_ROWS), ids=lambda m: m.__name__)
def test_each_link_table_is_editable_in_its_parents_page(
    admin_client: Client, model: type[Model]
) -> None:
    row, parent = LINK_ROWS[model]()
    response = admin_client.get(_url(type(parent), "change", parent.pk))
    assert response.status_code == 200
    inlines = [
        inline
        for inline in response.context["inline_admin_formsets"]
        if inline.opts.model is model
    ]
    assert len(inlines) == 1
    inline = inlines[0]
    assert inline.has_add_permission
    assert inline.has_change_permission
    assert inline.has_delete_permission
    assert row.pk in [form.instance.pk for form in inline.formset.initial_forms]


def test_a_mac_address_is_added_in_the_agents_page(admin_client: Client) -> None:
    agent = AgentFactory()
    url = _url(Agent, "change", agent.pk)
    data = _parent_form_data(admin_client.get(url))
    data.update(
        {
            "mac_addresses-TOTAL_FORMS": "1",
            "mac_addresses-0-mac_address": "00:11:22:33:44:55",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]
    assert agent.mac_addresses.get().mac_address.lower() == "00:11:22:33:44:55"


def test_a_task_is_linked_to_a_log_in_the_logs_page(admin_client: Client) -> None:
    log = TaskLogFactory()
    task = TaskFactory()
    url = _url(TaskLog, "change", log.pk)
    data = _parent_form_data(admin_client.get(url))
    data.update(
        {
            "task_associations-TOTAL_FORMS": "1",
            "task_associations-0-task": str(task.pk),
            "task_associations-0-attempt": "1",
            "task_associations-0-state": "done",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]
    link = TaskTaskLogAssociation.objects.get(log=log)
    assert (link.task, link.attempt, link.state) == (task, 1, "done")


def test_the_task_page_still_lists_its_logs(admin_client: Client) -> None:
    link = TaskTaskLogAssociationFactory()
    response = admin_client.get(_url(Task, "change", link.task_id))
    models = [inline.opts.model for inline in response.context["inline_admin_formsets"]]
    assert TaskTaskLogAssociation in models


INLINE_AUTOCOMPLETE_FIELDS = [
    (inline.model, field)
    for model_admin in admin.site._registry.values()
    for inline in model_admin.inlines
    for field in inline.autocomplete_fields
]


@pytest.mark.parametrize(
    ("model", "field"),
    INLINE_AUTOCOMPLETE_FIELDS,
    ids=[f"{model.__name__}.{field}" for model, field in INLINE_AUTOCOMPLETE_FIELDS],
)
def test_inline_autocomplete_answers(
    admin_client: Client, model: type[Model], field: str
) -> None:
    """An inline's autocomplete works though its own model has no admin."""
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": model._meta.app_label,
            "model_name": model._meta.model_name,
            "field_name": field,
            "term": "1",
        },
    )
    assert response.status_code == 200
    assert "results" in response.json()


def _parent_form_data(response: Response) -> dict[str, Any]:
    """What a browser posts back for the admin form in ``response``, inlines too."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.initial_forms)
    data: dict[str, Any] = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is False or value is None:
                continue
            if isinstance(value, list):
                value = [str(item) for item in value]
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


def test_job_version_page_still_edits_requirements(admin_client: Client) -> None:
    version = JobTypeVersionFactory()
    response = admin_client.get(_url(JobTypeVersion, "change", version.pk))
    models = [inline.opts.model for inline in response.context["inline_admin_formsets"]]
    assert JobTypeSoftwareRequirement in models
