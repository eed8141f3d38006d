"""factory_boy factories for users and roles."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from accounts.models import Role, User


class RoleFactory(DjangoModelFactory[Role]):
    class Meta:
        model = Role
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"role{n}")


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery")

    class Params:
        admin = factory.Trait(is_staff=True, is_superuser=True)
