"""API tokens: created with a key shown once, revoked, accepted by the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import ApiToken, User, api_key_digest
from accounts.services import (
    create_token,
    notification_defaults,
    revoke_token,
    revoke_tokens,
    set_notification_defaults,
)
from accounts.tests.factories import RoleFactory, UserFactory
from farm.models import JobNotifiedUser
from farm.tests.factories import JobFactory

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/jobs/"
# Outside the agent networks, where the API asks for credentials.
OUTSIDE_ADDRESS = "203.0.113.9"


def _client(key: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=OUTSIDE_ADDRESS)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- services ----------------------------------------------------------------


def test_create_token_stores_only_the_keys_hash() -> None:
    user = UserFactory.create()
    token, key = create_token(user=user, name="nuke submit")
    token.refresh_from_db()
    assert token.digest == api_key_digest(key)
    assert key not in {token.digest, token.prefix, token.name}
    assert key.startswith(token.prefix)
    assert token.last_used is None


def test_each_token_gets_its_own_key() -> None:
    user = UserFactory.create()
    keys = {create_token(user=user, name=f"t{n}")[1] for n in range(3)}
    assert len(keys) == 3
    assert user.api_tokens.count() == 3


def test_revoke_token_deletes_the_users_own_token() -> None:
    user = UserFactory.create()
    token, _ = create_token(user=user, name="old")
    assert revoke_token(user=user, token_id=token.pk) is True
    assert not ApiToken.objects.exists()


def test_revoke_token_leaves_another_users_token_alone() -> None:
    owner, other = UserFactory.create_batch(2)
    token, _ = create_token(user=owner, name="mine")
    assert revoke_token(user=other, token_id=token.pk) is False
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_revoke_tokens_revokes_every_given_token() -> None:
    user = UserFactory.create()
    for name in ("a", "b"):
        create_token(user=user, name=name)
    assert revoke_tokens(tokens=ApiToken.objects.all()) == 2
    assert not ApiToken.objects.exists()


# --- the API accepts the keys ------------------------------------------------


def test_a_tokens_key_authenticates_api_requests() -> None:
    user = UserFactory.create()
    _, key = create_token(user=user, name="script")
    response = _client(key).get(ENDPOINT)
    assert response.status_code == 200
    assert response.wsgi_request.user == user  # type: ignore[attr-defined]


def test_a_revoked_key_is_refused_with_401() -> None:
    user = UserFactory.create()
    token, key = create_token(user=user, name="script")
    revoke_token(user=user, token_id=token.pk)
    response = _client(key).get(ENDPOINT)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_key_is_refused_with_401() -> None:
    UserFactory.create()
    assert _client("pfk_not-a-key").get(ENDPOINT).status_code == 401


def test_a_key_of_a_user_who_may_not_log_in_is_refused() -> None:
    user = UserFactory.create()
    user.roles.add(RoleFactory.create(active=False))
    _, key = create_token(user=user, name="script")
    assert _client(key).get(ENDPOINT).status_code == 401


def test_drf_tokens_still_authenticate() -> None:
    token = Token.objects.create(user=UserFactory.create())
    assert _client(token.key).get(ENDPOINT).status_code == 200


def test_a_wrong_drf_token_is_still_refused_with_401() -> None:
    UserFactory.create()
    assert _client("0" * 40).get(ENDPOINT).status_code == 401


def test_using_a_token_records_when() -> None:
    _, key = create_token(user=UserFactory.create(), name="script")
    _client(key).get(ENDPOINT)
    assert ApiToken.objects.get().last_used is not None


def test_last_used_is_written_at_most_once_a_minute() -> None:
    token, key = create_token(user=UserFactory.create(), name="script")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _client(key).get(ENDPOINT)
    with time_machine.travel(start + timedelta(seconds=50), tick=False):
        _client(key).get(ENDPOINT)
    token.refresh_from_db()
    assert token.last_used == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        _client(key).get(ENDPOINT)
    token.refresh_from_db()
    assert token.last_used == start + timedelta(seconds=61)


def test_mark_used_writes_nothing_within_the_minute(
    django_assert_num_queries: object,
) -> None:
    token, _ = create_token(user=UserFactory.create(), name="script")
    assert token.mark_used() is True
    with django_assert_num_queries(0):  # type: ignore[operator]
        assert token.mark_used() is False


def test_mark_used_is_conditional_on_the_stored_value() -> None:
    """Two requests with stale copies of the token write the row once."""
    token, _ = create_token(user=UserFactory.create(), name="script")
    stale_copy = ApiToken.objects.get(pk=token.pk)
    assert token.mark_used() is True
    assert stale_copy.mark_used() is False


# --- notification defaults ---------------------------------------------------


def test_notification_defaults_match_a_subscriptions_defaults() -> None:
    user = UserFactory.create()
    subscription = JobNotifiedUser(job=JobFactory.create(), user=user)
    assert notification_defaults(user) == {
        "on_success": subscription.on_success,
        "on_failure": subscription.on_failure,
        "on_deletion": subscription.on_deletion,
    }


def test_set_notification_defaults_stores_them() -> None:
    user = UserFactory.create()
    set_notification_defaults(
        user=user, on_success=False, on_failure=True, on_deletion=True
    )
    stored = User.objects.get(pk=user.pk)
    assert notification_defaults(stored) == {
        "on_success": False,
        "on_failure": True,
        "on_deletion": True,
    }


def test_notification_defaults_subscribe_a_user_as_they_asked() -> None:
    user = UserFactory.create(notify_on_success=False, notify_on_deletion=True)
    job = JobFactory.create()
    JobNotifiedUser.objects.create(job=job, user=user, **notification_defaults(user))
    subscription = JobNotifiedUser.objects.get()
    assert (subscription.on_success, subscription.on_deletion) == (False, True)


# --- the OpenAPI schema --------------------------------------------------------


def test_the_schema_documents_one_token_scheme_for_both_kinds_of_key() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    schemes = schema["components"]["securitySchemes"]
    assert set(schemes) == {"tokenAuth", "cookieAuth"}
    token = schemes["tokenAuth"]
    assert (token["type"], token["in"], token["name"]) == (
        "apiKey",
        "header",
        "Authorization",
    )
    assert "/account/" in token["description"]
    jobs = schema["paths"]["/api/v1/jobs/"]["get"]["security"]
    assert jobs.count({"tokenAuth": []}) == 1
