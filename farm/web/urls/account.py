"""The user's own account: API tokens and notification preferences."""

from django.urls import path

from farm.web.views import account

urlpatterns = [
    path("account/", account.account, name="account"),
    path("account/tokens/", account.token_create, name="account_token_create"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        account.token_revoke,
        name="account_token_revoke",
    ),
    path(
        "account/notifications/",
        account.notifications_update,
        name="account_notifications",
    ),
    path(
        "account/password/",
        account.PasswordChangeView.as_view(),
        name="account_password",
    ),
]
