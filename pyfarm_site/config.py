"""The farm's configuration: YAML defaults, operator files and PYFARM_* overrides.

This is the only module that reads the configuration files and the environment.
`load_config()` builds one flat dictionary, in this order:

1. the defaults shipped inside the apps (`farm/etc/master.yml`,
   `farm/etc/models.yml`, `scheduling/etc/scheduler.yml`);
2. the operator's YAML files named by ``PYFARM_CONFIG`` (several may be given,
   separated by ``os.pathsep``), each overriding the keys it sets;
3. the documented ``PYFARM_*`` environment overrides (`ENVIRONMENT_OVERRIDES`);
4. ``${name}`` references resolved against the other keys, plus ``${temp}``
   (the system's temporary directory).

Every value is then checked against the type of its default, so a typo in an
operator file stops start-up with a message naming the key instead of failing
somewhere later.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEFAULT_FILES: tuple[Path, ...] = (
    BASE_DIR / "farm" / "etc" / "master.yml",
    BASE_DIR / "farm" / "etc" / "models.yml",
    BASE_DIR / "scheduling" / "etc" / "scheduler.yml",
)

CONFIG_FILES_VARIABLE = "PYFARM_CONFIG"

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TIMEDELTA_KEYS = {"weeks", "days", "hours", "minutes", "seconds", "milliseconds"}


# ---------------------------------------------------------------------------
# Typed parsers for environment values
# ---------------------------------------------------------------------------


def parse_bool(name: str, raw: str) -> bool:
    """Parse a boolean written as true/false, yes/no, on/off or 1/0."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: {raw!r} is not a boolean (use true or false)")


def parse_int(name: str, raw: str) -> int:
    """Parse a whole number."""
    try:
        return int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}: {raw!r} is not an integer") from None


def parse_optional_int(name: str, raw: str) -> int | None:
    """Parse a whole number, or an empty/"null"/"none" value meaning no value."""
    if raw.strip().lower() in {"", "null", "none"}:
        return None
    return parse_int(name, raw)


def parse_str(name: str, raw: str) -> str:
    """Return the value as it is (strings need no parsing)."""
    return raw


def parse_list(name: str, raw: str) -> list[str]:
    """Parse a comma-separated list, dropping empty items and surrounding blanks."""
    return [item.strip() for item in raw.split(",") if item.strip()]


def read_secret(name: str, environ: Mapping[str, str]) -> str | None:
    """Read a secret from ``name`` or from the file named by ``name + "_FILE"``.

    The file form keeps secrets out of the process environment (Docker and
    systemd credentials). Giving both is ambiguous and refused.
    """
    file_variable = f"{name}_FILE"
    if name in environ and file_variable in environ:
        raise ImproperlyConfigured(f"set either {name} or {file_variable}, not both")
    if file_variable in environ:
        path = Path(environ[file_variable])
        try:
            return path.read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(
                f"{file_variable}: cannot read {path}: {error.strerror}"
            ) from None
    return environ.get(name)


# ---------------------------------------------------------------------------
# Environment overrides (the original's ENVIRONMENT_OVERRIDES, plus PYFARM_DEBUG)
# ---------------------------------------------------------------------------

Parser = Callable[[str, str], Any]

ENVIRONMENT_OVERRIDES: dict[str, tuple[str, Parser]] = {
    "allow_agents_from_loopback": (
        "PYFARM_DEV_ALLOW_AGENT_LOOPBACK_ADDRESSES",
        parse_bool,
    ),
    "farm_name": ("PYFARM_FARM_NAME", parse_str),
    "tasklogs_dir": ("PYFARM_LOGFILES_DIR", parse_str),
    "dev_db_drop_all": ("PYFARM_DEV_APP_DB_DROP_ALL", parse_bool),
    "dev_db_create_all": ("PYFARM_DEV_APP_DB_CREATE_ALL", parse_bool),
    "secret_key": ("PYFARM_SECRET_KEY", parse_str),
    "agent_request_timeout": ("PYFARM_AGENT_REQUEST_TIMEOUT", parse_int),
    "autocreate_users": ("PYFARM_AUTOCREATE_USERS", parse_bool),
    "echo_sql": ("PYFARM_SQL_ECHO", parse_bool),
    "database": ("PYFARM_DATABASE_URI", parse_str),
    "agent_updates_webdir": ("PYFARM_AGENT_UPDATES_WEBDIR", parse_str),
    "pretty_json": ("PYFARM_JSON_PRETTY", parse_bool),
    "from_email": ("PYFARM_FROM_ADDRESS", parse_str),
    "scheduler_broker": ("PYFARM_SCHEDULER_BROKER", parse_str),
    "agent_updates_dir": ("PYFARM_AGENT_UPDATES_DIR", parse_str),
    "base_url": ("PYFARM_BASE_URL", parse_str),
    "timestamp_format": ("PYFARM_TIMESTAMP_FORMAT", parse_str),
    "login_disabled": ("PYFARM_LOGIN_DISABLED", parse_bool),
    "default_job_delete_time": ("PYFARM_DEFAULT_JOB_DELETE_TIME", parse_optional_int),
    "smtp_server": ("PYFARM_MAIL_SERVER", parse_str),
    # Not in the original: production needs these without a file.
    "debug": ("PYFARM_DEBUG", parse_bool),
    "agent_networks": ("PYFARM_AGENT_NETWORKS", parse_list),
    "scheduler_broker_dir": ("PYFARM_SCHEDULER_BROKER_DIR", parse_str),
    # HTTPS and host names (README, "Deploying in production").
    "allowed_hosts": ("PYFARM_ALLOWED_HOSTS", parse_list),
    "ssl_redirect": ("PYFARM_SSL_REDIRECT", parse_bool),
    "hsts_seconds": ("PYFARM_HSTS_SECONDS", parse_int),
    "hsts_include_subdomains": ("PYFARM_HSTS_INCLUDE_SUBDOMAINS", parse_bool),
    "hsts_preload": ("PYFARM_HSTS_PRELOAD", parse_bool),
    "secure_cookies": ("PYFARM_SECURE_COOKIES", parse_bool),
    "proxy_ssl_header": ("PYFARM_PROXY_SSL_HEADER", parse_str),
    # Trust and limits (README, "Access").
    "trusted_proxies": ("PYFARM_TRUSTED_PROXIES", parse_list),
    "max_tasks_per_job": ("PYFARM_MAX_TASKS_PER_JOB", parse_int),
}

# Overrides that may also come from a file (``<VARIABLE>_FILE``).
SECRET_KEYS = {"secret_key", "database"}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping; anything else is a configuration error."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ImproperlyConfigured(
            f"cannot read configuration file {path}: {error.strerror}"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ImproperlyConfigured(f"{path} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{path} must hold a mapping of keys to values")
    return data


def _type_of_default(value: Any) -> type | None:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int | float):
        return float if isinstance(value, float) else int
    if isinstance(value, str):
        return str
    if isinstance(value, dict):
        return dict
    if isinstance(value, list):
        return list
    return None


def _check_type(key: str, value: Any, default: Any) -> Any:
    """Coerce ``value`` to the type of ``default``, or name the key that is wrong."""
    expected = _type_of_default(default)
    if expected is None or value is None:
        return value
    if expected is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return parse_bool(key, value)
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return parse_int(key, value)
    elif expected is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(value, expected):
        return value
    raise ImproperlyConfigured(
        f"{key}: {value!r} is not a valid {expected.__name__} "
        f"(the default is {default!r})"
    )


def _resolve(key: str, value: Any, variables: Mapping[str, Any], seen: tuple) -> Any:
    """Replace ``${name}`` references in strings (recursively, with cycle checks)."""
    if isinstance(value, dict):
        return {k: _resolve(key, v, variables, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(key, v, variables, seen) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            chain = " -> ".join((*seen, name))
            raise ImproperlyConfigured(f"{key}: circular reference {chain}")
        if name not in variables:
            raise ImproperlyConfigured(f"{key}: unknown reference ${{{name}}}")
        resolved = _resolve(name, variables[name], variables, (*seen, name))
        return "" if resolved is None else str(resolved)

    return _REFERENCE.sub(substitute, value)


#: Keys of the original that no longer do anything, with the reason. They are
#: not in the shipped defaults; an operator file that still sets one is
#: accepted and the value ignored (README, "Retired keys").
RETIRED_KEYS: dict[str, str] = {
    "statistics_database": "statistics live in the main database",
    "csrf_session_key": "Django signs CSRF tokens with secret_key",
    "instance_application": "the WSGI application is always "
    "pyfarm_site.wsgi:application",
    "scheduler_lockfile_base": "the scheduler locks database rows, not files",
    "transaction_retries": "no transaction runs at an isolation level that "
    "fails with serialization errors: races are settled by row locks and "
    "conditional updates",
}


def load_config(
    environ: Mapping[str, str] | None = None,
    default_files: tuple[Path, ...] = DEFAULT_FILES,
) -> dict[str, Any]:
    """Build the farm's configuration; see the module docstring for the order."""
    environ = os.environ if environ is None else environ
    defaults: dict[str, Any] = {}
    for path in default_files:
        defaults.update(read_yaml(path))

    config = dict(defaults)
    for name in filter(None, environ.get(CONFIG_FILES_VARIABLE, "").split(os.pathsep)):
        for key, value in read_yaml(Path(name)).items():
            if key in RETIRED_KEYS and key not in defaults:
                continue
            if key not in defaults:
                raise ImproperlyConfigured(f"{name}: unknown configuration key {key!r}")
            config[key] = value

    for key, (variable, parser) in ENVIRONMENT_OVERRIDES.items():
        raw = read_secret(variable, environ) if key in SECRET_KEYS else None
        if raw is None:
            raw = environ.get(variable)
        if raw is not None:
            config[key] = parser(variable, raw)

    variables = {"temp": tempfile.gettempdir(), **config}
    resolved: dict[str, Any] = {}
    for key, value in config.items():
        value = _resolve(key, value, variables, (key,))
        resolved[key] = _check_type(key, value, defaults.get(key))
    return resolved


def as_timedelta(key: str, value: Any) -> datetime.timedelta:
    """Turn a ``{hours: 1}``-style mapping into a timedelta, naming bad keys."""
    if not isinstance(value, dict) or not value:
        raise ImproperlyConfigured(f"{key}: expected timedelta keywords, got {value!r}")
    unknown = set(value) - _TIMEDELTA_KEYS
    if unknown:
        raise ImproperlyConfigured(
            f"{key}: unknown timedelta keyword(s) {', '.join(sorted(unknown))}"
        )
    try:
        return datetime.timedelta(**{k: float(v) for k, v in value.items()})
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            f"{key}: {value!r} is not a valid duration"
        ) from None


_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")


def as_proxy_ssl_header(key: str, value: Any) -> tuple[str, str] | None:
    """Django's ``SECURE_PROXY_SSL_HEADER`` from a header name, or None.

    ``X-Forwarded-Proto`` becomes ``("HTTP_X_FORWARDED_PROTO", "https")``:
    requests that carry ``X-Forwarded-Proto: https`` count as secure.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value):
        raise ImproperlyConfigured(
            f"{key}: {value!r} is not a header name (e.g. X-Forwarded-Proto)"
        )
    return "HTTP_" + value.upper().replace("-", "_"), "https"


def as_non_negative(key: str, value: int) -> int:
    """``value`` if it is zero or more; else a configuration error."""
    if value < 0:
        raise ImproperlyConfigured(f"{key}: {value} is negative")
    return value


def as_host_names(key: str, value: list[Any]) -> list[str]:
    """A list of host names (``"*"``, ``.example.com``, ``10.0.0.5``...)."""
    names = [str(name).strip() for name in value]
    if not names or not all(names):
        raise ImproperlyConfigured(
            f'{key}: list at least one host name (or "*" for any)'
        )
    return names


def as_networks(key: str, value: Any) -> list[str]:
    """A list of IP networks in CIDR form (``10.0.0.0/8``, ``::1/128``).

    A bare address is a network of one. Host bits may be set
    (``10.1.2.3/8`` is ``10.0.0.0/8``), as the request checks read them.
    """
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list):
        raise ImproperlyConfigured(f"{key}: expected a list of networks")
    networks = []
    for item in value:
        text = str(item).strip()
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{key}: {text!r} is not an IP network (e.g. 10.0.0.0/8)"
            ) from None
        networks.append(text)
    return networks


# moment.js tokens (the original UI's) and Django's ``date`` format letters.
_MOMENT_TOKENS = {
    "YYYY": "Y",
    "YY": "y",
    "MMMM": "F",
    "MMM": "M",
    "MM": "m",
    "M": "n",
    "DD": "d",
    "D": "j",
    "dddd": "l",
    "ddd": "D",
    "HH": "H",
    "H": "G",
    "hh": "h",
    "h": "g",
    "mm": "i",
    "ss": "s",
    "A": "A",
    "a": "a",
    "ZZ": "O",
    "Z": "O",
}
_MOMENT = re.compile(
    r"\[([^\]]*)\]|"
    + "|".join(sorted(_MOMENT_TOKENS, key=len, reverse=True))
    + r"|[A-Za-z]"
)


def as_date_format(key: str, value: Any) -> str:
    """Django's ``date`` format of a moment.js format (``YYYY-MM-DD HH:mm:ss``).

    The tokens of years, months, days, hours, minutes, seconds, AM/PM and
    the UTC offset are translated, ``[text]`` is kept as text; any other
    letter is refused, so that a typo stops start-up.
    """
    if not isinstance(value, str) or not value.strip():
        raise ImproperlyConfigured(f"{key}: expected a moment.js format string")
    parts: list[str] = []
    position = 0
    for match in _MOMENT.finditer(value):
        parts.append(value[position : match.start()])
        token = match.group(0)
        if match.group(1) is not None:
            parts.append("".join(f"\\{char}" for char in match.group(1)))
        elif token in _MOMENT_TOKENS:
            parts.append(_MOMENT_TOKENS[token])
        else:
            raise ImproperlyConfigured(
                f"{key}: {token!r} is not a supported moment.js token in {value!r}"
            )
        position = match.end()
    parts.append(value[position:])
    return "".join(parts)


_POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


#: Seconds a new PostgreSQL connection may take (libpq's ``connect_timeout``).
DATABASE_CONNECT_TIMEOUT = 3


def parse_database_url(key: str, url: str) -> dict[str, Any]:
    """Turn an SQLAlchemy-style database URL into Django's DATABASES entry.

    Accepts ``sqlite:///relative.sqlite``, ``sqlite:////absolute.sqlite``,
    ``sqlite://`` (in memory) and ``postgresql://`` with or without a driver
    suffix (``postgresql+psycopg2://``), which SQLAlchemy URLs often carry.
    """
    import dj_database_url

    scheme, separator, rest = url.partition("://")
    dialect = scheme.split("+", 1)[0].lower()
    if not separator or not scheme:
        raise ImproperlyConfigured(f"{key}: {url!r} is not a database URL")
    if dialect in _POSTGRES_SCHEMES:
        normalized = f"postgres://{rest}"
    elif dialect == "sqlite":
        normalized = f"sqlite://{rest}"
    else:
        raise ImproperlyConfigured(
            f"{key}: unsupported database {scheme!r} "
            "(use sqlite:///file.sqlite or postgresql://user:password@host/name)"
        )
    try:
        database = dict(dj_database_url.parse(normalized))
    except ValueError as error:
        raise ImproperlyConfigured(f"{key}: {error}") from None
    if dialect == "sqlite":
        database["OPTIONS"] = {
            # Several processes (web, worker, beat) share the file: wait for
            # locks instead of failing, take the write lock up front so that
            # transactions do not deadlock on upgrade, and let readers run
            # beside a writer.
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        if not database.get("NAME"):
            raise ImproperlyConfigured(f"{key}: {url!r} names no database")
        database["CONN_MAX_AGE"] = 60
        database["CONN_HEALTH_CHECKS"] = True
        # A server that does not answer (down host, dropped packets) fails a
        # connection after a few seconds instead of hanging the request.
        database["OPTIONS"] = {"connect_timeout": DATABASE_CONNECT_TIMEOUT}
    return database


#: Seconds a cache or broker call waits on a Redis server that does not answer.
REDIS_TIMEOUT = 1.0


def cache_settings(broker_url: str, broker_dir: str) -> dict[str, Any]:
    """Django's default cache, shared by every process of the master.

    It holds what processes must agree on (the scheduler's debounce of its
    event-driven ticks). With a Redis broker it is that Redis server, which
    every host reaches; with the embedded broker it is a folder beside the
    broker's (``<scheduler_broker_dir>/cache``), shared by the processes of
    one machine. A Redis server that hangs fails each cache call after
    ``REDIS_TIMEOUT`` seconds, so that no request waits on it longer.
    """
    scheme = broker_url.partition("://")[0].lower()
    if scheme in {"redis", "rediss"}:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": broker_url,
            # Apart from the broker's own keys in the same database.
            "KEY_PREFIX": "pyfarm",
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT,
                "socket_timeout": REDIS_TIMEOUT,
            },
        }
    return {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(Path(broker_dir) / "cache"),
    }
