"""Job queues: the tree, and farm admins' actions."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("queues/", pending, name="queues"),
]
