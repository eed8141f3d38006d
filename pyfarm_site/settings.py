"""Django settings of the PyFarm master.

Every value an operator may change comes from the farm's configuration
(`pyfarm_site.config.load_config`: YAML defaults, PYFARM_CONFIG files and
PYFARM_* environment variables). Nothing here reads the environment itself.
"""

from __future__ import annotations

from pyfarm_site.config import (
    BASE_DIR,
    REDIS_TIMEOUT,
    as_date_format,
    as_host_names,
    as_networks,
    as_non_negative,
    as_proxy_ssl_header,
    as_timedelta,
    cache_settings,
    load_config,
    parse_database_url,
)

# ---------------------------------------------------------------------------
# The farm's configuration
# ---------------------------------------------------------------------------

PYFARM = load_config()

SECRET_KEY = PYFARM["secret_key"]
DEBUG = PYFARM["debug"]

# ---------------------------------------------------------------------------
# Security: host names and HTTPS (README, "Deploying in production")
# ---------------------------------------------------------------------------

ALLOWED_HOSTS = as_host_names("allowed_hosts", PYFARM["allowed_hosts"])
# Checked here so that a typo stops start-up instead of failing each request.
as_networks("agent_networks", PYFARM["agent_networks"])
# The dashboard's full timestamps (the ``timestamp`` template filter).
TIMESTAMP_FORMAT = as_date_format("timestamp_format", PYFARM["timestamp_format"])
SECURE_SSL_REDIRECT = PYFARM["ssl_redirect"]
SECURE_HSTS_SECONDS = as_non_negative("hsts_seconds", PYFARM["hsts_seconds"])
SECURE_HSTS_INCLUDE_SUBDOMAINS = PYFARM["hsts_include_subdomains"]
SECURE_HSTS_PRELOAD = PYFARM["hsts_preload"]
SESSION_COOKIE_SECURE = PYFARM["secure_cookies"]
CSRF_COOKIE_SECURE = PYFARM["secure_cookies"]
SECURE_PROXY_SSL_HEADER = as_proxy_ssl_header(
    "proxy_ssl_header", PYFARM["proxy_ssl_header"]
)

# ---------------------------------------------------------------------------
# Applications
# ---------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "django_htmx",
    "template_partials",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "accounts",
    "farm",
    "scheduling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the request: NUL characters and control
    # characters in URLs (farm/api/middleware.py).
    "farm.api.middleware.RequestGuardMiddleware",
    # The agents' plain heartbeats and task reports, answered ahead of the
    # rest of the stack and of DRF; any other request goes on
    # (farm/api/agent_fast_path.py).
    "farm.api.agent_fast_path.AgentFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginDisabledMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # request.htmx: the dashboard's pages answer htmx with a partial.
    "django_htmx.middleware.HtmxMiddleware",
    # An htmx refresh whose session ended reloads the page (farm/web).
    "farm.web.middleware.HtmxLoginRefreshMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pyfarm_site.outages.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "pyfarm_site.urls"
WSGI_APPLICATION = "pyfarm_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------

DATABASES = {"default": parse_database_url("database", PYFARM["database"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Bodies of ordinary requests; uploads (logs, agent updates) have their own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = PYFARM["max_request_size"]

# ---------------------------------------------------------------------------
# REST API
# ---------------------------------------------------------------------------

API_PREFIX = PYFARM["api_prefix"].strip("/") + "/"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "farm.api.renderers.FarmJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["farm.api.parsers.FarmJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "farm.api.authentication.LoginDisabledAuthentication",
        # The users' named tokens (account page), then DRF's tokens: the
        # same header, told apart by the key's prefix.
        "farm.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["farm.api.permissions.FarmPermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": None,
    "EXCEPTION_HANDLER": "farm.api.exceptions.api_exception_handler",
    # OPTIONS describes no bodies (the OpenAPI schema does) and looks nothing up.
    "DEFAULT_METADATA_CLASS": "farm.api.metadata.FarmMetadata",
    "DEFAULT_SCHEMA_CLASS": "farm.api.schema.FarmAutoSchema",
    "URL_FORMAT_OVERRIDE": None,
    "UNICODE_JSON": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PyFarm master API",
    "DESCRIPTION": "REST API v1 of the PyFarm render farm master.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema tells the truth (farm/api/schema.py): request and response
    # components apart (what a request may hold, what an answer holds), the
    # security schemes clients use (login_disabled is none), and one name
    # for each set of states.
    "COMPONENT_SPLIT_REQUEST": True,
    # ApiTokenAuthentication takes the same header as TokenAuthentication:
    # one scheme documents both (farm.api.schema.TokenScheme).
    "AUTHENTICATION_WHITELIST": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "ENUM_NAME_OVERRIDES": {
        "WorkStateEnum": "farm.api.schema.WORK_STATES",
        "AgentStateEnum": "farm.api.schema.AGENT_STATES",
        "TaskReportStateEnum": "farm.api.serializers.jobs.TASK_REPORT_STATES",
        "JobChangeStateEnum": "farm.api.serializers.jobs.JOB_CHANGE_STATES",
    },
}

# A refused CSRF check answers JSON under the API, Django's page elsewhere.
CSRF_FAILURE_VIEW = "pyfarm_site.urls.csrf_failure"

# ---------------------------------------------------------------------------
# Accounts and sessions
# ---------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.FarmUserBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:jobs"
LOGOUT_REDIRECT_URL = "accounts:login"
SESSION_COOKIE_AGE = int(
    as_timedelta("cookie_duration", PYFARM["cookie_duration"]).total_seconds()
)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# ---------------------------------------------------------------------------
# Internationalization and static files
# ---------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage",
    },
}

# ---------------------------------------------------------------------------
# Email (notifications)
# ---------------------------------------------------------------------------

# Django's SMTP backend, from smtp_server, smtp_port (0: the default port,
# 25), smtp_login ([user, password] or nulls) and from_email. An empty
# smtp_server turns notifications off: nothing is queued (farm.services.
# notifications.mail_enabled), so the "localhost" below is never used then.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = PYFARM["smtp_server"] or "localhost"
EMAIL_PORT = PYFARM["smtp_port"] or 25
# Seconds before a mail server that does not answer counts as down (the
# sending task then retries later).
EMAIL_TIMEOUT = 30
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = (
    (value or "") for value in [*(PYFARM["smtp_login"] or []), None, None][:2]
)
DEFAULT_FROM_EMAIL = PYFARM["from_email"]
SERVER_EMAIL = PYFARM["from_email"]

# ---------------------------------------------------------------------------
# Celery (scheduler)
# ---------------------------------------------------------------------------

# The broker: by default kombu's filesystem transport, a directory shared by
# the processes of one machine (no server to run); Redis in production.
CELERY_BROKER_URL = PYFARM["scheduler_broker"]
CELERY_BROKER_TRANSPORT: str | None = None
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem:"):
    _BROKER_DIR = PYFARM["scheduler_broker_dir"]
    # kombu's transport, guarded: atomic writes, and files that cannot be read
    # are retried, then moved to the bad folder (pyfarm_site/broker.py).
    CELERY_BROKER_TRANSPORT = "pyfarm_site.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Producers write and consumers read the same folder (the folders are
        # created by pyfarm_site.celery).
        "data_folder_in": f"{_BROKER_DIR}/queue",
        "data_folder_out": f"{_BROKER_DIR}/queue",
        "control_folder": f"{_BROKER_DIR}/control",
        "bad_folder": f"{_BROKER_DIR}/bad",
        # The transport polls the folder; short tasks want a short wait.
        "polling_interval": 0.2,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Broker outages (scheduling/recovery.py) ---
# A Redis broker that hangs fails a call after a second or two, so that no
# request waits on it: a request's publish fails fast and is logged, and the
# worker's reconnection ticks once the broker is back. Its BRPOP connection
# is dropped when a reply is late by the health check interval, so the worker
# notices a frozen server too.
if CELERY_BROKER_URL.partition(":")[0].lower() in {"redis", "rediss"}:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": REDIS_TIMEOUT,
        "socket_timeout": REDIS_TIMEOUT,
        "health_check_interval": 2,
        # Connecting to publish: one more attempt, then give up.
        "max_retries": 1,
        "interval_start": 0.2,
        "interval_step": 0.2,
        "interval_max": 0.2,
        "connect_retries_timeout": 2 * REDIS_TIMEOUT,
    }
# A publish is tried twice before the error goes to the caller.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0.2,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT
# The worker and beat reconnect for as long as the broker is away, every few
# seconds (scheduling.recovery.Consumer), instead of giving up after 100 tries.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CONSUMER = "scheduling.recovery:Consumer"
# Tasks running when the connection is lost finish and are redelivered (they
# are idempotent); said explicitly, which also silences Celery's warning.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Tasks record their effects in the database: no result backend.
CELERY_TASK_IGNORE_RESULT = True
# Short, idempotent tasks: acknowledge after running (a worker that dies
# mid-task leaves it to another), and reserve one message at a time so that
# a long task does not hold back short ones queued behind it.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# Periodic tasks live in the database (scheduling/schedules.py,
# `manage.py setup_periodic_tasks`), never in CELERY_BEAT_SCHEDULE.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# ---------------------------------------------------------------------------
# Cache (shared by the master's processes)
# ---------------------------------------------------------------------------

# The broker's Redis server, or a folder beside the embedded broker's: the
# scheduler debounces its event-driven ticks across processes through it.
CACHES = {
    "default": cache_settings(
        PYFARM["scheduler_broker"], PYFARM["scheduler_broker_dir"]
    ),
}

# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------

# During an outage (database, broker), each kind of error is one line without
# a traceback, once a minute (pyfarm_site.outages.OutageLogFilter); the
# worker and beat put the same filter on Celery's handlers.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {
        "outages": {"()": "pyfarm_site.outages.shared_log_filter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["outages"],
        },
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {
            "level": "DEBUG" if PYFARM["echo_sql"] else "INFO",
        },
        "scheduling": {"level": "DEBUG" if PYFARM["debug_queue"] else "INFO"},
    },
}
