"""Schemathesis against a throwaway master: the API answers what its schema says.

Run by ``make fuzz`` (and so by ``make test``):

1. a throwaway database (``PYFARM_FUZZ_DATABASE_URI``, default SQLite in a
   temporary folder), migrated, with an admin and its API token;
2. the web server (gunicorn) on a free port of 127.0.0.1, with folders of its
   own for task logs, agent updates and the embedded broker;
3. some data, made through the API itself: software and versions, a job type,
   a tag, a queue, an agent (registered from 127.0.0.1, an agent network by
   default), a group, jobs with tasks, a path map, a notified user, a task log;
4. Schemathesis on ``/api/v1/openapi.json`` with the admin's token, seeded
   (``--seed``) and bounded (``--max-examples`` per operation), with the
   checks `CHECKS`: no 5xx, documented status codes, documented content types
   and bodies that match the schema;
5. the server stopped and the folder removed, whatever happened.

The exit status is Schemathesis's (0: no failure). Arguments after ``--`` go
to ``schemathesis run`` as they are (local experiments: ``--include-path``,
``--report ndjson``...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a file: tests.support from the project

from tests.support.processes import free_port, manage, stop_session  # noqa: E402

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SEED = 8
MAX_EXAMPLES = 8
USERNAME = "fuzz"
# The first line of a record of the server's log (Django's or gunicorn's),
# and the levels of those that are errors.
_RECORD_START = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\[\d{4}-|[A-Z][A-Za-z ]+: /)"
)
_ERROR_LEVEL = re.compile(r" \[?(ERROR|CRITICAL)\]? ")
# Hard bound on Schemathesis itself, in seconds: a hung run fails rather than
# holding CI.
RUN_TIMEOUT = float(os.environ.get("PYFARM_FUZZ_TIMEOUT", "600"))

# Parameters the fuzzer fills, half of the time, with identifiers of the
# run's data (`Seeder.made`), so that its requests get past "not found".
BINDINGS = {
    "path.job": "job",
    "path.job_id": "job_id",
    "path.task_id": "task",
    "path.attempt": "attempt",
    "path.identifier": "log",
    "path.agent_id": "agent",
    "path.tagname": "tag",
    "path.software": "software",
    "path.jobtype": "jobtype",
    "path.queue": "queue",
    "path.group_id": "group",
    "path.pathmap_id": "pathmap",
    "path.username": "username",
    "body.jobtype": "jobtype",
    "body.main_jobtype": "jobtype",
    "body.jobqueue": "queue",
    "body.agent_id": "agent",
    "body.software": "software",
    "body.username": "username",
}
BINDING_PROBABILITY = 0.5

JOBTYPE_CODE = '''\
from pyfarm.jobtypes.core.jobtype import JobType


class FuzzShell(JobType):
    """Echo the frames."""
'''


def _say(message: str) -> None:
    sys.stdout.write(f"== {message}\n")
    sys.stdout.flush()


def _environment(workdir: Path, port: int) -> dict[str, str]:
    """The master's environment: the caller's, less its PYFARM_* keys."""
    config = workdir / "master.yml"
    config.write_text(
        "\n".join(
            [
                f"base_url: http://127.0.0.1:{port}",
                f"tasklogs_dir: {workdir / 'tasklogs'}",
                f"agent_updates_dir: {workdir / 'updates'}",
                f"scheduler_broker_dir: {workdir / 'broker'}",
                f"secret_key: fuzz-{uuid.uuid4().hex}",
                # As in production: no debug pages.
                "debug: false",
                # Schemathesis registers agents from 127.0.0.1, as an agent on
                # this machine would.
                "allow_agents_from_loopback: true",
                "",
            ]
        )
    )
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("PYFARM_")
    }
    env.update(
        {
            "PYFARM_CONFIG": str(config),
            "PYFARM_DATABASE_URI": os.environ.get("PYFARM_FUZZ_DATABASE_URI")
            or f"sqlite:///{workdir / 'farm.sqlite'}",
            "DJANGO_SUPERUSER_PASSWORD": f"fuzz-{uuid.uuid4().hex}",
        }
    )
    return env


@contextlib.contextmanager
def _server(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """gunicorn on 127.0.0.1:``port`` until the block ends; the API's URL."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "pyfarm_site.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{api}/openapi.json", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer:\n{log.read_text()}")
            time.sleep(0.3)
        yield api
    finally:
        stop_session(process)


class Seeder:
    """Makes the run's data through the API, as a client would."""

    def __init__(self, api: str, token: str) -> None:
        self.api = api
        # What was made, by the name of the parameter that names it: the
        # fuzzer draws from these some of the time (`dictionaries`), so that
        # its requests reach past "not found".
        self.made: dict[str, list[str | int]] = {}
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request that must succeed; its JSON (None for an empty body)."""
        response = self.session.request(
            method,
            self.api + path,
            data=None if body is None else json.dumps(body),
            timeout=30,
        )
        if response.status_code >= 300:
            raise RuntimeError(
                f"seeding: {method} {path}: {response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def remember(self, name: str, *values: str | int) -> None:
        """Note the identifiers of something made."""
        self.made.setdefault(name, []).extend(values)

    def seed(self) -> None:
        """Software, a job type, a tag, a queue, an agent, a group, jobs, a log."""
        self.call(
            "POST",
            "/software/",
            {
                "software": "blender",
                "versions": [{"version": "2.79"}, {"version": "4.2"}],
            },
        )
        self.call(
            "POST",
            "/jobtypes/",
            {
                "name": "fuzzshell",
                "classname": "FuzzShell",
                "code": JOBTYPE_CODE,
                "software_requirements": [{"software": "blender"}],
            },
        )
        self.call("POST", "/tags/", {"tag": "fuzz"})
        self.call("POST", "/jobqueues/", {"name": "fuzzq"})
        self.remember("software", "blender")
        self.remember("jobtype", "fuzzshell")
        self.remember("tag", "fuzz")
        self.remember("queue", "fuzzq")
        self.remember("username", USERNAME)
        agent = self.call(
            "POST",
            "/agents/",
            {
                "id": str(uuid.uuid4()),
                "hostname": "fuzz-agent",
                "remote_ip": "10.0.0.7",
                "port": 50000,
                "cpus": 4,
                "ram": 4096,
                "free_ram": 2048,
            },
        )
        self.remember("agent", agent["id"])
        self.call("POST", "/tags/fuzz/agents/", {"agent_id": agent["id"]})
        self.call(
            "POST",
            f"/agents/{agent['id']}/software/",
            {"software": "blender", "version": "2.79"},
        )
        group = self.call(
            "POST", "/jobgroups/", {"title": "shot 010", "main_jobtype": "fuzzshell"}
        )
        first = self.call(
            "POST",
            "/jobs/",
            {
                "jobtype": "fuzzshell",
                "title": "shot 010 render",
                "start": 1,
                "end": 4,
                "tags": ["fuzz"],
                "jobqueue": "fuzzq",
                "job_group_id": group["id"],
                "software_requirements": [{"software": "blender"}],
            },
        )
        self.call(
            "POST",
            "/jobs/",
            {
                "jobtype": "fuzzshell",
                "title": "shot 010 comp",
                "start": 1,
                "end": 2,
                "parents": [first["id"]],
            },
        )
        self.remember("group", group["id"])
        self.remember("job", str(first["id"]), first["title"])
        self.remember("job_id", first["id"])
        self.call(
            "POST", f"/jobs/{first['id']}/notified_users/", {"username": USERNAME}
        )
        task = self.call("GET", f"/jobs/{first['id']}/tasks/")[0]
        self.remember("task", task["id"])
        self.remember("log", "fuzz.csv")
        self.remember("attempt", 1)
        self.call(
            "POST",
            f"/jobs/{first['id']}/tasks/{task['id']}/attempts/1/logs/",
            {"identifier": "fuzz.csv", "agent_id": agent["id"]},
        )
        pathmap = self.call(
            "POST",
            "/pathmaps/",
            {
                "path_linux": "/mnt/projects",
                "path_windows": "P:\\",
                "path_osx": "/Volumes/projects",
                "tag": "fuzz",
            },
        )
        self.remember("pathmap", pathmap["id"])


def _config(workdir: Path, made: dict[str, list[str | int]]) -> Path:
    """schemathesis.toml, with dictionaries of the run's identifiers."""
    lines = [(HERE / "schemathesis.toml").read_text()]
    for name, values in sorted(made.items()):
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for key, name in BINDINGS.items():
        if name in made:
            lines.append(
                f'"{key}" = {{ dictionary = "{name}", '
                f"probability = {BINDING_PROBABILITY} }}"
            )
    config = workdir / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def _server_errors(log: Path, limit: int = 8000) -> str:
    """The server's errors, each distinct one once with its traceback and count.

    A log record starts with a timestamp; the lines that follow it (a
    traceback) belong to it. Warnings (the 4xx answers) are left out.
    """
    records: list[list[str]] = []
    for line in log.read_text(errors="replace").splitlines():
        if _RECORD_START.match(line) or not records:
            records.append([line])
        else:
            records[-1].append(line)
    errors: Counter[str] = Counter()
    first: dict[str, str] = {}
    for record in records:
        if not _ERROR_LEVEL.search(record[0]):
            continue
        key = record[-1]
        errors[key] += 1
        first.setdefault(key, "\n".join(record))
    text = "\n".join(
        f"--- {count} x\n{first[key]}" for key, count in errors.most_common()
    )
    return text[:limit] or "(none)"


def summarize(report: Path) -> str:
    """Requests sent, and failed checks by check and operation, from the report.

    Schemathesis prints each distinct failure once; this counts every
    response that failed a check, which is what changes from run to run.
    """
    requests_sent = 0
    # Requests made to fit the schema that the API refused as invalid: the
    # constraints the schema does not state (cross-field rules and the like).
    refused_valid: Counter[str] = Counter()
    failures: Counter[tuple[str, str]] = Counter()
    with report.open() as events:
        for line in events:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if finished is None:
                continue
            recorder = finished["recorder"]
            interactions = recorder.get("interactions") or {}
            requests_sent += len(interactions)
            for case_id, interaction in interactions.items():
                case = recorder["cases"][case_id]["value"]
                mode = case.get("meta", {}).get("generation", {}).get("mode")
                answer = interaction.get("response") or {}
                if mode == "positive" and answer.get("status_code") == 400:
                    refused_valid[f"{case['method']} {case['path']}"] += 1
            for case_id, checks in (recorder.get("checks") or {}).items():
                case = recorder["cases"][case_id]["value"]
                operation = f"{case['method']} {case['path']}"
                for check in checks:
                    if check["status"] == "failure":
                        failures[check["name"], operation] += 1
    lines = [
        f"{requests_sent} requests, {sum(failures.values())} failed checks; "
        f"{refused_valid.total()} schema-valid requests refused with 400"
    ]
    for operation, count in refused_valid.most_common(8):
        lines.append(f"    {count:5d} refused  {operation}")
    by_check: Counter[str] = Counter()
    for (check, _), count in failures.items():
        by_check[check] += count
    for check, count in by_check.most_common():
        lines.append(f"  {check}: {count}")
        for (name, operation), number in sorted(failures.items()):
            if name == check:
                lines.append(f"    {number:5d}  {operation}")
    return "\n".join(lines)


def run(seed: int, max_examples: int, extra: list[str]) -> int:
    """The whole run; Schemathesis's exit status."""
    workdir = Path(tempfile.mkdtemp(prefix="pyfarm-fuzz-"))
    try:
        port = free_port()
        env = _environment(workdir, port)
        _say(f"database {env['PYFARM_DATABASE_URI']}")
        manage(env, "migrate", "--no-input")
        manage(
            env,
            "createsuperuser",
            "--no-input",
            "--username",
            USERNAME,
            "--email",
            "fuzz@localhost",
        )
        token = manage(env, "drf_create_token", USERNAME).split()[2]
        report = workdir / "report.ndjson"
        with _server(env, port, workdir / "gunicorn.log") as api:
            _say(f"master on {api}; seeding")
            seeder = Seeder(api, token)
            seeder.seed()
            command = [
                str(BIN / "schemathesis"),
                "--config-file",
                str(_config(workdir, seeder.made)),
                "run",
                f"{api}/openapi.json",
                "--checks",
                ",".join(CHECKS),
                "--seed",
                str(seed),
                "--max-examples",
                str(max_examples),
                "--header",
                f"Authorization: Token {token}",
                "--report",
                "ndjson",
                "--report-ndjson-path",
                str(report),
                *extra,
            ]
            _say(f"schemathesis (seed {seed}, {max_examples} examples)")
            try:
                done = subprocess.run(
                    command,
                    cwd=workdir,
                    env={**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "hooks.py")},
                    timeout=RUN_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                _say(f"schemathesis ran over {RUN_TIMEOUT:.0f} s")
                return 1
            if report.exists():
                _say(summarize(report))
            if done.returncode != 0:
                _say(f"server errors:\n{_server_errors(workdir / 'gunicorn.log')}")
            return done.returncode
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--max-examples", type=int, default=MAX_EXAMPLES)
    parser.add_argument("extra", nargs="*", help="passed to schemathesis run")
    args = parser.parse_args()
    return run(args.seed, args.max_examples, args.extra)


if __name__ == "__main__":
    sys.exit(main())
