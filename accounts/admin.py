"""Admin of the farm's users and roles."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, Role, User
from accounts.services import revoke_tokens


class UserCreationAdminForm(AdminUserCreationForm):
    """Django's user creation form, bound to our user model."""

    # The stubs do not declare the forms' Meta classes.
    class Meta(AdminUserCreationForm.Meta):  # type: ignore[name-defined]
        model = User


class UserChangeAdminForm(UserChangeForm):
    """Django's user change form, bound to our user model."""

    class Meta(UserChangeForm.Meta):  # type: ignore[name-defined]
        model = User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin plus the farm's expiration, one-time code and roles."""

    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Farm", {"fields": ("expiration", "onetime_code", "roles")}),
        (
            "Notification defaults",
            {
                "fields": (
                    "notify_on_success",
                    "notify_on_failure",
                    "notify_on_deletion",
                )
            },
        ),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Farm", {"fields": ("email", "expiration", "roles")}),
    )
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_active",
        "expiration",
        "role_names",
    )
    list_filter = (*DjangoUserAdmin.list_filter, "roles")
    search_fields = ("username", "first_name", "last_name", "email")
    # No foreign keys; the roles are prefetched by get_queryset.
    list_select_related = ()
    readonly_fields = ("last_login", "date_joined")
    filter_horizontal = (*DjangoUserAdmin.filter_horizontal, "roles")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        """Users with their roles in one more query, not one per user."""
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="roles")
    def role_names(self, user: User) -> str:
        """The user's roles, comma-separated."""
        return ", ".join(role.name for role in user.roles.all())


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    """Named sets of users; an inactive or expired role locks its users out."""

    list_display = ("name", "active", "expiration", "user_count", "description")
    list_filter = ("active", "expiration")
    search_fields = ("name", "description")
    list_select_related = ()
    # Explicit: Meta.ordering does not apply to the annotated (grouped) query.
    ordering = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Role]:
        """Roles with their number of users."""
        return super().get_queryset(request).annotate(users_count=Count("users"))

    @admin.display(description="users", ordering="users_count")
    def user_count(self, role: Role) -> int:
        """How many users have the role (annotated by `get_queryset`)."""
        return role.users_count  # type: ignore[attr-defined]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """The users' API tokens: who has which, and when each was last used.

    Keys are never shown (only their SHA-256 is stored): users create tokens
    on their account page; admins can only revoke them here.
    """

    list_display = ("name", "prefix", "user", "created", "last_used")
    list_filter = ("created", "last_used")
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("name", "prefix", "user", "created", "last_used")
    fields = readonly_fields
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Tokens are created by their users, who alone see the key."""
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ApiToken | None = None
    ) -> bool:
        """Nothing of a token is changed; it is revoked."""
        return False

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        """Revoke the tokens: requests with their keys are refused from now on."""
        count = revoke_tokens(tokens=queryset)
        if count:
            self.message_user(
                request, f"Revoked {count} token{'s' if count != 1 else ''}."
            )
        else:
            self.message_user(request, "No token was revoked.", messages.WARNING)
