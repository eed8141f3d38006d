"""The configuration loader: defaults, operator files, overrides, bad values."""

from __future__ import annotations

import datetime
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from pyfarm_site.config import (
    BASE_DIR,
    DATABASE_CONNECT_TIMEOUT,
    ENVIRONMENT_OVERRIDES,
    RETIRED_KEYS,
    as_date_format,
    as_networks,
    as_timedelta,
    load_config,
    parse_bool,
    parse_database_url,
    parse_int,
    parse_list,
    parse_optional_int,
    read_secret,
)

# Every key of the original's master.yml, models.yml and scheduler.yml.
DOCUMENTED_KEYS = {
    # Ours: off unless asked for (the original shipped true).
    "debug": False,
    "database": "sqlite:///pyfarm.sqlite",
    "scheduler_broker": "filesystem://",
    "base_url": "http://127.0.0.1:5000/",
    "secret_key": "pyfarm",
    "api_prefix": "/api/v1",
    "login_disabled": False,
    "cookie_duration": {"hours": 16},
    "pretty_json": False,
    "default_job_delete_time": None,
    "agent_updates_webdir": None,
    "queue_default_priority": 0,
    "queue_default_weight": 10,
    "queue_min_priority": -1000,
    "queue_max_priority": 1000,
    "job_type_max_batch": 1,
    "job_type_batch_contiguous": True,
    "table_software_version": "software_versions",
    "allow_agents_from_loopback": False,
    "agent_ram_allocation": 0.8,
    "agent_min_port": 1024,
    "agent_max_ram": 262144,
    "job_requeue_default": 3,
    "max_discovery_function_name_length": 255,
    "master_user_agent": "PyFarm/1.0 (master)",
    "agent_poll_interval": {"seconds": 30},
    "assign_tasks_interval": {"minutes": 4},
    "delete_job_interval": {"minutes": 5},
    "agent_request_timeout": 10,
    "smtp_login": [None, None],
    "from_email": "pyfarm@localhost",
    # Django's syntax like the other templates; the original's {job_title}
    # still works (scheduling/tests/test_notifications.py).
    "deleted_subject": "Job {{ job.title }} deleted",
    "enable_statistics": True,
    "task_count_interval": {"minutes": 15},
}


def test_it_ships_the_documented_defaults() -> None:
    config = load_config(environ={})
    for key, value in DOCUMENTED_KEYS.items():
        assert config[key] == value, key


def test_it_resolves_temp_references() -> None:
    config = load_config(environ={})
    import tempfile

    assert config["tasklogs_dir"] == f"{tempfile.gettempdir()}/task_logs"
    assert config["agent_updates_dir"] == f"{tempfile.gettempdir()}/pyfarm-updates"


def test_it_resolves_references_to_overridden_keys(tmp_path: Path) -> None:
    operator = tmp_path / "farm.yml"
    operator.write_text('table_prefix: "pf_"\n')
    config = load_config(environ={"PYFARM_CONFIG": str(operator)})
    assert config["table_software_version"] == "pf_software_versions"


def test_environment_overrides_take_effect() -> None:
    config = load_config(
        environ={
            "PYFARM_LOGIN_DISABLED": "true",
            "PYFARM_DEV_ALLOW_AGENT_LOOPBACK_ADDRESSES": "yes",
            "PYFARM_SCHEDULER_BROKER": "redis://127.0.0.1:6380/1",
            "PYFARM_AGENT_REQUEST_TIMEOUT": "42",
            "PYFARM_DATABASE_URI": "postgresql://u@h/db",
            "PYFARM_LOGFILES_DIR": "/srv/logs",
            "PYFARM_DEFAULT_JOB_DELETE_TIME": "3600",
            "PYFARM_DEBUG": "off",
        }
    )
    assert config["login_disabled"] is True
    assert config["allow_agents_from_loopback"] is True
    assert config["scheduler_broker"] == "redis://127.0.0.1:6380/1"
    assert config["agent_request_timeout"] == 42
    assert config["database"] == "postgresql://u@h/db"
    assert config["tasklogs_dir"] == "/srv/logs"
    assert config["default_job_delete_time"] == 3600
    assert config["debug"] is False


def test_every_documented_override_names_a_key() -> None:
    config = load_config(environ={})
    documented = {
        "PYFARM_DEV_ALLOW_AGENT_LOOPBACK_ADDRESSES",
        "PYFARM_FARM_NAME",
        "PYFARM_LOGFILES_DIR",
        "PYFARM_DEV_APP_DB_DROP_ALL",
        "PYFARM_SECRET_KEY",
        "PYFARM_AGENT_REQUEST_TIMEOUT",
        "PYFARM_AUTOCREATE_USERS",
        "PYFARM_SQL_ECHO",
        "PYFARM_DATABASE_URI",
        "PYFARM_AGENT_UPDATES_WEBDIR",
        "PYFARM_JSON_PRETTY",
        "PYFARM_DEV_APP_DB_CREATE_ALL",
        "PYFARM_FROM_ADDRESS",
        "PYFARM_SCHEDULER_BROKER",
        "PYFARM_AGENT_UPDATES_DIR",
        "PYFARM_BASE_URL",
        "PYFARM_TIMESTAMP_FORMAT",
        "PYFARM_LOGIN_DISABLED",
        "PYFARM_DEFAULT_JOB_DELETE_TIME",
        "PYFARM_MAIL_SERVER",
    }
    # Those of retired keys (RETIRED_KEYS) are not read any more.
    retired = {
        "PYFARM_APP_INSTANCE",
        "PYFARM_TRANSACTION_RETRIES",
        "PYFARM_SCHEDULER_LOCKFILE_BASE",
    }
    variables = {variable for variable, _ in ENVIRONMENT_OVERRIDES.values()}
    assert documented <= variables
    assert not retired & variables
    assert set(ENVIRONMENT_OVERRIDES) <= set(config)


def test_operator_file_overrides_defaults_and_environment_wins(tmp_path: Path) -> None:
    operator = tmp_path / "farm.yml"
    operator.write_text("farm_name: studio\nqueue_default_weight: 20\n")
    config = load_config(
        environ={"PYFARM_CONFIG": str(operator), "PYFARM_FARM_NAME": "override"}
    )
    assert config["queue_default_weight"] == 20
    assert config["farm_name"] == "override"


def test_several_operator_files_apply_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yml", tmp_path / "b.yml"
    first.write_text("farm_name: a\nsmtp_port: 25\n")
    second.write_text("farm_name: b\n")
    import os

    config = load_config(environ={"PYFARM_CONFIG": f"{first}{os.pathsep}{second}"})
    assert config["farm_name"] == "b"
    assert config["smtp_port"] == 25


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PYFARM_LOGIN_DISABLED": "maybe"}, "PYFARM_LOGIN_DISABLED"),
        ({"PYFARM_AGENT_REQUEST_TIMEOUT": "ten"}, "PYFARM_AGENT_REQUEST_TIMEOUT"),
        ({"PYFARM_CONFIG": "/nonexistent/farm.yml"}, "/nonexistent/farm.yml"),
    ],
)
def test_bad_environment_values_name_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        load_config(environ=environ)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agent_request_timeout: soon\n", "agent_request_timeout"),
        ("login_disabled: perhaps\n", "login_disabled"),
        ("agent_ram_allocation: lots\n", "agent_ram_allocation"),
        ("cookie_duration: 5\n", "cookie_duration"),
        ("no_such_key: 1\n", "no_such_key"),
        ("tasklogs_dir: ${nowhere}/logs\n", "nowhere"),
        ("table_prefix: ${table_software}\n", "circular"),
        ("- a list\n", "mapping"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_operator_files_name_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    operator = tmp_path / "farm.yml"
    operator.write_text(text)
    with pytest.raises(ImproperlyConfigured, match=message):
        load_config(environ={"PYFARM_CONFIG": str(operator)})


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    config = load_config(environ={"PYFARM_SECRET_KEY_FILE": str(secret)})
    assert config["secret_key"] == "s3cr3t"


def test_a_secret_given_twice_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        read_secret(
            "PYFARM_SECRET_KEY",
            {"PYFARM_SECRET_KEY": "a", "PYFARM_SECRET_KEY_FILE": str(secret)},
        )


def test_an_unreadable_secret_file_is_named() -> None:
    with pytest.raises(ImproperlyConfigured, match="PYFARM_SECRET_KEY_FILE"):
        read_secret("PYFARM_SECRET_KEY", {"PYFARM_SECRET_KEY_FILE": "/nonexistent"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("On", True), ("no", False), ("0", False)],
)
def test_parse_bool(raw: str, expected: bool) -> None:
    assert parse_bool("X", raw) is expected


def test_parse_int_and_optional_int() -> None:
    assert parse_int("X", " 12 ") == 12
    assert parse_optional_int("X", "null") is None
    assert parse_optional_int("X", "5") == 5
    with pytest.raises(ImproperlyConfigured, match="X"):
        parse_int("X", "twelve")


def test_parse_list() -> None:
    assert parse_list("X", "10.0.0.0/8, 127.0.0.1/32,,") == [
        "10.0.0.0/8",
        "127.0.0.1/32",
    ]


def test_as_timedelta() -> None:
    assert as_timedelta("k", {"hours": 1, "minutes": 30}) == datetime.timedelta(
        minutes=90
    )
    with pytest.raises(ImproperlyConfigured, match="fortnights"):
        as_timedelta("k", {"fortnights": 1})
    with pytest.raises(ImproperlyConfigured, match="k"):
        as_timedelta("k", 5)


@pytest.mark.parametrize(
    ("url", "engine", "name"),
    [
        ("sqlite:///pyfarm.sqlite", "django.db.backends.sqlite3", "pyfarm.sqlite"),
        (
            "sqlite:////srv/pyfarm.sqlite",
            "django.db.backends.sqlite3",
            "/srv/pyfarm.sqlite",
        ),
        ("sqlite://", "django.db.backends.sqlite3", ":memory:"),
        ("postgresql://u:p@db:5432/farm", "django.db.backends.postgresql", "farm"),
        ("postgresql+psycopg2://u:p@db/farm", "django.db.backends.postgresql", "farm"),
        ("postgres://u@db/farm", "django.db.backends.postgresql", "farm"),
    ],
)
def test_database_urls(url: str, engine: str, name: str) -> None:
    database = parse_database_url("database", url)
    assert database["ENGINE"] == engine
    assert database["NAME"] == name


def test_postgres_url_keeps_credentials() -> None:
    database = parse_database_url("database", "postgresql+psycopg2://u:pw@db:6543/farm")
    assert (database["USER"], database["PASSWORD"], database["HOST"]) == (
        "u",
        "pw",
        "db",
    )
    assert database["PORT"] == 6543


def test_a_postgresql_server_that_does_not_answer_fails_the_connection(
    django_db_blocker: Any,
) -> None:
    """A host that takes the TCP connection and then says nothing (a hung
    server, a firewall) fails after ``connect_timeout``, not never."""
    from django.db import OperationalError
    from django.db.utils import ConnectionHandler

    with django_db_blocker.unblock(), socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = parse_database_url("database", f"postgresql://u@127.0.0.1:{port}/f")
        handler = ConnectionHandler({"default": settings})
        wrapper = handler["default"]
        outcome: list[BaseException] = []

        def connect() -> None:
            try:
                wrapper.ensure_connection()
            except BaseException as error:
                outcome.append(error)

        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        thread.join(timeout=DATABASE_CONNECT_TIMEOUT + 10)
        hung = thread.is_alive()
    thread.join(timeout=30)  # the socket is closed: libpq gives up now

    assert not hung, "the connection waited on a silent server"
    assert len(outcome) == 1 and isinstance(outcome[0], OperationalError)


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "oracle://x", "not a url", "postgresql://u@h/"]
)
def test_bad_database_urls_name_the_key(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="database"):
        parse_database_url("database", url)


def _run_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_startup_stops_with_a_message_naming_the_bad_key() -> None:
    result = _run_check({"PYFARM_DATABASE_URI": "mysql://u@h/db"})
    assert result.returncode != 0
    assert "database: unsupported database 'mysql'" in result.stderr


def test_startup_refuses_changed_table_names(tmp_path: Path) -> None:
    operator = tmp_path / "farm.yml"
    operator.write_text('table_prefix: "pf_"\n')
    result = _run_check(
        {"PYFARM_CONFIG": str(operator), "PYFARM_DATABASE_URI": "sqlite://"}
    )
    assert result.returncode != 0
    assert "farm.E001" in result.stderr


def test_startup_refuses_lengths_beyond_the_columns(tmp_path: Path) -> None:
    operator = tmp_path / "farm.yml"
    operator.write_text("max_tag_length: 500\n")
    result = _run_check(
        {"PYFARM_CONFIG": str(operator), "PYFARM_DATABASE_URI": "sqlite://"}
    )
    assert result.returncode != 0
    assert "max_tag_length" in result.stderr


def test_agent_networks_come_from_a_comma_separated_override() -> None:
    config = load_config(environ={"PYFARM_AGENT_NETWORKS": "10.0.0.0/8, 192.0.2.0/24"})
    assert config["agent_networks"] == ["10.0.0.0/8", "192.0.2.0/24"]
    assert "127.0.0.0/8" in load_config(environ={})["agent_networks"]


def test_trusted_proxies_come_from_a_comma_separated_override() -> None:
    config = load_config(environ={"PYFARM_TRUSTED_PROXIES": "127.0.0.1/32, ::1"})
    assert config["trusted_proxies"] == ["127.0.0.1/32", "::1"]
    assert load_config(environ={})["trusted_proxies"] == []


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "garbage", "10.0.0.256/8", ""])
def test_a_bad_agent_network_is_refused_naming_the_key(bad: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^agent_networks: .* IP network"):
        as_networks("agent_networks", ["10.0.0.0/8", bad])


def test_agent_networks_must_be_a_list() -> None:
    with pytest.raises(ImproperlyConfigured, match="agent_networks: expected a list"):
        as_networks("agent_networks", "10.0.0.0/8")


def test_good_agent_networks_pass() -> None:
    networks = ["10.0.0.0/8", "10.1.2.3/16", "192.0.2.7", "fc00::/7", "::1/128"]
    assert as_networks("agent_networks", networks) == networks
    assert as_networks("agent_networks", None) == []


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "garbage"])
def test_startup_stops_on_a_bad_agent_network(bad: str) -> None:
    result = _run_check(
        {
            "PYFARM_AGENT_NETWORKS": f"10.0.0.0/8,{bad}",
            "PYFARM_DATABASE_URI": "sqlite://",
        }
    )
    assert result.returncode != 0
    assert f"agent_networks: '{bad}' is not an IP network" in result.stderr


@pytest.mark.parametrize(
    ("moment", "django"),
    [
        ("YYYY-MM-DD HH:mm:ss", "Y-m-d H:i:s"),
        ("DD.MM.YY H:mm", "d.m.y G:i"),
        ("ddd, MMM D YYYY h:mm A", "D, M j Y g:i A"),
        ("dddd D MMMM [at] hh:mm a Z", "l j F \\a\\t h:i a O"),
    ],
)
def test_timestamp_format_translates_moment_tokens(moment: str, django: str) -> None:
    assert as_date_format("timestamp_format", moment) == django


@pytest.mark.parametrize("bad", ["YYYY-MM-DD Q", "", 5])
def test_a_bad_timestamp_format_is_refused_naming_the_key(bad: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^timestamp_format: "):
        as_date_format("timestamp_format", bad)


def test_retired_keys_are_not_shipped() -> None:
    config = load_config(environ={})
    assert not set(RETIRED_KEYS) & set(config)


def test_an_operator_file_may_still_set_a_retired_key(tmp_path: Path) -> None:
    operator = tmp_path / "farm.yml"
    operator.write_text("transaction_retries: 3\ncsrf_session_key: x\nfarm_name: a\n")
    config = load_config(environ={"PYFARM_CONFIG": str(operator)})
    assert config["farm_name"] == "a"
    assert "transaction_retries" not in config
    assert "csrf_session_key" not in config


def test_max_tasks_per_job_comes_from_the_environment() -> None:
    assert load_config(environ={})["max_tasks_per_job"] == 1_000_000
    config = load_config(environ={"PYFARM_MAX_TASKS_PER_JOB": "5000"})
    assert config["max_tasks_per_job"] == 5000


def test_startup_refuses_a_trusted_proxy_that_is_no_network() -> None:
    result = _run_check(
        {"PYFARM_TRUSTED_PROXIES": "proxy.local", "PYFARM_DATABASE_URI": "sqlite://"}
    )
    assert result.returncode != 0
    assert "farm.E004" in result.stderr
    assert "trusted_proxies" in result.stderr


SQLITE = "django.db.backends.sqlite3"


def test_an_old_sqlite_is_refused() -> None:
    from farm.checks import sqlite_version_errors

    [error] = sqlite_version_errors(SQLITE, (3, 31, 1))
    assert error.id == "farm.E003"
    assert "3.31.1" in error.msg
    assert sqlite_version_errors(SQLITE, (3, 35, 0)) == []


def test_the_sqlite_check_leaves_postgresql_alone() -> None:
    from farm.checks import sqlite_version_errors

    assert sqlite_version_errors("django.db.backends.postgresql", (3, 0, 0)) == []


def test_the_linked_sqlite_passes_the_check() -> None:
    from farm.checks import check_sqlite_version

    assert check_sqlite_version() == []
