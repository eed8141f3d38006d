"""Job queues: the tree with its counts, and farm admins' create and delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from farm.models import JobQueue
from farm.services.errors import ConflictError
from farm.services.queues import create_queue, delete_queue_tree
from farm.web.access import farm_admin_required, is_farm_admin
from farm.web.forms_queues import QueueForm
from farm.web.queries_queues import queue_tree

REFUSAL = "Only farm admins may change job queues."


@login_required
def queue_list(request: HttpRequest) -> HttpResponse:
    """``/queues/``: the queue tree with running and queued tasks and jobs."""
    is_admin = is_farm_admin(request.user)
    return render(
        request,
        "web/queues/list.html",
        {
            "rows": queue_tree(),
            "is_admin": is_admin,
            "form": QueueForm() if is_admin else None,
        },
    )


@farm_admin_required(REFUSAL)
def queue_create(request: HttpRequest) -> HttpResponse:
    """POST: create a queue (`farm.services.queues.create_queue`)."""
    if request.method != "POST":
        return redirect("web:queues")
    form = QueueForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"Queue not created: {field}: {error}")
        return redirect("web:queues")
    try:
        queue = create_queue(**form.service_fields())
    except ConflictError as error:
        messages.error(request, f"Queue not created: {error}")
    except ValidationError as error:
        messages.error(request, f"Queue not created: {' '.join(error.messages)}")
    except JobQueue.DoesNotExist:
        messages.error(request, "Queue not created: the parent queue is gone.")
    else:
        messages.success(request, f"Created job queue {queue}.")
    return redirect("web:queues")


@farm_admin_required(REFUSAL)
def queue_delete(request: HttpRequest, queue_id: int) -> HttpResponse:
    """POST: delete a queue and its sub-queues, unless one of them holds jobs."""
    if request.method != "POST":
        return redirect("web:queues")
    queue = JobQueue.objects.filter(pk=queue_id).first()
    if queue is None:
        messages.error(request, "No such job queue: it may have been deleted.")
        return redirect("web:queues")
    try:
        count = delete_queue_tree(queue=queue)
    except ConflictError as error:
        messages.error(request, f"Queue not deleted: {error}")
    else:
        below = f" and {count - 1} sub-queue(s)" if count > 1 else ""
        messages.success(request, f"Deleted job queue {queue}{below}.")
    return redirect("web:queues")
