"""Jobs and job queues take the scheduler's fields from one declaration."""

from __future__ import annotations

import pytest

from farm.api.fields import scheduling_fields
from farm.api.serializers.jobqueues import JobQueueWriteSerializer
from farm.api.serializers.jobs import JobSubmissionSerializer, JobUpdateSerializer

NAMES = ("priority", "weight", "minimum_agents", "maximum_agents")


def _shape(field) -> tuple:
    return (
        type(field),
        field.required,
        field.allow_null,
        field.min_value,
        field.max_value,
    )


@pytest.mark.parametrize(
    "serializer",
    [JobQueueWriteSerializer, JobSubmissionSerializer, JobUpdateSerializer],
)
def test_jobs_and_queues_declare_the_scheduling_fields_alike(serializer, db) -> None:
    fields = serializer().fields
    expected = dict(zip(NAMES, scheduling_fields(), strict=True))
    for name in NAMES:
        assert _shape(fields[name]) == _shape(expected[name]), name


def test_queues_keep_their_order_of_fields() -> None:
    assert list(JobQueueWriteSerializer().fields)[:6] == [
        "name",
        "parent_jobqueue_id",
        *NAMES,
    ]
