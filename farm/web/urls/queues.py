"""Job queues: the tree, and farm admins' actions."""

from django.urls import path

from farm.web.views import queues

urlpatterns = [
    path("queues/", queues.queue_list, name="queues"),
    path("queues/create/", queues.queue_create, name="queue_create"),
    path("queues/<int:queue_id>/delete/", queues.queue_delete, name="queue_delete"),
]
