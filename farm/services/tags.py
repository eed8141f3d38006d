"""Tag workflows: tags by name, and the agents and jobs that carry them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from django.db import transaction

from farm.models import Agent, Job, Tag

__all__ = ["find_or_create_tags", "get_or_create_tag", "replace_tag", "tag_agent"]


def _checked_tag_name(name: str) -> str:
    """The tag name, validated as the model does (length, not blank)."""
    Tag(tag=name).full_clean(validate_unique=False)
    return name


def get_or_create_tag(*, name: str) -> tuple[Tag, bool]:
    """The tag of that name, created if missing; returns it and whether new.

    Raises ValidationError for names the model refuses (blank, too long).
    """
    return Tag.objects.get_or_create(tag=_checked_tag_name(name))


def find_or_create_tags(*, names: Iterable[str]) -> list[Tag]:
    """Tags by name, in the given order, creating (and validating) unknown ones."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    tags = {tag.tag: tag for tag in Tag.objects.filter(tag__in=wanted)}
    new = [Tag(tag=name) for name in wanted if name not in tags]
    if new:
        for tag in new:
            _checked_tag_name(tag.tag)
        Tag.objects.bulk_create(new, ignore_conflicts=True)
        tags = {tag.tag: tag for tag in Tag.objects.filter(tag__in=wanted)}
    return [tags[name] for name in wanted]


def replace_tag(
    *,
    tag: Tag | None,
    name: str,
    agent_ids: Sequence[uuid.UUID] | None = None,
    job_ids: Sequence[int] | None = None,
) -> Tag:
    """Create a tag named ``name``, or overwrite ``tag``, with exactly these relations.

    An existing ``tag`` keeps its name, its id, its path maps and the job requirements
    naming it; its agents and jobs become those given (none when omitted).
    Raises ValidationError for a bad name and ObjectDoesNotExist, naming
    them, for agents or jobs that do not exist.
    """
    _checked_tag_name(name)
    agents = list(Agent.objects.filter(pk__in=agent_ids or []))
    missing_agents = set(agent_ids or []) - {agent.pk for agent in agents}
    if missing_agents:
        listed = ", ".join(sorted(str(pk) for pk in missing_agents))
        raise Agent.DoesNotExist(f"agent(s) not found: {listed}")
    jobs = list(Job.objects.filter(pk__in=job_ids or []))
    missing_jobs = set(job_ids or []) - {job.pk for job in jobs}
    if missing_jobs:
        listed = ", ".join(str(pk) for pk in sorted(missing_jobs))
        raise Job.DoesNotExist(f"job(s) not found: {listed}")
    with transaction.atomic():
        if tag is None:
            tag = Tag.objects.create(tag=name)
        tag.agents.set(agents)
        tag.jobs.set(jobs)
    return tag


def tag_agent(*, tag: Tag, agent: Agent) -> bool:
    """Put the tag on the agent; returns False when it already had it."""
    _, created = Agent.tags.through.objects.get_or_create(agent=agent, tag=tag)
    return created
