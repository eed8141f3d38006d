"""How a job's per-state task counts are shown (``GET /jobs/<job>/task_counts``)."""

from __future__ import annotations

from rest_framework import serializers


class JobTaskCountsSerializer(serializers.Serializer):
    """A job's id and title, and how many of its tasks are in each state."""

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    tasks_queued = serializers.IntegerField(read_only=True)
    tasks_paused = serializers.IntegerField(read_only=True)
    tasks_running = serializers.IntegerField(read_only=True)
    tasks_done = serializers.IntegerField(read_only=True)
    tasks_failed = serializers.IntegerField(read_only=True)
    tasks_total = serializers.IntegerField(read_only=True)
