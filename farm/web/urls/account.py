"""The user's own account: API tokens and notification preferences."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("account/", pending, name="account"),
]
