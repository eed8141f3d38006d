"""Safe to deploy: debug off, our own error pages, HTTPS and host name keys."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from pyfarm_site.config import (
    BASE_DIR,
    as_host_names,
    as_non_negative,
    as_proxy_ssl_header,
    load_config,
)

#: The keys "Deploying in production" (README) tells operators to set.
PRODUCTION_ENVIRONMENT = {
    "PYFARM_SECRET_KEY": secrets.token_urlsafe(50),
    "PYFARM_ALLOWED_HOSTS": "farm.example.com,10.0.0.5",
    "PYFARM_SSL_REDIRECT": "true",
    "PYFARM_HSTS_SECONDS": "31536000",
    "PYFARM_HSTS_INCLUDE_SUBDOMAINS": "true",
    "PYFARM_HSTS_PRELOAD": "true",
    "PYFARM_SECURE_COOKIES": "true",
    "PYFARM_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "PYFARM_AGENT_NETWORKS": "10.20.0.0/16",
}

#: drf-spectacular's schema warnings (drf_spectacular.W001/W002) are the
#: schema's business (another part of issue #8), not deployment settings.
SCHEMA_CHECKS = re.compile(r"^drf_spectacular\.")


def _check_deploy(**environ: str) -> tuple[set[str], str]:
    """Run ``manage.py check --deploy``: the ids of its messages, and its output."""
    env = {**os.environ, **environ}
    for name in ("DJANGO_SETTINGS_MODULE", "PYFARM_CONFIG", "PYFARM_DEBUG"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    ids = set(re.findall(r"^\?: \(([\w.]+)\)", output, re.MULTILINE))
    return {i for i in ids if not SCHEMA_CHECKS.match(i)}, output


# --- Defaults ---------------------------------------------------------------------


def test_debug_is_off_unless_asked_for() -> None:
    assert load_config(environ={})["debug"] is False
    assert load_config(environ={"PYFARM_DEBUG": "true"})["debug"] is True


@pytest.mark.django_db
def test_an_unknown_page_answers_our_own_404_page(client: Client) -> None:
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "<h1>Page not found</h1>" in page
    assert "There is no page at <code>/no/such/page/</code>." in page
    assert "farm/css/base.css" in page


@pytest.mark.django_db
def test_unknown_api_urls_still_answer_json(client: Client) -> None:
    response = client.get("/api/v1/no/such/thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_a_failing_page_answers_our_own_500_page() -> None:
    from pyfarm_site.urls import handler500

    response = handler500(RequestFactory().get("/admin/farm/job/"))

    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Server error</h1>" in page
    assert "Traceback" not in page


# --- HTTPS and host names ---------------------------------------------------------


def test_the_https_keys_come_from_the_environment() -> None:
    config = load_config(environ=PRODUCTION_ENVIRONMENT)

    assert config["allowed_hosts"] == ["farm.example.com", "10.0.0.5"]
    assert config["ssl_redirect"] is True
    assert config["hsts_seconds"] == 31536000
    assert config["hsts_include_subdomains"] is True
    assert config["hsts_preload"] is True
    assert config["secure_cookies"] is True
    assert config["proxy_ssl_header"] == "X-Forwarded-Proto"


def test_https_is_off_and_any_host_accepted_by_default() -> None:
    config = load_config(environ={})

    assert config["allowed_hosts"] == ["*"]
    assert not any(
        config[key]
        for key in (
            "ssl_redirect",
            "hsts_seconds",
            "hsts_include_subdomains",
            "hsts_preload",
            "secure_cookies",
            "proxy_ssl_header",
        )
    )


def test_the_proxy_header_becomes_the_header_django_reads() -> None:
    assert as_proxy_ssl_header("k", "X-Forwarded-Proto") == (
        "HTTP_X_FORWARDED_PROTO",
        "https",
    )
    assert as_proxy_ssl_header("k", None) is None
    assert as_proxy_ssl_header("k", "") is None


@pytest.mark.parametrize("value", ["X-Forwarded-Proto: https", "X_Proto", 7])
def test_a_proxy_header_that_is_no_header_name_is_refused(value: object) -> None:
    with pytest.raises(ImproperlyConfigured, match="proxy_ssl_header"):
        as_proxy_ssl_header("proxy_ssl_header", value)


def test_negative_hsts_seconds_are_refused() -> None:
    assert as_non_negative("hsts_seconds", 0) == 0
    with pytest.raises(ImproperlyConfigured, match="hsts_seconds: -1 is negative"):
        as_non_negative("hsts_seconds", -1)


@pytest.mark.parametrize("value", [[], [""], ["farm", " "]])
def test_allowed_hosts_must_name_a_host(value: list[str]) -> None:
    with pytest.raises(ImproperlyConfigured, match="allowed_hosts"):
        as_host_names("allowed_hosts", value)


def _deploy_warnings() -> set[str]:
    from farm.checks import check_production_settings

    return {str(message.id) for message in check_production_settings()}


def test_the_shipped_agent_networks_are_a_deploy_warning(farm_config) -> None:
    farm_config(agent_networks=load_config(environ={})["agent_networks"])

    assert "farm.W005" in _deploy_warnings()


def test_agent_networks_narrowed_to_the_render_nodes_pass(farm_config) -> None:
    farm_config(agent_networks=["10.20.0.0/16", "192.168.7.0/24", "127.0.0.0/8"])

    assert "farm.W005" not in _deploy_warnings()


def test_agent_networks_wider_than_a_private_range_name_it(farm_config) -> None:
    from farm.checks import broad_agent_networks

    farm_config(agent_networks=["0.0.0.0/0"])

    assert broad_agent_networks() == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


@pytest.mark.slow
def test_check_deploy_is_clean_with_the_production_keys() -> None:
    ids, output = _check_deploy(**PRODUCTION_ENVIRONMENT)

    assert ids == set(), output


@pytest.mark.slow
def test_check_deploy_names_each_production_key_left_unset() -> None:
    ids, output = _check_deploy()

    assert {
        "security.W004",  # hsts_seconds
        "security.W008",  # ssl_redirect
        "security.W012",  # secure_cookies (session)
        "security.W016",  # secure_cookies (CSRF)
        "security.W009",  # secret_key, too short
        "farm.W001",  # secret_key, the shipped one
        "farm.W004",  # allowed_hosts
        "farm.W005",  # agent_networks, all private ranges
    } <= ids, output
    # Debug is off by default.
    assert "security.W018" not in ids
