"""Server time and SQL statements of the agents list, an agent and the queues page.

Usage (a scratch PostgreSQL database; it is migrated and filled):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/dashboard_agents.py \
        [--agents 5000] [--jobs 1000] [--tasks-per-job 100] [--repeat 9]

Builds the farm of ``tick.py`` (agents, jobs and tasks in a queue tree of
depth 3), then gives every agent two tags of 20 and three software versions,
and one running task to 80 % of them (a quarter of those two); on PostgreSQL
the farm is vacuumed and analysed. Each page is requested ``--repeat`` times
in this process through Django's test client as a logged-in farm admin (the
middleware, the view and the template: the server's time without the
network), and the best and median times and the SQL statements are printed:
the first page of ``/agents/`` (100 rows), the same sorted by free RAM and
filtered by a tag, its htmx refresh, one agent's page, and ``/queues/``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import tick  # benchmarks/tick.py, which sets Django up
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from farm.choices import WorkState
from farm.models import Agent, Software, SoftwareVersion, Tag, Task


def decorate(tags: int = 20, software: int = 5) -> None:
    """Tags, software and running tasks on the agents ``tick.build`` made."""
    agents = list(Agent.objects.order_by("hostname").values_list("pk", flat=True))
    with transaction.atomic():
        Tag.objects.all().delete()
        Software.objects.all().delete()
        made = Tag.objects.bulk_create(Tag(tag=f"tag{n:02d}") for n in range(tags))
        tagged = Agent.tags.through
        tagged.objects.bulk_create(
            tagged(agent_id=agent, tag_id=made[(i + k) % tags].pk)
            for i, agent in enumerate(agents)
            for k in (0, 7)
        )
        versions = []
        for n in range(software):
            row = Software.objects.create(software=f"software{n}")
            versions += SoftwareVersion.objects.bulk_create(
                SoftwareVersion(software=row, version=f"{v}.0", rank=v)
                for v in range(3)
            )
        having = Agent.software_versions.through
        having.objects.bulk_create(
            having(
                agent_id=agent, softwareversion_id=versions[(i + k) % len(versions)].pk
            )
            for i, agent in enumerate(agents)
            for k in (0, 4, 9)
        )
        busy = agents[: len(agents) * 4 // 5]
        holders = busy + busy[: len(busy) // 4]
        tasks = list(
            Task.objects.order_by("pk").values_list("pk", flat=True)[: len(holders)]
        )
        for agent, task in zip(holders, tasks, strict=False):
            Task.objects.filter(pk=task).update(
                agent_id=agent, state=WorkState.RUNNING, sent_to_agent=True
            )
        Agent.objects.update(last_heard_from=timezone.now(), version="0.8.7")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def measure(
    client: Client, url: str, repeat: int, headers: dict[str, str] | None = None
) -> None:
    """Print best and median times and the statements of ``repeat`` GETs.

    Wall time, and this process's CPU time (Python: middleware, view,
    template), which a busy machine inflates less; plus the time the
    database took to answer, as Django measured it.
    """
    walls, cpus, sqls = [], [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(url, headers=headers)
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        sqls.append(sum(float(query["time"]) for query in queries) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    print(
        f"{url:<42} wall best {min(walls):5.1f} median {statistics.median(walls):5.1f}"
        f" | cpu best {min(cpus):5.1f} median {statistics.median(cpus):5.1f}"
        f" | sql median {statistics.median(sqls):5.1f} ms"
        f" | {len(queries)} statements, {len(response.content) // 1024} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--tasks-per-job", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--no-build", action="store_true", help="measure the farm built last time"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    if not args.no_build:
        tick.build(args.agents, args.jobs, args.tasks_per_job, 3, analyze=False)
        decorate()
    print(
        f"built {Agent.objects.count()} agents, {Task.objects.count()} tasks "
        f"({Task.objects.filter(state=WorkState.RUNNING).count()} running) "
        f"in {time.perf_counter() - started:.0f} s on {connection.vendor}"
    )
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(admin)
    agent = Agent.objects.filter(tasks__state=WorkState.RUNNING).first()
    assert agent is not None
    measure(client, "/agents/", args.repeat)
    measure(client, "/agents/?sort=-free_ram&tag=tag03", args.repeat)
    measure(client, "/agents/?page=50", args.repeat)
    measure(client, "/agents/", args.repeat, {"HX-Request": "true"})
    measure(client, f"/agents/{agent.pk}/", args.repeat)
    measure(client, "/queues/", args.repeat)


if __name__ == "__main__":
    main()
