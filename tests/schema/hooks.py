"""Schemathesis hooks of `make fuzz`: request bodies it cannot make by itself.

Agent update uploads (``PUT agents/updates/<version>``) are zip files: half
of the generated bodies are small valid archives, the others random bytes.
"""

from __future__ import annotations

import io
import zipfile

import schemathesis
from hypothesis import strategies as st


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


_NAMES = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N"]),
    min_size=1,
    max_size=12,
)
ZIP_FILES = st.one_of(
    st.dictionaries(_NAMES, st.binary(max_size=64), min_size=1, max_size=3).map(
        _archive
    ),
    st.binary(max_size=256),
)

schemathesis.openapi.media_type("application/zip", ZIP_FILES)
