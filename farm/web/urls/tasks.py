"""A job's page, its actions and its tasks."""

from django.urls import path

from farm.web.views import job

urlpatterns = [
    path("jobs/<int:job_id>/", job.job_page, name="job"),
    path("jobs/<int:job_id>/live/", job.job_live, name="job_live"),
    path("jobs/<int:job_id>/explain/", job.job_explain, name="job_explain"),
    path("jobs/<int:job_id>/chart/", job.job_chart, name="job_chart"),
    path("jobs/<int:job_id>/pause/", job.pause, name="job_pause"),
    path("jobs/<int:job_id>/unpause/", job.unpause, name="job_unpause"),
    path("jobs/<int:job_id>/rerun/", job.rerun, name="job_rerun"),
    path("jobs/<int:job_id>/rerun-failed/", job.rerun_failed, name="job_rerun_failed"),
    path("jobs/<int:job_id>/delete/", job.delete, name="job_delete"),
    path("jobs/<int:job_id>/upgrade/", job.upgrade, name="job_upgrade"),
    path("jobs/<int:job_id>/scheduling/", job.scheduling, name="job_scheduling"),
    path("jobs/<int:job_id>/frames/", job.frames, name="job_frames"),
    path("jobs/<int:job_id>/notes/", job.notes, name="job_notes"),
    path("jobs/<int:job_id>/autodelete/", job.autodelete, name="job_autodelete"),
    path("jobs/<int:job_id>/tags/", job.tags, name="job_tags"),
    path(
        "jobs/<int:job_id>/tag-requirements/",
        job.tag_requirements,
        name="job_tag_requirements",
    ),
    path(
        "jobs/<int:job_id>/notified-users/",
        job.notified_user_add,
        name="job_notified_user_add",
    ),
    path(
        "jobs/<int:job_id>/notified-users/remove/",
        job.notified_user_remove,
        name="job_notified_user_remove",
    ),
    path(
        "jobs/<int:job_id>/tasks/<int:task_id>/rerun/",
        job.task_rerun,
        name="task_rerun",
    ),
]
