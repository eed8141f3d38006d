"""Admin of users and roles: pages, the farm's fields, and query counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib import admin
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Role, User
from accounts.services import create_token
from accounts.tests.factories import RoleFactory, UserFactory

if TYPE_CHECKING:
    from django.test import Client

pytestmark = pytest.mark.django_db

MAX_PAGE_QUERIES = 20


def _user() -> User:
    user = UserFactory(expiration=timezone.now() + timedelta(days=30))
    user.roles.set([RoleFactory(name="render")])
    return user


def _role() -> Role:
    role = RoleFactory(name="compositing")
    UserFactory().roles.add(role)
    return role


BUILDERS: dict[type[Model], Callable[[], Model]] = {User: _user, Role: _role}
MODELS = list(BUILDERS)


def _model_id(model: type[Model]) -> str:
    return model._meta.model_name or model.__name__


def _url(model: type[Model], view: str, *args: object) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def test_users_and_roles_are_registered() -> None:
    assert admin.site.is_registered(User)
    assert admin.site.is_registered(Role)


@pytest.mark.parametrize("model", MODELS, ids=_model_id)
def test_changelist_lists_the_object(admin_client: Client, model: type[Model]) -> None:
    obj = BUILDERS[model]()
    response = admin_client.get(_url(model, "changelist"))
    assert response.status_code == 200
    assert obj.pk in [row.pk for row in response.context["cl"].result_list]


@pytest.mark.parametrize("model", MODELS, ids=_model_id)
def test_changelist_search_works(admin_client: Client, model: type[Model]) -> None:
    BUILDERS[model]()
    response = admin_client.get(_url(model, "changelist"), {"q": "x"})
    assert response.status_code == 200
    assert response.context["cl"].query == "x"


@pytest.mark.parametrize("model", MODELS, ids=_model_id)
def test_add_page_renders(admin_client: Client, model: type[Model]) -> None:
    response = admin_client.get(_url(model, "add"))
    assert response.status_code == 200
    assert response.context["add"] is True


@pytest.mark.parametrize("model", MODELS, ids=_model_id)
def test_change_page_renders(admin_client: Client, model: type[Model]) -> None:
    obj = BUILDERS[model]()
    response = admin_client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert response.context["original"].pk == obj.pk


def test_change_page_shows_the_farm_fields(admin_client: Client) -> None:
    user = _user()
    response = admin_client.get(_url(User, "change", user.pk))
    form = response.context["adminform"].form
    assert {"expiration", "onetime_code", "roles"} <= set(form.fields)


def test_adding_a_user_sets_roles_and_expiration(admin_client: Client) -> None:
    role = RoleFactory(name="lighting")
    expiration = timezone.localtime() + timedelta(days=7)
    data: dict[str, Any] = {
        "username": "newartist",
        "usable_password": "true",
        "password1": "a long enough passphrase",
        "password2": "a long enough passphrase",
        "email": "newartist@example.com",
        "expiration_0": expiration.strftime("%Y-%m-%d"),
        "expiration_1": expiration.strftime("%H:%M:%S"),
        "roles": [role.pk],
    }
    response = admin_client.post(_url(User, "add"), data)
    assert response.status_code == 302
    user = User.objects.get(username="newartist")
    assert list(user.roles.all()) == [role]
    assert user.expiration is not None
    assert user.check_password("a long enough passphrase")


def test_changing_a_user_saves_roles_and_expiration(admin_client: Client) -> None:
    user = _user()
    other_role = RoleFactory(name="fx")
    response = admin_client.get(_url(User, "change", user.pk))
    form = response.context["adminform"].form
    data: dict[str, Any] = {
        name: form[name].value()
        for name in ("username", "email", "first_name", "last_name")
    }
    data.update(
        is_active="on",
        onetime_code="",
        roles=[other_role.pk],
        date_joined_0=user.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=user.date_joined.strftime("%H:%M:%S"),
    )
    response = admin_client.post(_url(User, "change", user.pk), data)
    assert response.status_code == 302
    user.refresh_from_db()
    assert list(user.roles.all()) == [other_role]
    assert user.expiration is None


def test_user_changelist_shows_role_names(admin_client: Client) -> None:
    _user()
    response = admin_client.get(_url(User, "changelist"), {"q": "user"})
    assert '<td class="field-role_names">render</td>' in response.text


def test_user_changelist_queries_do_not_grow_with_rows(
    admin_client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    def queries() -> int:
        with django_assert_max_num_queries(MAX_PAGE_QUERIES) as captured:
            response = admin_client.get(_url(User, "changelist"))
        assert response.status_code == 200
        return len(captured)

    for _ in range(5):
        _user()
    few = queries()
    for _ in range(45):
        _user()
    assert queries() == few


def test_role_changelist_counts_users(admin_client: Client) -> None:
    role = RoleFactory(name="layout")
    for user in UserFactory.create_batch(3):
        user.roles.add(role)
    response = admin_client.get(_url(Role, "changelist"))
    (row,) = response.context["cl"].result_list
    assert row.users_count == 3


# --- API tokens ----------------------------------------------------------------


def test_token_changelist_shows_no_key(admin_client: Client) -> None:
    token, key = create_token(user=UserFactory(), name="farm script")
    response = admin_client.get(reverse("admin:accounts_apitoken_changelist"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "farm script" in content
    assert token.prefix in content
    assert key not in content
    assert token.digest not in content


def test_token_page_is_read_only_and_shows_no_key(admin_client: Client) -> None:
    token, key = create_token(user=UserFactory(), name="farm script")
    response = admin_client.get(
        reverse("admin:accounts_apitoken_change", args=[token.pk])
    )
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert key not in response.content.decode()
    assert token.digest not in response.content.decode()


def test_tokens_are_not_added_in_the_admin(admin_client: Client) -> None:
    response = admin_client.get(reverse("admin:accounts_apitoken_add"))
    assert response.status_code == 403


def test_revoke_action_revokes_tokens(admin_client: Client) -> None:
    tokens = [create_token(user=UserFactory(), name=f"t{n}")[0] for n in range(2)]
    response = admin_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk for token in tokens]},
    )
    assert response.status_code == 302
    assert not ApiToken.objects.exists()


def test_user_page_shows_notification_defaults(admin_client: Client) -> None:
    user = UserFactory()
    response = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert "notify_on_deletion" in response.context["adminform"].form.fields
