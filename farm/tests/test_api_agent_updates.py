"""Agent update packages: upload (admins) and download (R17, the agent)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/agents/updates/"


def _zip(text: str = "print('hello')\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pyfarm/agent/__init__.py", text)
    return buffer.getvalue()


PACKAGE = _zip()


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return body["error"]


def _content(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def updates_dir(tmp_path: Path, farm_config: Any) -> Path:
    """``agent_updates_dir`` below pytest's tmp_path; not created yet."""
    directory = tmp_path / "updates"
    farm_config(agent_updates_dir=str(directory), agent_updates_webdir=None)
    return directory


@pytest.fixture
def downloader() -> APIClient:
    """The agent's download (R17): an agent network, no User-Agent at all."""
    return APIClient(REMOTE_ADDR="10.20.30.40")


def _upload(client: Any, version: str, data: bytes = PACKAGE, **extra: Any) -> Any:
    extra.setdefault("content_type", "application/zip")
    return client.put(f"{ENDPOINT}{version}", data=data, **extra)


# --- PUT ---------------------------------------------------------------------


def test_upload_of_a_new_version_answers_201(admin_api_client, updates_dir) -> None:
    response = _upload(admin_api_client, "1.2.3")
    assert response.status_code == 201
    assert response.json() == {
        "version": "1.2.3",
        "filename": "pyfarm-agent-1.2.3.zip",
    }


def test_upload_stores_the_package_under_its_documented_name(
    admin_api_client, updates_dir
) -> None:
    _upload(admin_api_client, "1.2.3")
    assert (updates_dir / "pyfarm-agent-1.2.3.zip").read_bytes() == PACKAGE
    assert [path.name for path in updates_dir.iterdir()] == ["pyfarm-agent-1.2.3.zip"]


def test_upload_of_a_known_version_replaces_it_with_200(
    admin_api_client, updates_dir
) -> None:
    _upload(admin_api_client, "1.2.3")
    newer = _zip("print('newer')\n")
    response = _upload(admin_api_client, "1.2.3", newer)
    assert response.status_code == 200
    assert (updates_dir / "pyfarm-agent-1.2.3.zip").read_bytes() == newer


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "application/x-zip-compressed"]
)
def test_upload_accepts_any_content_type(
    admin_api_client, updates_dir, content_type
) -> None:
    response = _upload(admin_api_client, "1.2.3", content_type=content_type)
    assert response.status_code == 201


def test_upload_refuses_what_is_not_a_zip_file(admin_api_client, updates_dir) -> None:
    response = _upload(admin_api_client, "1.2.3", b"#!/bin/sh\nrm -rf /\n")
    assert response.status_code == 400
    assert "zip" in _error(response)
    assert not (updates_dir / "pyfarm-agent-1.2.3.zip").exists()


def test_upload_refuses_an_empty_body(admin_api_client, updates_dir) -> None:
    response = _upload(admin_api_client, "1.2.3", b"")
    assert response.status_code == 400
    assert "zip" in _error(response)


def test_upload_refuses_packages_over_max_upload_size(
    admin_api_client, updates_dir, farm_config
) -> None:
    farm_config(max_upload_size=len(PACKAGE) - 1)
    response = _upload(admin_api_client, "1.2.3")
    assert response.status_code == 413
    assert str(len(PACKAGE) - 1) in _error(response)
    assert not updates_dir.exists()


@pytest.mark.parametrize(
    "version", ["..", "..%2F..%2Fetc", "1.2%2F3", "1.2%5C3", "a..b", ".hidden", "1 2"]
)
def test_upload_refuses_versions_unfit_for_a_file_name(
    admin_api_client, updates_dir, version
) -> None:
    response = _upload(admin_api_client, version)
    assert response.status_code == 400
    assert "version" in _error(response)
    assert not updates_dir.exists()


def test_upload_refuses_a_version_with_a_raw_slash(
    admin_api_client, updates_dir
) -> None:
    response = _upload(admin_api_client, "../../etc")
    assert response.status_code == 400
    assert not updates_dir.exists()


def test_upload_is_for_admins_only(api_client, updates_dir) -> None:
    response = _upload(api_client, "1.2.3")
    assert response.status_code == 403
    assert _error(response)
    assert not updates_dir.exists()


def test_upload_is_not_open_to_agent_networks(downloader, updates_dir) -> None:
    response = _upload(downloader, "1.2.3")
    assert response.status_code == 401
    assert not updates_dir.exists()


# --- GET (R17) ---------------------------------------------------------------


def test_agent_downloads_the_package(admin_api_client, downloader, updates_dir) -> None:
    _upload(admin_api_client, "1.2.3")
    response = downloader.get(f"{ENDPOINT}1.2.3")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert _content(response) == PACKAGE


def test_download_of_an_unknown_version_is_a_json_404(downloader, updates_dir) -> None:
    response = downloader.get(f"{ENDPOINT}99.0.0")
    assert response.status_code == 404
    assert "99.0.0" in _error(response)


def test_download_redirects_to_the_webdir_when_one_is_set(
    downloader, updates_dir, farm_config
) -> None:
    farm_config(agent_updates_webdir="https://downloads.example.com/pyfarm/")
    response = downloader.get(f"{ENDPOINT}1.2.3")
    assert response.status_code == 301
    assert (
        response["Location"]
        == "https://downloads.example.com/pyfarm/pyfarm-agent-1.2.3.zip"
    )


@pytest.mark.parametrize("version", ["..", "..%2Fsecret", "a..b"])
def test_download_refuses_versions_unfit_for_a_file_name(
    downloader, updates_dir, version
) -> None:
    response = downloader.get(f"{ENDPOINT}{version}")
    assert response.status_code == 400
    assert "version" in _error(response)


def test_download_needs_an_agent_network_or_a_user(
    anonymous_client, updates_dir
) -> None:
    response = anonymous_client.get(f"{ENDPOINT}1.2.3")
    assert response.status_code == 401
    assert _error(response)


def test_users_may_download_packages(admin_api_client, api_client, updates_dir) -> None:
    _upload(admin_api_client, "1.2.3")
    assert api_client.get(f"{ENDPOINT}1.2.3").status_code == 200
